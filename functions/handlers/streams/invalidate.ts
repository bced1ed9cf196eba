/** DynamoDB Streams consumer (in the VPC): bumps cache generations for every committed product change. */
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { sharedCache } from '../../composition/redis';
import { invalidateCacheFromStream } from '../../cache/stream-invalidation';
import { logger, withLogContext } from '../../shared/observability';

export const handler = withLogContext(async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
  const result = await invalidateCacheFromStream(event.Records, await sharedCache());
  if (result.batchItemFailures.length > 0) logger.warn('cache invalidation will be retried');
  return result;
});
