/** A two-tier cache from the cache settings: L2 when given, the container's L1 always; its events become metrics. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { L2Store } from '../cache/l2';
import type { CacheObserver } from '../cache/observer';
import { TwoTierCache } from '../cache/two-tier-cache';
import { cacheConfig } from '../shared/config';
import { metrics } from '../shared/metrics';
import { logger } from '../shared/observability';

/** The cache's events as CloudWatch metrics (EMF) and log lines. */
export const metricsCacheObserver: CacheObserver = {
  count: (metric) => metrics.addMetric(metric, MetricUnit.Count, 1),
  originLatency: (ms) => metrics.addMetric('OriginLatency', MetricUnit.Milliseconds, ms),
  breakerState: (state) => logger.warn('cache circuit breaker changed state', { state }),
};

export function buildCache(l2: L2Store | undefined): TwoTierCache {
  return new TwoTierCache({ settings: cacheConfig(), ...(l2 ? { l2 } : {}), observer: metricsCacheObserver });
}
