/** DynamoDB Streams consumer (outside the VPC): pushes committed changes to WebSocket subscribers. */
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoShopRepository } from '../../catalog/shop-repository';
import { ConnectionStore } from '../../realtime/connection-store';
import { FanOut } from '../../realtime/fan-out';
import { notifierFor } from '../../realtime/notifier';
import { sharedDocumentClient } from '../../shared/clients/dynamodb';
import { appConfig, tablesConfig } from '../../shared/config';
import { logger, metrics } from '../../shared/observability';
import { MetricUnit } from '@aws-lambda-powertools/metrics';

let fanOut: FanOut | undefined;

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

export const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
  fanOut ??= build();
  const report = await fanOut.handle(event.Records);
  metrics.addMetric('MessagesDelivered', MetricUnit.Count, report.delivered);
  metrics.addMetric('ConnectionsGone', MetricUnit.Count, report.gone);
  metrics.publishStoredMetrics();
  if (report.batchItemFailures.length > 0) logger.warn('fan-out will be retried', { from: report.batchItemFailures[0]?.itemIdentifier });
  return { batchItemFailures: report.batchItemFailures };
};
