/**
 * DynamoDB Streams consumer (outside the VPC): pushes committed changes to WebSocket subscribers,
 * then purges the CDN paths that product changes affect.
 */
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoShopRepository } from '../../catalog/shop-repository';
import { ConnectionStore } from '../../realtime/connection-store';
import { FanOut } from '../../realtime/fan-out';
import { notifierFor } from '../../realtime/notifier';
import { sharedDocumentClient } from '../../shared/clients/dynamodb';
import { appConfig, tablesConfig } from '../../shared/config';
import { logger, metrics, metricsEnabled, withLogContext } from '../../shared/observability';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { CloudFrontPurger, noCdn, type CdnPurger } from '../../cdn/cdn-purger';
import { purgeCdnFromStream } from '../../cache/stream-invalidation';

let fanOut: FanOut | undefined;
let cdn: CdnPurger | undefined;

function build(): FanOut {
  const endpoint = appConfig().wsManagementEndpoint;
  if (!endpoint) throw new Error('WS_MANAGEMENT_ENDPOINT is required by the fan-out');
  const tables = tablesConfig();
  return new FanOut({
    connections: new ConnectionStore(sharedDocumentClient(), tables.connectionsTableName),
    repo: new DynamoShopRepository(sharedDocumentClient(), tables.shopTableName),
    notifier: notifierFor(endpoint),
  });
}

export const handler = withLogContext(async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
  fanOut ??= build();
  const distributionId = appConfig().cdnDistributionId;
  cdn ??= distributionId ? CloudFrontPurger.create(distributionId) : noCdn;
  const report = await fanOut.handle(event.Records);
  try {
    await purgeCdnFromStream(event.Records, cdn);
  } catch (error) {
    logger.error('CDN purge failed; the batch will be retried', { error: error as Error });
    const first = event.Records[0]?.dynamodb?.SequenceNumber;
    return { batchItemFailures: first ? [{ itemIdentifier: first }] : [] };
  }
  if (metricsEnabled) {
    metrics.addMetric('MessagesDelivered', MetricUnit.Count, report.delivered);
    metrics.addMetric('ConnectionsGone', MetricUnit.Count, report.gone);
    metrics.publishStoredMetrics();
  }
  if (report.batchItemFailures.length > 0) logger.warn('fan-out will be retried', { from: report.batchItemFailures[0]?.itemIdentifier });
  return { batchItemFailures: report.batchItemFailures };
});
