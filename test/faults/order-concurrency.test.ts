/**
 * Concurrency on one product's stock, through the REST API and DynamoDB Local: however many
 * requests race, stock is sold at most once and returned at most once. A sampler reads the stored
 * stock throughout the race to catch a value outside [0, initial] at any moment.
 */
import { tenantId } from '../api/api-fixtures';
import { readJson, startFaultApi, type FaultApi } from './fault-fixtures';

let api: FaultApi;
beforeAll(async () => {
  api = await startFaultApi('race');
});
afterAll(() => api.close());

async function productWithStock(tenant: string, token: string, id: string, stock: number) {
  expect(
    (await api.call('POST', '/api/products', { token, body: { id, name: `Product ${id}`, price: 1500, category: 'misc' } })).status,
  ).toBe(201);
  expect(
    (await api.call('POST', `/api/products/${id}/stock-adjustments`, { token, body: { delta: stock, reason: 'restock' } })).status,
  ).toBe(200);
  expect((await api.truth.getStock(tenant, id))?.stock).toBe(stock);
}

/** Reads the stored stock in a loop until stopped; returns every value seen. */
function sampleStock(tenant: string, id: string): { stop: () => Promise<number[]> } {
  const seen: number[] = [];
  let running = true;
  const loop = (async () => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() sets it to false
    while (running) {
      const level = await api.truth.getStock(tenant, id);
      if (level) seen.push(level.stock);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return seen;
    },
  };
}

function tally(statuses: number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
}

describe('orders racing for the last items', () => {
  it('50 concurrent orders for a stock of 10: exactly 10 succeed (201), 40 are 409, stock ends at 0 and is never negative; concurrent cancels return it exactly once', async () => {
    const tenant = tenantId('race');
    const token = await api.token(tenant);
    await productWithStock(tenant, token, 'hot', 10);

    const sampler = sampleStock(tenant, 'hot');
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => api.call('POST', '/api/orders', { token, body: { lines: [{ productId: 'hot', quantity: 1 }] } })),
    );
    const bodies = await Promise.all(responses.map(readJson));
    const seenDuringOrders = await sampler.stop();

    expect(tally(responses.map((r) => r.status))).toEqual({ 201: 10, 409: 40 });
    for (const [i, r] of responses.entries()) {
      if (r.status === 409) expect(bodies[i]).toEqual({ error: { code: 'CONFLICT', message: expect.any(String) } });
    }
    expect((await api.truth.getStock(tenant, 'hot'))?.stock).toBe(0);
    expect(seenDuringOrders.length).toBeGreaterThan(0);
    expect(seenDuringOrders.filter((s) => s < 0 || s > 10)).toEqual([]);
    const orderIds = bodies.filter((_b, i) => responses[i]?.status === 201).map((b) => b.data.id as string);
    const stored = await api.ordersOf(tenant);
    expect(stored.map((o) => o.id).sort()).toEqual([...orderIds].sort());

    // Every order cancelled 5 times at once, all 50 cancels together.
    const cancelSampler = sampleStock(tenant, 'hot');
    const cancels = await Promise.all(
      orderIds.flatMap((id) =>
        Array.from({ length: 5 }, () =>
          api
            .call('PATCH', `/api/orders/${id}`, { token, body: { status: 'cancelled' } })
            .then(async (r) => ({ id, status: r.status, body: await readJson(r) })),
        ),
      ),
    );
    const seenDuringCancels = await cancelSampler.stop();
    expect(cancels.filter((c) => c.status !== 200 && c.status !== 409)).toEqual([]);
    for (const id of orderIds)
      expect(cancels.some((c) => c.id === id && c.status === 200 && c.body.data.status === 'cancelled')).toBe(true);
    expect((await api.truth.getStock(tenant, 'hot'))?.stock).toBe(10);
    expect(seenDuringCancels.filter((s) => s < 0 || s > 10)).toEqual([]);
    for (const id of orderIds) expect((await api.truth.getOrder(tenant, id))?.status).toBe('cancelled');

    // Cancelling again changes nothing.
    const again = await Promise.all(orderIds.map((id) => api.call('PATCH', `/api/orders/${id}`, { token, body: { status: 'cancelled' } })));
    expect(again.map((r) => r.status)).toEqual(orderIds.map(() => 200));
    expect((await api.truth.getStock(tenant, 'hot'))?.stock).toBe(10);
  });

  it('orders and stock adjustments racing on a stock of 15: 15 units go, in total, and stock ends at 0', async () => {
    const tenant = tenantId('race');
    const token = await api.token(tenant);
    await productWithStock(tenant, token, 'mixed', 15);
    const sampler = sampleStock(tenant, 'mixed');
    const requests = Array.from({ length: 40 }, (_, i) =>
      i % 2 === 0
        ? api.call('POST', '/api/orders', { token, body: { lines: [{ productId: 'mixed', quantity: 1 }] } })
        : api.call('POST', '/api/products/mixed/stock-adjustments', { token, body: { delta: -1, reason: 'breakage' } }),
    );
    const statuses = (await Promise.all(requests)).map((r) => r.status);
    const seen = await sampler.stop();
    const succeeded = statuses.filter((s) => s === 200 || s === 201).length;
    expect(statuses.filter((s) => ![200, 201, 409].includes(s))).toEqual([]);
    expect(succeeded).toBe(15);
    expect((await api.truth.getStock(tenant, 'mixed'))?.stock).toBe(0);
    expect(seen.filter((s) => s < 0 || s > 15)).toEqual([]);
    expect((await api.ordersOf(tenant)).length).toBe(statuses.filter((s, i) => i % 2 === 0 && s === 201).length);
  });

  it('an order for several products races with orders for each: every order is all or nothing', async () => {
    const tenant = tenantId('race');
    const token = await api.token(tenant);
    await productWithStock(tenant, token, 'a', 5);
    await productWithStock(tenant, token, 'b', 5);
    const requests = Array.from({ length: 30 }, (_, i) => {
      const lines =
        i % 3 === 0
          ? [
              { productId: 'a', quantity: 1 },
              { productId: 'b', quantity: 1 },
            ]
          : [{ productId: i % 3 === 1 ? 'a' : 'b', quantity: 1 }];
      return api
        .call('POST', '/api/orders', { token, body: { lines } })
        .then(async (r) => ({ status: r.status, lines, body: await readJson(r) }));
    });
    const results = await Promise.all(requests);
    expect(results.filter((r) => r.status !== 201 && r.status !== 409)).toEqual([]);
    const sold = { a: 0, b: 0 };
    for (const r of results.filter((x) => x.status === 201)) for (const l of r.lines) sold[l.productId as 'a' | 'b'] += l.quantity;
    const [a, b] = await Promise.all([api.truth.getStock(tenant, 'a'), api.truth.getStock(tenant, 'b')]);
    expect({ a: a?.stock, b: b?.stock }).toEqual({ a: 5 - sold.a, b: 5 - sold.b });
    expect(a?.stock).toBeGreaterThanOrEqual(0);
    expect(b?.stock).toBeGreaterThanOrEqual(0);
    // Stored orders are exactly the 201s, each with the lines it was asked for.
    const stored = await api.ordersOf(tenant);
    expect(stored.length).toBe(results.filter((r) => r.status === 201).length);
  });
});
