/**
 * Redis memory is bounded by design: reading (or subscribing to) products that do not exist leaves
 * no key per id. The whole local stack (REST and WebSocket fronts, real handlers, DynamoDB Local)
 * on a redis-server of this test with the deployed eviction policy, so every key in it was made by
 * these reads; the test counts them with DBSIZE and SCAN (never the product code).
 */
import { Redis } from 'ioredis';
import { NOT_FOUND_SLOTS } from '../../functions/cache/keys';
import { resetConfig } from '../../functions/shared/config';
import { startRedisServer, type RedisServer } from '../../local/services/redis-server';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { mintDevToken } from '../../local/tokens';
import { openSocket } from '../realtime/realtime-fixtures';
import { dynamoDbEndpoint, testTables, uniqueId } from '../support';

/** Four times the not-found slots: nearly every slot taken, far more ids than the keys allowed (10,000 took 5 minutes on a loaded CI machine). */
const READS = 4 * NOT_FOUND_SLOTS;
const CONCURRENCY = 16;
/**
 * Per tenant: one counter per not-found slot (no TTL), one cached not-found per slot (with a TTL),
 * the tenant's own counter; and a few rate-limit windows of the one user. Whatever the number of ids.
 */
const BOUND = 2 * NOT_FOUND_SLOTS + 8;

let server: RedisServer;
let admin: Redis;
let stack: LocalStack;

beforeAll(async () => {
  server = await startRedisServer({ args: ['--maxmemory-policy', 'volatile-lru'] });
  admin = new Redis(server.url);
  process.env.RATE_LIMIT_PER_MINUTE = '1000000';
  stack = await startLocalStack({
    port: 0,
    wsPort: 0,
    dynamoDbEndpoint: dynamoDbEndpoint(),
    redis: server.url,
    tableNames: await testTables('missing'),
    seed: false,
    streams: false,
    web: false,
  });
}, 60_000);

afterAll(async () => {
  await stack.stop();
  delete process.env.RATE_LIMIT_PER_MINUTE;
  resetConfig();
  admin.disconnect();
  await server.stop();
});

const tenantId = () =>
  uniqueId('mem')
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .slice(0, 64);

/** Every key in the test's Redis, and those of them without a TTL. */
async function keys(): Promise<{ all: number; withoutTtl: string[] }> {
  const withoutTtl: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await admin.scan(cursor, 'COUNT', 1000);
    cursor = next;
    const ttls = await Promise.all(batch.map((key) => admin.pttl(key)));
    batch.forEach((key, i) => {
      if (ttls[i] === -1) withoutTtl.push(key);
    });
  } while (cursor !== '0');
  return { all: await admin.dbsize(), withoutTtl };
}

async function forEachConcurrently(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

it(`${READS} REST reads of distinct missing ids are 404 and leave at most ${BOUND} keys, whatever the number of ids`, async () => {
  const tenant = tenantId();
  const token = await mintDevToken({ tenantId: tenant });
  const get = (id: string) => fetch(`${stack.restUrl}/api/products/${id}`, { headers: { Authorization: `Bearer ${token}` } });
  // A real product, read twice (so its entry and counters exist): what a shop's own keys look like.
  const created = await fetch(`${stack.restUrl}/api/products`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ id: 'real', name: 'Real', price: 100, category: 'c' }),
  });
  expect(created.status).toBe(201);
  expect((await get('real')).status).toBe(200);
  const before = await keys();

  const statuses = new Map<number, number>();
  await forEachConcurrently(READS, CONCURRENCY, async (i) => {
    const response = await get(`missing-${i}`);
    await response.arrayBuffer();
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
  });
  expect(Object.fromEntries(statuses)).toEqual({ 404: READS });

  const after = await keys();
  const grown = after.all - before.all;
  const grownWithoutTtl = after.withoutTtl.filter((key) => !before.withoutTtl.includes(key));
  console.log(`${READS} reads of missing ids: ${grown} keys more (${grownWithoutTtl.length} without a TTL), ${after.all} in all`);
  expect(grown).toBeLessThanOrEqual(BOUND);
  // The keys without a TTL that the reads made are the tenant's not-found slot counters, bounded.
  expect(grownWithoutTtl.length).toBeLessThanOrEqual(NOT_FOUND_SLOTS);
  expect(grownWithoutTtl.filter((key) => /:g:p:missing-/.test(key))).toEqual([]);
  // The real product is still served (from the cache: its entry is still there).
  expect((await get('real')).status).toBe(200);
}, 240_000);

it('1,200 WebSocket subscribes to distinct missing products are FORBIDDEN and leave at most as many keys as REST reads', async () => {
  const tenant = tenantId();
  // More ids than not-found slots: two users of the tenant, 6 connections each, 100 messages each
  // (the per-connection rate).
  const tokens = await Promise.all(['u1', 'u2'].map((userId) => mintDevToken({ tenantId: tenant, userId })));
  const sockets = await Promise.all(tokens.flatMap((token) => Array.from({ length: 6 }, () => openSocket(stack, token))));
  try {
    const before = await keys();
    // One connection at a time: concurrent ones starved the one process that plays API Gateway, the
    // functions and @connections on a loaded machine (a reply's post timed out), and the count of
    // keys does not depend on it.
    await sockets.reduce(
      (previous, socket, s) =>
        previous.then(async () => {
          for (let i = 0; i < 100; i++) {
            const channel = `product:gone-${s}-${i}`;
            const from = socket.messages.length;
            socket.send({ action: 'subscribe', channel });
            const reply = await socket.next((m) => m.channel === channel, 10_000, from);
            expect(reply).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
          }
        }),
      Promise.resolve(),
    );
    const after = await keys();
    const grownWithoutTtl = after.withoutTtl.filter((key) => !before.withoutTtl.includes(key));
    console.log(
      `${sockets.length * 100} subscribes to missing ids: ${after.all - before.all} keys more (${grownWithoutTtl.length} without a TTL)`,
    );
    expect(after.all - before.all).toBeLessThanOrEqual(BOUND);
    expect(grownWithoutTtl.length).toBeLessThanOrEqual(NOT_FOUND_SLOTS + 1); // and the tenant's own counter
    expect(grownWithoutTtl.filter((key) => /:g:p:gone-/.test(key))).toEqual([]);
  } finally {
    await Promise.all(sockets.map((socket) => socket.close()));
  }
}, 240_000);
