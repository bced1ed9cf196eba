/** The DynamoDB document client: one per container, with connection and request timeouts. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { tablesConfig } from '../config';

export function createDocumentClient(
  options: { endpoint?: string; region?: string; timeoutMs?: number; connectTimeoutMs?: number } = {},
): DynamoDBDocumentClient {
  const timeout = options.timeoutMs ?? 1000;
  const client = new DynamoDBClient({
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    region: options.region ?? 'us-east-1',
    maxAttempts: 3,
    // Options, not a NodeHttpHandler of our own: the SDK builds its handler (a second copy of
    // @smithy/node-http-handler in the bundle would cost init time for nothing).
    requestHandler: {
      connectionTimeout: Math.min(timeout, options.connectTimeoutMs ?? 500),
      requestTimeout: timeout,
      throwOnRequestTimeout: true,
    },
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

let shared: DynamoDBDocumentClient | undefined;

export function sharedDocumentClient(): DynamoDBDocumentClient {
  if (!shared) {
    const config = tablesConfig();
    shared = createDocumentClient({
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      region: config.region,
      timeoutMs: config.timeoutMs,
      connectTimeoutMs: config.connectTimeoutMs,
    });
  }
  return shared;
}

export function closeSharedDocumentClient(): void {
  shared?.destroy();
  shared = undefined;
}
