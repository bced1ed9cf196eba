/** The Powertools Logger, one per container (metrics: ./metrics.ts, for the functions that publish any). */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'shop-edge' });

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
