/**
 * What each stream consumer of STREAM_CONSUMERS (functions/routes.ts) does with one batch, given
 * its services; the handlers in functions/handlers/streams/ only pass the batch on.
 *  - FanOut (outside the VPC): pushes committed changes to WebSocket subscribers, then purges the
 *    CDN paths product changes affect.
 *  - Invalidate (in the VPC): bumps cache generations for every committed product change.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DynamoDBBatchResponse, DynamoDBRecord } from 'aws-lambda';
import type { CdnPurger } from '../cdn/cdn-purger';
import type { ReadThroughCache } from '../cache/two-tier-cache';
import { metrics, metricsEnabled } from '../shared/metrics';
import { logger } from '../shared/observability';
import { purgeCdnFromStream } from './cdn-purge';
import type { FanOut } from './fan-out';
import { invalidateCacheFromStream } from './invalidation';

export interface FanOutServices {
  readonly fanOut: FanOut;
  /** One per container: purges CloudFront could not take yet go out with a later batch. */
  readonly cdn: CdnPurger;
}

export async function fanOutBatch(records: readonly DynamoDBRecord[], services: FanOutServices): Promise<DynamoDBBatchResponse> {
  const report = await services.fanOut.handle(records);
  try {
    await purgeCdnFromStream(records, services.cdn);
  } catch (error) {
    logger.error('CDN purge failed; the batch will be retried', { error: error as Error });
    const first = records[0]?.dynamodb?.SequenceNumber;
    return { batchItemFailures: first ? [{ itemIdentifier: first }] : [] };
  }
  if (metricsEnabled) {
    metrics.addMetric('MessagesDelivered', MetricUnit.Count, report.delivered);
    metrics.addMetric('ConnectionsGone', MetricUnit.Count, report.gone);
    // How hard the account throttle pushed back: each was tried again, paced (functions/streams/pacer.ts).
    metrics.addMetric('PostsThrottled', MetricUnit.Count, report.throttled);
    // Posts that failed otherwise (timeouts, 5xx): retried with the batch, for those subscribers only.
    metrics.addMetric('PostsFailed', MetricUnit.Count, report.failed);
    // Versions a later change of the same entity in the batch superseded: never sent.
    metrics.addMetric('MessagesConflated', MetricUnit.Count, report.conflated);
    // Posts a fan-out still behind left out: the table already held a newer version, sent by its own record.
    metrics.addMetric('MessagesSuperseded', MetricUnit.Count, report.superseded);
    metrics.publishStoredMetrics();
  }
  if (report.batchItemFailures.length > 0) logger.warn('fan-out will be retried', { from: report.batchItemFailures[0]?.itemIdentifier });
  return { batchItemFailures: report.batchItemFailures };
}

export async function invalidateBatch(records: readonly DynamoDBRecord[], cache: ReadThroughCache): Promise<DynamoDBBatchResponse> {
  const result = await invalidateCacheFromStream(records, cache);
  if (result.batchItemFailures.length > 0) logger.warn('cache invalidation will be retried');
  return result;
}
