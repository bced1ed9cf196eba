/**
 * Money and stock stay safe integers within documented limits (docs/contract.md, "Amounts and
 * limits"): an order's total at most 10^12 minor units, at most 10,000 of one product in an order,
 * stock adjustments up to 10^9, and the day's revenue never wrapping or reading as 0.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { MAX_ORDER_TOTAL, MAX_PRICE, MAX_STOCK } from '../../functions/catalog/model';
import { today } from '../../functions/catalog/dynamodb/items';
import { shopKeys } from '../../functions/shared/tables';
import { testDocumentClient, testDynamoDbClient } from '../support';
import { json, startApi, tenantId, type Api } from './api-fixtures';

let api: Api;
const db = testDocumentClient();
const raw = testDynamoDbClient();
let tableName: string;

beforeAll(async () => {
  api = await startApi();
  tableName = process.env.SHOP_TABLE_NAME as string;
});
afterAll(async () => {
  await api.close();
  db.destroy();
  raw.destroy();
});

async function product(tenant: string, id: string, price: number, stock: number): Promise<void> {
  const token = await api.token(tenant);
  const created = await api.call('POST', '/api/products', { token, body: { id, name: id, price, category: 'money' } });
  expect(created.status).toBe(201);
  for (let left = stock; left > 0; left -= 1_000_000) {
    const delta = Math.min(left, 1_000_000);
    expect((await api.call('POST', `/api/products/${id}/stock-adjustments`, { token, body: { delta, reason: 'in' } })).status).toBe(200);
  }
}

async function order(tenant: string, lines: { productId: string; quantity: number }[]): Promise<{ status: number; body: any }> {
  const response = await api.call('POST', '/api/orders', { token: await api.token(tenant), body: { lines } });
  return { status: response.status, body: await json(response) };
}

async function stockOf(tenant: string, id: string): Promise<number> {
  return (await json(await api.call('GET', `/api/products/${id}/stock`, { token: await api.token(tenant) }))).data.stock;
}

/** A test that reads "today's" figures should not straddle midnight UTC. */
async function awayFromMidnight(): Promise<void> {
  const msToMidnight = 86_400_000 - (Date.now() % 86_400_000);
  if (msToMidnight < 15_000) await new Promise((r) => setTimeout(r, msToMidnight + 1000));
}

describe('order totals', () => {
  it('an order above 10^12 minor units is 400 BAD_REQUEST and writes nothing; one at the cap is placed', async () => {
    const tenant = tenantId('cap');
    await product(tenant, 'gold', MAX_PRICE, 100);
    const over = await order(tenant, [{ productId: 'gold', quantity: 11 }]); // 1.1 × 10^12
    expect(over.status).toBe(400);
    expect(over.body).toEqual({ error: { code: 'BAD_REQUEST', message: expect.stringContaining(String(MAX_ORDER_TOTAL)) } });
    expect(await stockOf(tenant, 'gold')).toBe(100);
    expect((await api.repo.getDashboard(tenant)).ordersToday).toBe(0);

    const at = await order(tenant, [{ productId: 'gold', quantity: 10 }]);
    expect(at.status).toBe(201);
    expect(at.body.data.total).toBe(MAX_ORDER_TOTAL);
    expect(await stockOf(tenant, 'gold')).toBe(90);
  });

  it('an order whose total would pass 2^53 is 400, not a server error', async () => {
    const tenant = tenantId('huge');
    const ids = Array.from({ length: 10 }, (_, i) => `bar-${i}`);
    for (const id of ids) await product(tenant, id, MAX_PRICE, 10_000);
    // 10 lines of 10,000 at 10^11: 10^16 > Number.MAX_SAFE_INTEGER.
    const huge = await order(
      tenant,
      ids.map((productId) => ({ productId, quantity: 10_000 })),
    );
    expect(huge.status).toBe(400);
    expect(huge.body.error.code).toBe('BAD_REQUEST');
    for (const id of ids) expect(await stockOf(tenant, id)).toBe(10_000);
    expect((await api.repo.getDashboard(tenant)).ordersToday).toBe(0);
  });

  it('lines of one product add up to at most 10,000 units', async () => {
    const tenant = tenantId('merge');
    await product(tenant, 'bolt', 1, 30_000);
    const twice = await order(tenant, [
      { productId: 'bolt', quantity: 6_000 },
      { productId: 'bolt', quantity: 6_000 },
    ]);
    expect(twice.status).toBe(400);
    expect(twice.body.error.code).toBe('BAD_REQUEST');
    expect(await stockOf(tenant, 'bolt')).toBe(30_000);
    const split = await order(tenant, [
      { productId: 'bolt', quantity: 4_000 },
      { productId: 'bolt', quantity: 6_000 },
    ]);
    expect(split.status).toBe(201);
    expect(split.body.data.lines).toEqual([{ productId: 'bolt', quantity: 10_000, unitPrice: 1 }]);
  });
});

describe('stock', () => {
  it('an adjustment cannot take stock above 10^9 (409, unchanged); taking stock out still works', async () => {
    const tenant = tenantId('stock');
    await product(tenant, 'grain', 1, 0);
    // Near the limit without a thousand adjustments: the stock item as adjustments would have left it.
    await db.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: shopKeys.tenant(tenant), sk: shopKeys.stock('grain') },
        UpdateExpression: 'SET stock = :s',
        ExpressionAttributeValues: { ':s': MAX_STOCK - 10 },
      }),
    );
    const token = await api.token(tenant);
    const adjust = async (delta: number) => {
      const response = await api.call('POST', '/api/products/grain/stock-adjustments', { token, body: { delta, reason: 'test' } });
      return { status: response.status, body: await json(response) };
    };
    expect(await adjust(10)).toMatchObject({ status: 200, body: { data: { stock: MAX_STOCK } } });
    const over = await adjust(1);
    expect(over.status).toBe(409);
    expect(over.body).toEqual({ error: { code: 'CONFLICT', message: expect.stringContaining(String(MAX_STOCK)) } });
    expect(await stockOf(tenant, 'grain')).toBe(MAX_STOCK);
    expect(await adjust(-1)).toMatchObject({ status: 200, body: { data: { stock: MAX_STOCK - 1 } } });
  });
});

describe("the day's revenue", () => {
  it('past 2^53 - 1 reads as 2^53 - 1 (never 0); the table keeps the exact sum, and a cancellation brings it back', async () => {
    await awayFromMidnight();
    const tenant = tenantId('rev');
    await product(tenant, 'coin', 100, 10);
    const day = today();
    const key = { pk: shopKeys.tenant(tenant), sk: shopKeys.metrics(day) };
    // A day whose revenue is 50 below the largest safe integer (some 9,000 orders at the cap).
    await db.send(
      new UpdateCommand({
        TableName: tableName,
        Key: key,
        UpdateExpression: 'SET entity = :m, tenantId = :t, #day = :day, revenueToday = :r, ordersToday = :n',
        ExpressionAttributeNames: { '#day': 'day' },
        ExpressionAttributeValues: { ':m': 'metrics', ':t': tenant, ':day': day, ':r': Number.MAX_SAFE_INTEGER - 50, ':n': 9008 },
      }),
    );
    const placed = await order(tenant, [{ productId: 'coin', quantity: 1 }]);
    expect(placed.status).toBe(201);

    const figures = await api.repo.getDashboard(tenant);
    expect(figures).toMatchObject({ day, ordersToday: 9009, revenueToday: Number.MAX_SAFE_INTEGER });
    const stored = await raw.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: key.pk }, sk: { S: key.sk } } }));
    expect(stored.Item?.revenueToday?.N).toBe((BigInt(Number.MAX_SAFE_INTEGER) + 50n).toString());

    const cancelled = await api.call('PATCH', `/api/orders/${placed.body.data.id}`, {
      token: await api.token(tenant),
      body: { status: 'cancelled' },
    });
    expect(cancelled.status).toBe(200);
    expect((await api.repo.getDashboard(tenant)).revenueToday).toBe(Number.MAX_SAFE_INTEGER - 50);
  });
});
