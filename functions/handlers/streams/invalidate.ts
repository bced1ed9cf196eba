/** DynamoDB Streams consumer (in the VPC): invalidates caches and purges the CDN for every committed product change. */
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { appServices } from '../../app';
import { CloudFrontPurger, noCdn, type CdnPurger } from '../../cdn/cdn-purger';
import { invalidateFromStream } from '../../cache/stream-invalidation';
import { appConfig } from '../../shared/config';
import { logger } from '../../shared/observability';

let cdn: CdnPurger | undefined;

export const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
  const distributionId = appConfig().cdnDistributionId;
  cdn ??= distributionId ? CloudFrontPurger.create(distributionId) : noCdn;
  const { cache } = await appServices();
  const result = await invalidateFromStream(event.Records, { cache, cdn });
  if (result.batchItemFailures.length > 0) logger.warn('invalidation will be retried');
  return result;
};
