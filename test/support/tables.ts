import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { resetConfig } from '../../functions/shared/config';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../../functions/shared/clients/dynamodb';
import { LOCAL_DYNAMODB_TIMEOUT_MS, localDynamoDbClient } from '../../local/services/dynamodb-local';
import { createTables, type TableNames } from '../../local/services/tables';
import { dynamoDbEndpoint } from './env';
import { uniqueId } from './ids';

/** A document client for the shared DynamoDB Local, with its timeout (caller destroys it when done). */
export function testDocumentClient(endpoint = dynamoDbEndpoint()): DynamoDBDocumentClient {
  return createDocumentClient({ endpoint, timeoutMs: LOCAL_DYNAMODB_TIMEOUT_MS, connectTimeoutMs: LOCAL_DYNAMODB_TIMEOUT_MS });
}

/** A DynamoDB client for the shared DynamoDB Local (caller destroys it when done). */
export function testDynamoDbClient(): DynamoDBClient {
  return localDynamoDbClient(dynamoDbEndpoint());
}

/**
 * Fresh, uniquely named Shop and Connections tables in the shared DynamoDB Local (streams, GSIs
 * and TTL as in functions/shared/tables.ts). Sets SHOP_TABLE_NAME / CONNECTIONS_TABLE_NAME and
 * resets the parsed config so functions read the new names. Call it in beforeAll (or beforeEach
 * for a clean slate); tables are not deleted (DynamoDB Local runs in memory for this run only).
 */
export async function testTables(prefix = 'test'): Promise<TableNames> {
  const names: TableNames = { shop: uniqueId(`${prefix}-shop`), connections: uniqueId(`${prefix}-connections`) };
  const client = testDynamoDbClient();
  try {
    await createTables(client, names);
  } finally {
    client.destroy();
  }
  process.env.SHOP_TABLE_NAME = names.shop;
  process.env.CONNECTIONS_TABLE_NAME = names.connections;
  resetConfig();
  return names;
}
