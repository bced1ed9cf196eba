/** DynamoDB Streams consumer (in the VPC): bumps cache generations for every committed product change. */
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { sharedCache } from '../../composition/redis';
import { withLogContext } from '../../shared/observability';
import { invalidateBatch } from '../../streams/consumers';

export const handler = withLogContext(async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> =>
  invalidateBatch(event.Records, await sharedCache()),
);
