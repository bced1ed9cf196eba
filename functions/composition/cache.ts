/** A two-tier cache from the cache settings: L2 when given, the container's L1 always. */
import type { L2Store } from '../cache/l2-store';
import { TwoTierCache } from '../cache/two-tier-cache';
import { cacheConfig } from '../shared/config';
import { metricsCacheObserver } from '../shared/observability';

export function buildCache(l2: L2Store | undefined): TwoTierCache {
  return new TwoTierCache({ settings: cacheConfig(), ...(l2 ? { l2 } : {}), observer: metricsCacheObserver });
}
