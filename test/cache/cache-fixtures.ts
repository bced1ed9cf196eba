import { Cluster, Redis } from 'ioredis';
import { createRedisClient, type RedisClient } from '../../functions/shared/clients/redis';
import { RedisL2Store } from '../../functions/cache/l2-store';
import { TwoTierCache, type CacheSettings } from '../../functions/cache/two-tier-cache';
import { CountingObserver } from '../../functions/cache/observer';
import type { BreakerOptions } from '../../functions/cache/circuit-breaker';
import { redisClusterNodes, redisSingleUrl } from '../support';

export const testSettings: CacheSettings = {
  l1MaxEntries: 100,
  l1TtlMs: 2000,
  ttlShortSeconds: 60,
  ttlMediumSeconds: 60,
  ttlLongSeconds: 60,
  staleSeconds: 30,
  negativeTtlSeconds: 30,
  compressAboveBytes: 1024,
  leaseMs: 2000,
  leaseWaitMs: 2000,
  revalidateBudgetMs: 200,
};

export type Topology = 'single node' | '3-master cluster';
export const TOPOLOGIES: Topology[] = ['single node', '3-master cluster'];

export function connect(topology: Topology): RedisClient {
  if (topology === 'single node') return createRedisClient({ url: redisSingleUrl(), commandTimeoutMs: 1000 });
  const [first, ...rest] = redisClusterNodes();
  return createRedisClient({ url: `redis://${first?.host}:${first?.port}`, cluster: true, clusterNodes: rest, commandTimeoutMs: 1000 });
}

export function cacheOn(redis: RedisClient, overrides: Partial<CacheSettings> = {}, breaker?: BreakerOptions) {
  const observer = new CountingObserver();
  const cache = new TwoTierCache({
    settings: { ...testSettings, ...overrides },
    l2: new RedisL2Store(redis),
    observer,
    ...(breaker ? { breaker } : {}),
  });
  return { cache, observer };
}

/** An origin that counts its reads and can be slowed down. */
export class CountingOrigin<T> {
  reads = 0;
  delayMs = 0;
  constructor(public value: T | null) {}
  load = async (): Promise<T | null> => {
    this.reads++;
    const value = this.value;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    return value;
  };
}

export async function quit(redis: RedisClient | Redis | Cluster): Promise<void> {
  await redis.quit().catch(() => redis.disconnect());
}
