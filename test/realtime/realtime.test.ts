import type { StackUnderTest } from '../support/stack-under-test';
import { DynamoConnectionStore } from '../../functions/realtime/connection-store';
import { messageOrder } from '../../functions/realtime/message-order';
import { testDocumentClient } from '../support';
import { openSocket, rest, startStack, subscribe, tenantId, mint, token, type Received } from './realtime-fixtures';

let stack: StackUnderTest;
const clients: Received[] = [];

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stack.stop();
});

async function client(tenant: string, permissions?: string[]): Promise<Received> {
  const c = await openSocket(stack, await token(tenant, permissions));
  clients.push(c);
  return c;
}

async function product(tenant: string, id: string, stock: number) {
  const bearer = await token(tenant);
  expect((await rest(stack, 'POST', '/api/products', bearer, { id, name: `Product ${id}`, price: 500, category: 'demo' })).status).toBe(
    201,
  );
  if (stock)
    expect((await rest(stack, 'POST', `/api/products/${id}/stock-adjustments`, bearer, { delta: stock, reason: 'seed' })).status).toBe(200);
}

const stockUpdate = (productId: string, stock: number) => (m: Record<string, any>) =>
  m.type === 'stock:update' && m.productId === productId && m.stock === stock;

describe('subscriptions', () => {
  it('answers a subscribe with a snapshot of the current stock and its version', async () => {
    const tenant = tenantId();
    await product(tenant, 'snap', 7);
    const c = await client(tenant);
    const reply = await subscribe(c, 'product:snap');
    expect(reply).toMatchObject({
      type: 'subscribed',
      channel: 'product:snap',
      snapshot: { productId: 'snap', stock: 7, availability: 'in_stock', version: 2, product: { id: 'snap' } },
    });
  });

  it("refuses another tenant's product and order with FORBIDDEN, exactly like a missing one", async () => {
    const owner = tenantId('own');
    await product(owner, 'mine', 1);
    const intruder = await client(tenantId('int'));
    const foreign = await subscribe(intruder, 'product:mine');
    const missing = await subscribe(intruder, 'product:nothing-here');
    expect(foreign).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(missing.code).toBe(foreign.code);
    expect(missing.message.replace('nothing-here', 'X')).toBe(foreign.message.replace('mine', 'X'));
  });

  it('checks the permission of each channel, and refuses malformed channels', async () => {
    const tenant = tenantId();
    const c = await client(tenant, ['products:read']);
    expect(await subscribe(c, 'dashboard')).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    for (const bad of ['product:{x}', 'product:a:b', 'nonsense', 'order:' + 'x'.repeat(65)]) {
      expect(await subscribe(c, bad)).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    }
  });

  it('answers ping with pong, unknown actions via $default, and unsubscribes', async () => {
    const c = await client(tenantId());
    c.send({ action: 'ping' });
    await c.next((m) => m.type === 'pong');
    c.send({ action: 'dance' });
    await c.next((m) => m.type === 'error' && m.code === 'BAD_REQUEST');
    c.send({ action: 'unsubscribe', channel: 'dashboard' });
    await c.next((m) => m.type === 'unsubscribed' && m.channel === 'dashboard');
  });

  // In waves of a few messages at once: the limit is what is under test, not how this 2-core
  // machine copes with 101 concurrent invocations counting on one DynamoDB item (in the full run,
  // under load, a quarter of such a burst's replies had not come 25 s later).
  it('limits a connection to 100 messages a minute', async () => {
    const c = await client(tenantId());
    // The count is per minute of the clock: all 101 go within one, or the limit rightly starts over.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 40_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 100));
    const WAVE = 5;
    for (let sent = 0; sent < 101;) {
      const wave = Math.min(WAVE, 101 - sent);
      for (let i = 0; i < wave; i++) c.send({ action: 'ping' });
      sent += wave;
      for (let waited = 0; c.messages.length < sent && waited < 20_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      expect(c.messages).toHaveLength(sent);
    }
    expect(c.messages.filter((m) => m.type === 'pong')).toHaveLength(100);
    expect(c.messages.filter((m) => m.type === 'error')).toEqual([expect.objectContaining({ code: 'RATE_LIMITED' })]);
  }, 90_000);
});

describe('fan-out', () => {
  it('delivers a stock adjustment to every subscriber of that product, and to nobody else', async () => {
    const a = tenantId('a');
    const b = tenantId('b');
    await product(a, 'shared-id', 5);
    await product(a, 'other', 5);
    await product(b, 'shared-id', 5);
    const listeners = await Promise.all([client(a), client(a), client(a)]);
    const otherProduct = await client(a);
    const otherTenant = await client(b);
    for (const l of listeners) await subscribe(l, 'product:shared-id');
    const otherProductSeen = (await subscribe(otherProduct, 'product:other')).snapshot.version as number;
    const otherTenantSeen = (await subscribe(otherTenant, 'product:shared-id')).snapshot.version as number;

    await rest(stack, 'POST', '/api/products/shared-id/stock-adjustments', await token(a), { delta: -2, reason: 'sale' });

    const updates = await Promise.all(listeners.map((l) => l.next(stockUpdate('shared-id', 3))));
    for (const u of updates) expect(u).toMatchObject({ availability: 'low_stock', version: 3, timestamp: expect.any(String) });
    await new Promise((r) => setTimeout(r, 500));
    // The stream may still bring a subscriber its own product's setup (already in its snapshot, so
    // the SDK drops it by version); what must never reach it is anything newer, or another product.
    const news = (received: Received, productId: string, seen: number) =>
      received.messages.filter((m) => m.type === 'stock:update' && (m.productId !== productId || (m.version as number) > seen));
    expect(news(otherProduct, 'other', otherProductSeen)).toEqual([]);
    expect(news(otherTenant, 'shared-id', otherTenantSeen)).toEqual([]);
  });

  it("pushes order status changes and today's dashboard figures", async () => {
    const tenant = tenantId();
    const bearer = await token(tenant);
    await product(tenant, 'gift', 10);
    const dashboard = await client(tenant);
    const before = await subscribe(dashboard, 'dashboard');
    expect(before.snapshot.metrics).toMatchObject({ ordersToday: 0, revenueToday: 0 });

    const placed = await rest(stack, 'POST', '/api/orders', bearer, { lines: [{ productId: 'gift', quantity: 2 }] });
    expect(placed.status).toBe(201);
    const figures = await dashboard.next((m) => m.type === 'dashboard:metric' && m.metrics.ordersToday === 1);
    expect(figures).toMatchObject({ tenantId: tenant, metrics: { ordersToday: 1, revenueToday: 1000 } });

    const watcher = await client(tenant);
    expect(await subscribe(watcher, `order:${placed.body.data.id}`)).toMatchObject({ snapshot: { status: 'placed', version: 1 } });
    await rest(stack, 'PATCH', `/api/orders/${placed.body.data.id}`, bearer, { status: 'paid' });
    expect(await watcher.next((m) => m.type === 'order:update')).toMatchObject({
      orderId: placed.body.data.id,
      status: 'paid',
      version: 2,
    });
  });

  it('counts low-stock products on the dashboard as stock crosses the threshold', async () => {
    const tenant = tenantId();
    await product(tenant, 'plenty', 50);
    const dashboard = await client(tenant);
    await subscribe(dashboard, 'dashboard');
    await rest(stack, 'POST', '/api/products/plenty/stock-adjustments', await token(tenant), { delta: -48, reason: 'sale' });
    await dashboard.next((m) => m.type === 'dashboard:metric' && m.metrics.lowStockCount === 1);
    await rest(stack, 'POST', '/api/products/plenty/stock-adjustments', await token(tenant), { delta: 20, reason: 'restock' });
    await dashboard.next((m) => m.type === 'dashboard:metric' && m.metrics.lowStockCount === 0);
  });

  it('removes a connection that vanished without $disconnect on the next push (410)', async () => {
    const tenant = tenantId();
    await product(tenant, 'ghosted', 3);
    const db = testDocumentClient();
    const store = new DynamoConnectionStore(db, stack.tableNames.connections);
    const ghost = {
      connectionId: 'ghostConnection0',
      tenantId: tenant,
      userId: 'u',
      permissions: ['products:read'],
      connectedAt: Date.now(),
      expiresAt: Math.floor(Date.now() / 1000) + 3600,
      tokenExpiresAt: Math.floor(Date.now() / 1000) + 3600,
    };
    await store.put(ghost);
    expect(await store.subscribe(ghost, 'product:ghosted', messageOrder({ at: Date.now(), messageId: 'm' }, undefined))).toBe('subscribed');
    const live = await client(tenant);
    await subscribe(live, 'product:ghosted');

    await rest(stack, 'POST', '/api/products/ghosted/stock-adjustments', await token(tenant), { delta: 1, reason: 'x' });
    await live.next(stockUpdate('ghosted', 4));
    await new Promise((r) => setTimeout(r, 300));
    expect(await store.get('ghostConnection0')).toBeUndefined();
    expect((await store.subscribers(tenant, 'product:ghosted')).connectionIds).toHaveLength(1);
    db.destroy();
  });

  // The connections open and subscribe ten at a time: the fan-out to 100 is under test, not how
  // this 2-core machine copes with 100 concurrent handshakes (from source: all in this process;
  // in a loaded full run, 502s and timeouts that AWS, with a machine per container, would not show).
  it('delivers exactly one update to each of 100 connections on one product', async () => {
    const tenant = tenantId();
    await product(tenant, 'popular', 100);
    const bearer = await token(tenant);
    // 100 users of the shop (one user may hold 10 connections).
    const users = await Promise.all(Array.from({ length: 100 }, (_, i) => mint({ tenantId: tenant, userId: `watcher-${i}` })));
    const many: Received[] = [];
    for (let i = 0; i < users.length; i += 10) {
      const wave = await Promise.all(users.slice(i, i + 10).map((user) => openSocket(stack, user)));
      clients.push(...wave);
      await Promise.all(wave.map((c) => subscribe(c, 'product:popular', 30_000)));
      many.push(...wave);
    }
    await rest(stack, 'POST', '/api/products/popular/stock-adjustments', bearer, { delta: -1, reason: 'sale' });
    await Promise.all(many.map((c) => c.next(stockUpdate('popular', 99), 10_000)));
    await new Promise((r) => setTimeout(r, 500));
    for (const c of many) expect(c.messages.filter((m) => m.type === 'stock:update')).toHaveLength(1);
  }, 120_000);
});

describe('message timestamps', () => {
  it('stamps stock, product and order updates with the committed time that REST reports for the same version', async () => {
    const tenant = tenantId();
    const bearer = await token(tenant);
    await product(tenant, 'stamped', 10);
    const watcher = await client(tenant);
    await subscribe(watcher, 'product:stamped');

    const adjusted = await rest(stack, 'POST', '/api/products/stamped/stock-adjustments', bearer, { delta: -1, reason: 'sale' });
    const stock = await watcher.next((m) => m.type === 'stock:update' && m.version === adjusted.body.data.version);
    expect(stock.timestamp).toBe(adjusted.body.data.lastUpdated);
    expect((await rest(stack, 'GET', '/api/products/stamped/stock', bearer)).body.data).toMatchObject({
      version: stock.version,
      lastUpdated: stock.timestamp,
    });

    const updated = await rest(stack, 'PUT', '/api/products/stamped', bearer, { price: 650 });
    const change = await watcher.next((m) => m.type === 'product:updated' && m.version === updated.body.data.version);
    expect(change.timestamp).toBe(updated.body.data.updatedAt);
    expect(change.product.updatedAt).toBe(change.timestamp);

    const placed = await rest(stack, 'POST', '/api/orders', bearer, { lines: [{ productId: 'stamped', quantity: 2 }] });
    const reserved = await watcher.next((m) => m.type === 'stock:update' && m.stock === 7);
    expect(reserved.timestamp).toBe(placed.body.data.createdAt);
    const orderWatcher = await client(tenant);
    await subscribe(orderWatcher, `order:${placed.body.data.id}`);
    const paid = await rest(stack, 'PATCH', `/api/orders/${placed.body.data.id}`, bearer, { status: 'paid' });
    const status = await orderWatcher.next((m) => m.type === 'order:update' && m.version === paid.body.data.version);
    expect(status.timestamp).toBe(paid.body.data.updatedAt);
    expect((await rest(stack, 'GET', `/api/orders/${placed.body.data.id}`, bearer)).body.data.updatedAt).toBe(status.timestamp);
  });
});

describe('a deleted product created again', () => {
  it('reaches its subscribers with a version past the deleted one, and keeps the low-stock count right', async () => {
    const tenant = tenantId();
    const bearer = await token(tenant);
    await product(tenant, 'again', 0); // out of stock counts as low
    const dashboard = await client(tenant);
    await subscribe(dashboard, 'dashboard');
    await dashboard.next((m) => (m.type === 'subscribed' ? m.snapshot.metrics : m.metrics)?.lowStockCount === 1);
    const watcher = await client(tenant);
    const snapshot = await subscribe(watcher, 'product:again');
    const { version: stockVersion, product: old } = snapshot.snapshot;

    expect((await rest(stack, 'DELETE', '/api/products/again', bearer)).status).toBe(204);
    const gone = await watcher.next((m) => m.type === 'product:updated' && m.product === null);
    expect(gone.version).toBe(Number(old.version) + 1);
    await dashboard.next((m) => m.type === 'dashboard:metric' && m.metrics.lowStockCount === 0);

    const created = await rest(stack, 'POST', '/api/products', bearer, { id: 'again', name: 'Again', price: 700, category: 'demo' });
    expect(created.status).toBe(201);
    expect(created.body.data.version).toBe(Number(gone.version) + 1);
    const reborn = await watcher.next((m) => m.type === 'product:updated' && m.product !== null);
    expect(reborn).toMatchObject({ version: created.body.data.version, product: { name: 'Again', price: 700 } });
    const fresh = await watcher.next((m) => m.type === 'stock:update');
    expect(fresh).toMatchObject({ stock: 0, availability: 'out_of_stock' });
    expect(fresh.version).toBeGreaterThan(stockVersion);
    await dashboard.next((m) => m.type === 'dashboard:metric' && m.metrics.lowStockCount === 1, 5000, dashboard.messages.length);

    await rest(stack, 'POST', '/api/products/again/stock-adjustments', bearer, { delta: 50, reason: 'restock' });
    await dashboard.next((m) => m.type === 'dashboard:metric' && m.metrics.lowStockCount === 0, 5000, dashboard.messages.length);
    const other = await client(tenant);
    expect((await subscribe(other, 'dashboard')).snapshot.metrics.lowStockCount).toBe(0);
  });
});
