/**
 * Redis outages seen through the REST API (local REST front, real handlers, DynamoDB Local) wired
 * to a redis-server of this test, over an ioredis client with a 50 ms command timeout as in Lambda.
 * L1 is off, so every hit is an L2 hit and "served from DynamoDB" is visible as a repository call.
 *  - while Redis is stopped (SIGKILL) or hung (SIGSTOP), every REST read answers 200 with the right
 *    data from DynamoDB, each well under 2 s (nothing hangs), and /health says Redis is down;
 *  - a write during the outage commits, and the next read shows it;
 *  - after recovery, reads are served from Redis again (no repository call).
 */
import { RedisL2Store } from '../../functions/cache/l2-store';
import { createRedisClient, type RedisClient } from '../../functions/shared/clients/redis';
import { startRedisServer, type RedisServer } from '../../local/services/redis-server';
import { tenantId } from '../api/api-fixtures';
import { readJson, startFaultApi, until, type FaultApi } from './fault-fixtures';

const BOUND_MS = 2000;

const OUTAGES: [string, (server: RedisServer) => Promise<void>, (server: RedisServer) => Promise<void>][] = [
  ['stopped (SIGKILL) and restarted', (s) => s.kill(), (s) => s.restart()],
  [
    'hung (SIGSTOP) and resumed',
    (s) => {
      s.pause();
      return Promise.resolve();
    },
    (s) => {
      s.resume();
      return Promise.resolve();
    },
  ],
];

describe.each(OUTAGES)('Redis %s', (_label, breakRedis, healRedis) => {
  let server: RedisServer;
  let redis: RedisClient;
  let api: FaultApi;

  beforeAll(async () => {
    server = await startRedisServer();
    redis = createRedisClient({ url: server.url, commandTimeoutMs: 50 });
    api = await startFaultApi('redis-outage');
    api.wire({ l2: new RedisL2Store(redis), l1: false });
  });
  afterAll(async () => {
    server.resume();
    await api.close();
    await redis.quit().catch(() => redis.disconnect());
    await server.stop();
  });

  it('REST reads answer 200 from DynamoDB without hanging, writes still show, and hits resume after recovery', async () => {
    const tenant = tenantId('out');
    const token = await api.token(tenant);
    const created = await api.call('POST', '/api/products', {
      token,
      body: { id: 'lamp', name: 'Lamp', price: 2500, category: 'light', listed: true },
    });
    expect(created.status).toBe(201);
    const product = (await readJson(created)).data;
    await api.call('POST', '/api/products', { token, body: { id: 'desk', name: 'Desk', price: 9000, category: 'furniture' } });
    expect((await api.call('POST', '/api/products/lamp/stock-adjustments', { token, body: { delta: 7, reason: 'restock' } })).status).toBe(
      200,
    );
    const placed = await api.call('POST', '/api/orders', { token, body: { lines: [{ productId: 'lamp', quantity: 2 }] } });
    expect(placed.status).toBe(201);
    const order = (await readJson(placed)).data;

    const cachedReads = ['/api/products/lamp', '/api/products', '/api/marketplace/products?limit=100'];
    const liveReads = ['/api/products/lamp?include=stock', '/api/products/lamp/stock', `/api/orders/${order.id}`];
    const expected: Record<string, (data: any) => void> = {
      '/api/products/lamp': (data) => expect(data).toEqual(product),
      '/api/products': (data) => expect(data.map((p: { id: string }) => p.id)).toEqual(['desk', 'lamp']),
      '/api/marketplace/products?limit=100': (data) => expect(data).toEqual([product]),
      '/api/products/lamp?include=stock': (data) => expect(data).toMatchObject({ ...product, stock: 5 }),
      '/api/products/lamp/stock': (data) => expect(data).toMatchObject({ productId: 'lamp', stock: 5 }),
      [`/api/orders/${order.id}`]: (data) => expect(data).toEqual(order),
    };
    const readAll = async (paths: string[]) => {
      for (const path of paths) {
        const started = Date.now();
        const response = await api.call('GET', path, { token: path.includes('marketplace') ? null : token });
        const took = Date.now() - started;
        expect([path, response.status]).toEqual([path, 200]);
        expect([path, took < BOUND_MS]).toEqual([path, true]);
        expected[path]?.((await readJson(response)).data);
      }
    };

    // Warm the cache; control: the second round is served by Redis (no repository call).
    await readAll(cachedReads);
    const warm = api.repositoryCalls();
    await readAll(cachedReads);
    expect(api.repositoryCalls()).toBe(warm);

    await breakRedis(server);
    try {
      const down = api.repositoryCalls();
      for (let round = 0; round < 4; round++) await readAll([...cachedReads, ...liveReads]);
      // Served from DynamoDB: every cached read of every round went to the repository.
      expect(api.repositoryCalls() - down).toBeGreaterThanOrEqual(4 * cachedReads.length);

      const health = await api.call('GET', '/health');
      expect(health.status).toBe(503);
      expect(health.headers.get('retry-after')).toBeTruthy();
      expect((await readJson(health)).error).toEqual({ code: 'UNAVAILABLE', message: expect.stringContaining('redis') });

      // A write commits during the outage, and the next read (from DynamoDB) shows it.
      const started = Date.now();
      const update = await api.call('PUT', '/api/products/desk', { token, body: { price: 9500 } });
      expect(update.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(BOUND_MS);
      expect((await readJson(await api.call('GET', '/api/products/desk', { token }))).data).toMatchObject({ price: 9500, version: 2 });
    } finally {
      await healRedis(server);
    }

    // Recovery: the breaker probes again and reads are served by Redis once more.
    await until(
      async () => {
        await readAll(cachedReads);
        const before = api.repositoryCalls();
        await readAll(cachedReads);
        return api.repositoryCalls() === before;
      },
      15_000,
      'cache hits after recovery',
    );
    let health = '';
    await until(
      async () => {
        const response = await api.call('GET', '/health');
        health = `${response.status} ${await response.text()}`;
        return response.status === 200;
      },
      5000,
      'health 200 after recovery',
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; last answer: ${health}`);
    });
  });
});
