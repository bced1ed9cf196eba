/**
 * Dashboard figures derived exactly, property-based (fast-check): random sequences of product
 * creates (a deleted id's among them: a restore), stock adjustments, orders, status changes
 * (cancels among them), deletes and listing changes, some of them at once, through the real
 * repository on DynamoDB Local; the low-stock count is kept by the real stream consumer (FanOut,
 * fed by the stream poller with the deployed retry settings). After each sequence, once the
 * consumer has handled every change of it, every figure equals the one recomputed from the data:
 * the orders of the day (cancelled ones apart) and the live stock items at or below their
 * threshold.
 *
 * FC_SEED=<n> replays a failing run; FC_RUNS=<n> scales the number of runs; FC_SHRINK=1 shrinks a
 * failure (slow: every run waits for the stream).
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import type { DashboardFigures, OrderStatus } from '../../functions/catalog/model';
import { HttpError } from '../../functions/shared/errors';
import { shopKeys } from '../../functions/shared/tables';
import { startStreamConsumer, type StreamConsumer } from './stream-consumer';
import { tenantId } from './realtime-fixtures';

const RUNS = Number(process.env.FC_RUNS ?? 20);
const PRODUCTS = 5;

let consumer: StreamConsumer;
beforeAll(async () => {
  consumer = await startStreamConsumer('dash');
});
afterAll(() => consumer.stop());

type Op =
  | { readonly kind: 'create'; readonly product: number; readonly price: number; readonly threshold: number; readonly listed: boolean }
  | { readonly kind: 'adjust'; readonly product: number; readonly delta: number }
  | { readonly kind: 'order'; readonly lines: readonly { readonly product: number; readonly quantity: number }[] }
  | { readonly kind: 'status'; readonly order: number; readonly status: OrderStatus }
  | { readonly kind: 'delete'; readonly product: number }
  | { readonly kind: 'list'; readonly product: number; readonly listed: boolean };

const product = fc.integer({ min: 0, max: PRODUCTS - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('create' as const),
      product,
      price: fc.integer({ min: 0, max: 100_000 }),
      threshold: fc.constantFrom(0, 2, 5),
      listed: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('adjust' as const),
      product,
      delta: fc.integer({ min: -6, max: 10 }).filter((d) => d !== 0),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('order' as const),
      lines: fc.array(fc.record({ product, quantity: fc.integer({ min: 1, max: 3 }) }), { minLength: 1, maxLength: 3 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('status' as const),
      order: fc.nat(),
      status: fc.constantFrom<OrderStatus>('cancelled', 'cancelled', 'paid', 'packed', 'shipped', 'delivered'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), product }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('list' as const), product, listed: fc.boolean() }) },
);
/** A catalogue to start from (each product's threshold and stock), then steps of one to three operations run at once (as concurrent requests would be). */
const scenario = fc.record({
  catalogue: fc.array(fc.record({ threshold: fc.constantFrom(0, 2, 5), stock: fc.integer({ min: 0, max: 12 }) }), {
    minLength: PRODUCTS,
    maxLength: PRODUCTS,
  }),
  steps: fc.array(fc.array(op, { minLength: 1, maxLength: 3 }), { minLength: 4, maxLength: 16 }),
});

const id = (n: number) => `p${n}`;

async function apply(tenant: string, operation: Op, orders: string[]): Promise<void> {
  switch (operation.kind) {
    case 'create':
      await consumer.repo.createProduct(
        tenant,
        {
          id: id(operation.product),
          name: `Product ${operation.product}`,
          description: '',
          price: operation.price,
          currency: 'EUR',
          category: 'c',
          listed: operation.listed,
        },
        operation.threshold,
      );
      return;
    case 'adjust':
      await consumer.repo.adjustStock(tenant, id(operation.product), operation.delta);
      return;
    case 'order': {
      const placed = await consumer.repo.createOrder(
        tenant,
        'buyer',
        `o-${orders.length}-${Math.random().toString(36).slice(2, 8)}`,
        operation.lines.map((l) => ({ productId: id(l.product), quantity: l.quantity })),
      );
      orders.push(placed.id);
      return;
    }
    case 'status': {
      const orderId = orders[operation.order % Math.max(1, orders.length)];
      if (orderId) await consumer.repo.updateOrderStatus(tenant, orderId, operation.status);
      return;
    }
    case 'delete':
      await consumer.repo.deleteProduct(tenant, id(operation.product));
      return;
    case 'list':
      await consumer.repo.updateProduct(tenant, id(operation.product), { listed: operation.listed });
      return;
  }
}

/** The figures as the data says they are: the day's orders, and live stock at or below its threshold. */
async function recomputed(tenant: string, day: string): Promise<Omit<DashboardFigures, 'day'> & { storedLowStockCount: number }> {
  const items: Record<string, any>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await consumer.db.send(
      new QueryCommand({
        TableName: consumer.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': shopKeys.tenant(tenant) },
        ConsistentRead: true,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  const ofDay = items.filter((i) => i.entity === 'order' && String(i.createdAt).slice(0, 10) === day);
  const kept = ofDay.filter((o) => o.status !== 'cancelled');
  const current = items.find((i) => i.sk === shopKeys.metrics('current'));
  return {
    ordersToday: ofDay.length,
    revenueToday: kept.reduce((sum, o) => sum + Number(o.total), 0),
    cancelledToday: ofDay.length - kept.length,
    lowStockCount: items.filter((i) => i.entity === 'stock' && !i.deletedAt && Number(i.stock) <= Number(i.lowStockThreshold)).length,
    // The count as stored, before getDashboard's floor at 0 (which would hide a count gone below).
    storedLowStockCount: typeof current?.lowStockCount === 'number' ? current.lowStockCount : 0,
  };
}

it('every dashboard figure equals the one recomputed from the data, after any sequence of changes', async () => {
  let runs = 0;
  let applied = 0;
  let refused = 0;
  const started = Date.now();
  await fc.assert(
    fc.asyncProperty(scenario, async ({ catalogue, steps }) => {
      runs++;
      const tenant = tenantId('dash');
      const orders: string[] = [];
      for (const [n, { threshold, stock }] of catalogue.entries()) {
        await apply(tenant, { kind: 'create', product: n, price: 100 * (n + 1), threshold, listed: n % 2 === 0 }, orders);
        if (stock > 0) await apply(tenant, { kind: 'adjust', product: n, delta: stock }, orders);
      }
      for (const step of steps) {
        await Promise.all(
          step.map((operation) =>
            apply(tenant, operation, orders).then(
              () => {
                applied++;
              },
              (error: unknown) => {
                // Refusals of the contract (no such product, not enough stock, a step that may not
                // follow, a concurrent change) are outcomes; anything else fails the property.
                if (!(error instanceof HttpError) || error.statusCode >= 500) throw error;
                refused++;
              },
            ),
          ),
        );
      }
      await consumer.settled(tenant);
      const figures = await consumer.repo.getDashboard(tenant);
      const { storedLowStockCount, ...derived } = await recomputed(tenant, figures.day);
      expect(consumer.givenUp).toEqual([]);
      expect({ ...figures, storedLowStockCount }).toEqual({ day: figures.day, ...derived, storedLowStockCount: derived.lowStockCount });
    }),
    {
      numRuns: Math.max(1, RUNS),
      endOnFailure: process.env.FC_SHRINK !== '1',
      ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
    },
  );
  console.log(`${runs} runs, ${applied} operations applied and ${refused} refused, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}, 120_000);
