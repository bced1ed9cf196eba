/**
 * Powertools Metrics (CloudWatch EMF), one per container: for the functions that publish metrics
 * (REST routes, stream consumers, the cache). The authorizer and the WebSocket routes publish
 * none, so they never load it.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';

export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'ShopEdge',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'shop-edge',
});

/** Off under tests and the local stack (POWERTOOLS_METRICS_DISABLED): no EMF lines, no empty-metrics warnings. */
export const metricsEnabled = !['true', '1'].includes(process.env.POWERTOOLS_METRICS_DISABLED ?? '');
