/**
 * DynamoDB Streams consumer (outside the VPC): pushes committed changes to WebSocket subscribers,
 * then purges the CDN paths that product changes affect (functions/streams/consumers.ts).
 */
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { fanOutServices } from '../../composition/streams';
import { withLogContext } from '../../shared/observability';
import { fanOutBatch } from '../../streams/consumers';

// A failed build rejects the invocation: Lambda retries the batch, and the next one builds again.
export const handler = withLogContext(async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> =>
  fanOutBatch(event.Records, await fanOutServices()),
);
