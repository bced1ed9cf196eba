/** Powertools Logger and Metrics, one of each per container, and the cache's metrics adapter. */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { CacheObserver } from '../cache/observer';

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'shop-edge' });
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'ShopEdge',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'shop-edge',
});

/**
 * For handlers without middy: the invocation's Lambda context (function name, request id) on
 * every log line, as injectLambdaContext does for the REST and WebSocket routes.
 */
export function withLogContext<TEvent, TResult>(
  handler: (event: TEvent, context: Context) => Promise<TResult>,
): (event: TEvent, context: Context) => Promise<TResult> {
  return (event, context) => {
    logger.addContext(context);
    return handler(event, context);
  };
}

/** Off under tests and the local stack (POWERTOOLS_METRICS_DISABLED): no EMF lines, no empty-metrics warnings. */
export const metricsEnabled = !['true', '1'].includes(process.env.POWERTOOLS_METRICS_DISABLED ?? '');

export const metricsCacheObserver: CacheObserver = {
  count: (metric) => metrics.addMetric(metric, MetricUnit.Count, 1),
  originLatency: (ms) => metrics.addMetric('OriginLatency', MetricUnit.Milliseconds, ms),
  breakerState: (state) => logger.warn('cache circuit breaker changed state', { state }),
};
