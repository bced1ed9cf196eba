import { entries } from '../../functions/cache/keys';
import { createRedisClient, type RedisClient } from '../../functions/shared/clients/redis';
import { startRedisServer, type RedisServer } from '../../local/services/redis-server';
import { cacheOn, CountingOrigin, quit } from './cache-fixtures';

const breaker = { cooldownMs: 200, minCalls: 3, windowMs: 5000 };

async function until(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not met in time');
}

describe('when Redis fails', () => {
  let server: RedisServer;
  let redis: RedisClient;

  beforeEach(async () => {
    server = await startRedisServer();
    redis = createRedisClient({ url: server.url, commandTimeoutMs: 50 });
  });
  afterEach(async () => {
    await quit(redis);
    await server.stop();
  });

  it('answers from the origin while Redis is down, opens the breaker, and resumes hits after a restart', async () => {
    const origin = new CountingOrigin({ name: 'Kettle' });
    const { cache, observer } = cacheOn(redis, { l1MaxEntries: 0 }, breaker);
    const entry = entries.product('tenantA', 'kettle');
    // Healthy first: a hit from Redis. (A 50 ms command timeout can lapse on a loaded machine, so
    // a fill or a read may go to the origin before one hits; this is the precondition, not the case.)
    await until(async () => (await cache.getOrLoad(entry, 'medium', origin.load)).source === 'l2');

    await server.kill();
    for (let i = 0; i < 10; i++) {
      const read = await cache.getOrLoad(entry, 'medium', origin.load);
      expect(read.value).toEqual({ name: 'Kettle' });
    }
    expect(cache.breakerState).not.toBe('closed');
    expect(observer.states).toContain('open');
    const readsWhileDown = origin.reads;

    await server.restart();
    await until(async () => (await cache.getOrLoad(entry, 'medium', origin.load)).source === 'l2');
    expect(cache.breakerState).toBe('closed');
    expect(origin.reads).toBeGreaterThan(readsWhileDown - 1);
  });

  it('does not hang when Redis hangs (SIGSTOP): every read answers within the command timeout plus the origin time', async () => {
    const origin = new CountingOrigin({ name: 'Teapot' });
    const { cache } = cacheOn(redis, { l1MaxEntries: 0 }, breaker);
    const entry = entries.product('tenantA', 'teapot');
    await cache.getOrLoad(entry, 'medium', origin.load);

    server.pause();
    try {
      for (let i = 0; i < 5; i++) {
        const started = Date.now();
        const read = await cache.getOrLoad(entry, 'medium', origin.load);
        expect(read.value).toEqual({ name: 'Teapot' });
        // A hang would last as long as the pause; this bound (two command timeouts plus the origin,
        // with room for a loaded machine's stalls) only tells the two apart.
        expect(Date.now() - started).toBeLessThan(5000);
      }
      expect(cache.breakerState).not.toBe('closed');
    } finally {
      server.resume();
    }
    await until(async () => (await cache.getOrLoad(entry, 'medium', origin.load)).source === 'l2');
  });
});
