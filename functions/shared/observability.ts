/** Powertools Logger and Metrics, one of each per container. */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { Metrics } from '@aws-lambda-powertools/metrics';

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
