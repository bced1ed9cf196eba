/**
 * Read-after-invalidate inside one container. The two-tier cache coalesces concurrent misses of a
 * key in a container (one origin load, shared). A read that starts after invalidate() resolved must
 * still not be answered with a value loaded before the invalidation.
 *
 * Found by the cluster failover load test (cluster-failover.test.ts) when several workers shared
 * one cache; in Lambda a container serves one request at a time, so it bites where one process
 * serves concurrent requests (the local stack) or a request reads the same key twice concurrently.
 */
import { entries, generationKeys } from '../../functions/cache/keys';
import { RedisL2Store } from '../../functions/cache/l2-store';
import { TwoTierCache } from '../../functions/cache/two-tier-cache';
import { cacheConfig } from '../../functions/shared/config';
import { createRedisClient, type RedisClient } from '../../functions/shared/clients/redis';
import { tenantId } from '../api/api-fixtures';
import { redisSingleUrl } from '../support';
import { sleep } from './fault-fixtures';

let redis: RedisClient;
beforeAll(() => {
  redis = createRedisClient({ url: redisSingleUrl(), commandTimeoutMs: 200 });
});
afterAll(() => redis.quit());

/** An origin whose loads take `delayMs`, answering the version current when the load began. */
function slowOrigin(delayMs: number) {
  const origin = {
    version: 1,
    loads: 0,
    load: async () => {
      origin.loads++;
      const seen = origin.version;
      await sleep(delayMs);
      return { version: seen };
    },
  };
  return origin;
}

/** Waits until the origin load of the first read has begun. */
async function loadBegun(origin: { loads: number }) {
  for (let i = 0; i < 200 && origin.loads === 0; i++) await sleep(5);
  expect(origin.loads).toBe(1);
}

it('control: after invalidate() resolves, a new read in another container shows the new value', async () => {
  const tenant = tenantId('coal');
  const entry = entries.product(tenant, 'p');
  const origin = slowOrigin(150);
  const writer = new TwoTierCache({ settings: cacheConfig(), l2: new RedisL2Store(redis) });
  const reader = new TwoTierCache({ settings: cacheConfig(), l2: new RedisL2Store(redis) });
  const before = writer.getOrLoad(entry, 'medium', origin.load);
  await loadBegun(origin);
  origin.version = 2;
  expect(await writer.invalidate([generationKeys.product(tenant, 'p')])).toBe(true);
  expect((await reader.getOrLoad(entry, 'medium', origin.load)).value).toEqual({ version: 2 });
  expect((await before).value).toEqual({ version: 1 }); // began before the write: may be old
});

it(
  // Fixed: invalidate() detaches in-flight loads of the generations it bumps.
  'in the same container, a read that starts after invalidate() resolved does not get a value loaded before it',
  async () => {
    const tenant = tenantId('coal');
    const entry = entries.product(tenant, 'p');
    const origin = slowOrigin(150);
    const cache = new TwoTierCache({ settings: cacheConfig(), l2: new RedisL2Store(redis) });
    const before = cache.getOrLoad(entry, 'medium', origin.load);
    await loadBegun(origin);
    origin.version = 2;
    expect(await cache.invalidate([generationKeys.product(tenant, 'p')])).toBe(true);
    const after = await cache.getOrLoad(entry, 'medium', origin.load);
    await before;
    expect(after.value).toEqual({ version: 2 });
  },
);
