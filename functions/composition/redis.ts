/**
 * The container's Redis (L2) store and the two-tier cache in front of it: for the functions in the
 * VPC. A function outside it (the WebSocket routes) never imports this module, so no ioredis.
 */
import type { L2Store } from '../cache/l2';
import { ReconnectingL2Store } from '../cache/l2-store';
import type { TwoTierCache } from '../cache/two-tier-cache';
import { noteRedisError, redisConfigured, sharedRedisClient } from '../shared/clients/redis';
import { redisConfig } from '../shared/config';
import { buildCache } from './cache';
import { provider } from './provider';

/** Absent when no Redis is configured (L1 only). Connected on first use; a failed connect is retried later. */
export const l2Store = provider<L2Store | undefined>('l2Store', () => {
  if (!redisConfigured()) return undefined;
  const redis = redisConfig();
  // WAIT for a replica after each invalidation, where there are replicas to wait for.
  const replicaAckMs = redis.replicas > 0 ? redis.replicaAckMs : 0;
  return new ReconnectingL2Store(sharedRedisClient, noteRedisError, { replicaAckMs });
});

/** L1 in the container, L2 in Redis (when configured). */
export const sharedCache = provider<TwoTierCache>('cache', async () => buildCache(await l2Store()));
