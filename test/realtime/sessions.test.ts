/**
 * A WebSocket session ends with its token, and one user holds at most 10 connections (the
 * default of WS_MAX_CONNECTIONS_PER_USER), through the whole local stack.
 */
import WebSocket from 'ws';
import { DynamoConnectionStore, type ConnectionRecord } from '../../functions/realtime/connection-store';
import { createDocumentClient } from '../../functions/shared/clients/dynamodb';
import type { StackUnderTest } from '../support/stack-under-test';
import { testDocumentClient } from '../support';
import { openSocket, rest, startStack, subscribe, tenantId, mint, token, type Received } from './realtime-fixtures';

let stack: StackUnderTest;
let db: ReturnType<typeof createDocumentClient>;
let store: DynamoConnectionStore;
const clients: Received[] = [];

beforeAll(async () => {
  stack = await startStack();
  db = testDocumentClient();
  store = new DynamoConnectionStore(db, stack.tableNames.connections);
  // Warm the WebSocket functions: a short token must not spend its life on cold starts (as
  // deployed, each function's first container starts its own process).
  const warm = await openSocket(stack, await token(tenantId('warm')));
  await subscribe(warm, 'dashboard', 20_000);
  warm.send({ action: 'ping' });
  await warm.next((m) => m.type === 'pong', 20_000);
  await warm.close();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  db.destroy();
  await stack.stop();
});

async function client(bearer: string): Promise<Received> {
  const c = await openSocket(stack, bearer);
  clients.push(c);
  return c;
}

async function product(tenant: string, id: string, stock: number) {
  const bearer = await token(tenant);
  expect((await rest(stack, 'POST', '/api/products', bearer, { id, name: id, price: 500, category: 'demo' })).status).toBe(201);
  await rest(stack, 'POST', `/api/products/${id}/stock-adjustments`, bearer, { delta: stock, reason: 'seed' });
  // The setup's own updates reach the fan-out now, not after the test's subscriptions (they would
  // look like updates sent past a token).
  await stack.streamsCaughtUp();
}

/** The `exp` of a JWT (epoch seconds). */
function expOf(jwt: string): number {
  const payload = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp: number };
  return payload.exp;
}

async function pastExpiry(jwt: string): Promise<void> {
  const wait = expOf(jwt) * 1000 - Date.now() + 50;
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

/** The status of a refused handshake, or 101 when it is accepted (then closed). */
function handshake(bearer: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${stack.wsUrl}?token=${encodeURIComponent(bearer)}`);
    socket.once('open', () => {
      socket.close();
      resolve(101);
    });
    socket.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

async function until(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * The close code the client sees; 0 when it stays open for 20 seconds (a bound for a hung test,
 * not a timing: on a loaded machine the write, the stream's poll and the fan-out took over 5 s).
 */
const closeCode = (c: Received) =>
  new Promise<number>((resolve) => {
    const timer = setTimeout(() => resolve(0), 20_000);
    c.socket.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });

describe('a session ends with its token', () => {
  it('answers a message after the token expired with UNAUTHORIZED, then closes the connection', async () => {
    const tenant = tenantId();
    await product(tenant, 'clock', 3);
    const short = await mint({ tenantId: tenant, expiresInSeconds: 3 }); // more than 2 s of life: exp counts whole seconds
    const c = await client(short);
    expect((await subscribe(c, 'product:clock')).type).toBe('subscribed');

    await pastExpiry(short);
    const closed = closeCode(c);
    const from = c.messages.length;
    c.send({ action: 'subscribe', channel: 'product:clock' });

    expect(await c.next(() => true, 5000, from)).toMatchObject({
      type: 'error',
      code: 'UNAUTHORIZED',
      message: expect.stringMatching(/token expired/),
    });
    expect(await closed).toBe(1000); // DeleteConnection: API Gateway's own close, not a code of ours
    expect(c.messages.slice(from)).toHaveLength(1);
    await until(async () => (await store.subscribers(tenant, 'product:clock')).connectionIds.length === 0); // $disconnect ran
  });

  it('sends no update past the token: the fan-out ends the session instead', async () => {
    const tenant = tenantId();
    await product(tenant, 'late', 5);
    const short = await mint({ tenantId: tenant, expiresInSeconds: 3 }); // more than 2 s of life: exp counts whole seconds
    const expiring = await client(short);
    const lasting = await client(await token(tenant));
    await subscribe(expiring, 'product:late');
    await subscribe(lasting, 'product:late');

    await pastExpiry(short);
    const closed = closeCode(expiring);
    await rest(stack, 'POST', '/api/products/late/stock-adjustments', await token(tenant), { delta: -1, reason: 'sale' });

    await lasting.next((m) => m.type === 'stock:update' && m.stock === 4);
    expect(await closed).toBe(1000);
    expect(expiring.messages.filter((m) => m.type === 'stock:update')).toEqual([]);
    expect(expiring.messages.at(-1)).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
  });

  it('refuses a token that expired by the handshake with 401', async () => {
    const expired = await mint({ tenantId: tenantId(), expiresInSeconds: -1 }); // within the clock tolerance
    expect(await handshake(expired)).toBe(401);
  });
});

describe('connections per user', () => {
  it('refuses the 11th connection of one user with 429 at the handshake, and takes it once one closed', async () => {
    const tenant = tenantId();
    const user = await mint({ tenantId: tenant, userId: 'many-tabs' });
    const open = await Promise.all(Array.from({ length: 10 }, () => client(user)));

    expect(await handshake(user)).toBe(429);
    expect(await handshake(await mint({ tenantId: tenant, userId: 'colleague' }))).toBe(101);

    await open[0]?.close();
    // Once $disconnect has run.
    let status = 0;
    await until(async () => (status = await handshake(user)) !== 429);
    expect(status).toBe(101);
  });

  it('counts concurrent handshakes of one user exactly', async () => {
    const user = await mint({ tenantId: tenantId(), userId: 'burst' });
    const sockets: WebSocket[] = [];
    const statuses = await Promise.all(
      Array.from(
        { length: 25 },
        () =>
          new Promise<number>((resolve) => {
            const socket = new WebSocket(`${stack.wsUrl}?token=${encodeURIComponent(user)}`);
            sockets.push(socket);
            socket.once('open', () => resolve(101));
            socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
            socket.once('error', () => undefined);
          }),
      ),
    );
    for (const socket of sockets) socket.terminate();
    expect(statuses.filter((s) => s === 101)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
  });

  it('frees the slots of connections that vanished without $disconnect', async () => {
    const tenant = tenantId();
    const now = Date.now();
    const record = (i: number, connectedAt: number): ConnectionRecord => ({
      connectionId: `vanished${String(i).padStart(8, '0')}`,
      tenantId: tenant,
      userId: 'forgetful',
      permissions: [],
      connectedAt,
      expiresAt: Math.floor(connectedAt / 1000) + 7800,
      tokenExpiresAt: Math.floor(now / 1000) + 3600,
    });
    // Silent for 20 minutes (API Gateway's idle timeout closed them), past 2 hours, and one
    // whose record is gone: none can be open, though no $disconnect said so.
    const ghosts = [
      ...Array.from({ length: 6 }, (_, i) => record(i, now - 20 * 60_000)),
      ...Array.from({ length: 3 }, (_, i) => record(10 + i, now - 3 * 3600_000)),
    ];
    for (const ghost of ghosts) {
      await store.put(ghost);
      expect(await store.acquireSlot(ghost, 10)).toBe(true);
    }
    expect(await store.acquireSlot(record(20, now - 30 * 60_000), 10)).toBe(true); // never recorded

    const user = await mint({ tenantId: tenant, userId: 'forgetful' });
    const open = await Promise.all(Array.from({ length: 10 }, () => client(user)));
    expect(open).toHaveLength(10);
    expect(await handshake(user)).toBe(429); // the 10 live ones count
  });

  it('keeps the slots of connections that may still be open', async () => {
    const tenant = tenantId();
    const now = Date.now();
    for (let i = 0; i < 10; i++) {
      const connection: ConnectionRecord = {
        connectionId: `elsewhere${String(i).padStart(7, '0')}`,
        tenantId: tenant,
        userId: 'busy',
        permissions: [],
        // Connected long ago, but talking: the minute of its last message is recent.
        connectedAt: i < 5 ? now - 60_000 : now - 90 * 60_000,
        expiresAt: Math.floor(now / 1000) + 3600,
        tokenExpiresAt: Math.floor(now / 1000) + 3600,
      };
      await store.put(connection);
      await store.countMessage(connection.connectionId, now - (now % 60_000));
      expect(await store.acquireSlot(connection, 10)).toBe(true);
    }
    expect(await handshake(await mint({ tenantId: tenant, userId: 'busy' }))).toBe(429);
  });
});
