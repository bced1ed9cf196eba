/**
 * Create the tables of functions/shared/tables.ts in DynamoDB Local (tests, local stack), from the
 * same definitions the CDK data stack uses.
 */
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  UpdateTimeToLiveCommand,
  type AttributeDefinition as DynamoAttributeDefinition,
  type CreateTableCommandInput,
  type DynamoDBClient,
  type KeySchemaElement,
} from '@aws-sdk/client-dynamodb';
import { TABLES, type AttributeDefinition, type TableDefinition, type TableKey } from '../../functions/shared/tables';
import { sleep } from '../../functions/shared/retry';

export type TableNames = Record<TableKey, string>;

const WAIT_TIMEOUT_MS = 60_000;
const POLL_MS = 50;

function keySchema(partitionKey: AttributeDefinition, sortKey: AttributeDefinition | undefined): KeySchemaElement[] {
  return [
    { AttributeName: partitionKey.name, KeyType: 'HASH' },
    ...(sortKey ? [{ AttributeName: sortKey.name, KeyType: 'RANGE' as const }] : []),
  ];
}

/** The CreateTable input for a definition: on-demand billing, GSIs projecting ALL, a stream when set. */
export function createTableInput(def: TableDefinition, name: string): CreateTableCommandInput {
  const attributes = new Map<string, AttributeDefinition['type']>();
  const addAttribute = (a: AttributeDefinition | undefined): void => {
    if (a === undefined) return;
    const known = attributes.get(a.name);
    if (known !== undefined && known !== a.type) {
      throw new Error(`table ${def.logicalName}: attribute ${a.name} is declared both ${known} and ${a.type}`);
    }
    attributes.set(a.name, a.type);
  };
  addAttribute(def.partitionKey);
  addAttribute(def.sortKey);
  for (const index of def.globalSecondaryIndexes) {
    addAttribute(index.partitionKey);
    addAttribute(index.sortKey);
  }
  const attributeDefinitions: DynamoAttributeDefinition[] = [...attributes].map(([AttributeName, AttributeType]) => ({
    AttributeName,
    AttributeType,
  }));

  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: attributeDefinitions,
    KeySchema: keySchema(def.partitionKey, def.sortKey),
    ...(def.globalSecondaryIndexes.length > 0
      ? {
          GlobalSecondaryIndexes: def.globalSecondaryIndexes.map((index) => ({
            IndexName: index.indexName,
            KeySchema: keySchema(index.partitionKey, index.sortKey),
            Projection: { ProjectionType: 'ALL' as const },
          })),
        }
      : {}),
    ...(def.stream ? { StreamSpecification: { StreamEnabled: true, StreamViewType: def.stream } } : {}),
  };
}

function errorName(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'name' in err ? String(err.name) : undefined;
}

async function waitUntilActive(client: DynamoDBClient, name: string): Promise<void> {
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  while (true) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE');
    if (Table?.TableStatus === 'ACTIVE' && indexesActive) return;
    if (Date.now() > deadline) throw new Error(`table ${name} not ACTIVE within ${WAIT_TIMEOUT_MS} ms (status ${Table?.TableStatus})`);
    await sleep(POLL_MS);
  }
}

async function enableTimeToLive(client: DynamoDBClient, name: string, attribute: string): Promise<void> {
  const { TimeToLiveDescription } = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));
  const status = TimeToLiveDescription?.TimeToLiveStatus;
  if ((status === 'ENABLED' || status === 'ENABLING') && TimeToLiveDescription?.AttributeName === attribute) return;
  await client.send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { Enabled: true, AttributeName: attribute } }));
}

async function createTable(client: DynamoDBClient, def: TableDefinition, name: string): Promise<void> {
  try {
    await client.send(new CreateTableCommand(createTableInput(def, name)));
  } catch (err) {
    // Idempotent: the table exists already (created by an earlier call).
    if (errorName(err) !== 'ResourceInUseException') throw err;
  }
  await waitUntilActive(client, name);
  if (def.timeToLiveAttribute) await enableTimeToLive(client, name, def.timeToLiveAttribute);
}

/** Create every table (idempotent) and wait until each is ACTIVE, with TTL enabled where defined. */
export async function createTables(client: DynamoDBClient, names: TableNames): Promise<void> {
  await Promise.all((Object.keys(TABLES) as TableKey[]).map((key) => createTable(client, TABLES[key], names[key])));
}

async function deleteTable(client: DynamoDBClient, name: string): Promise<void> {
  try {
    await client.send(new DeleteTableCommand({ TableName: name }));
  } catch (err) {
    if (errorName(err) === 'ResourceNotFoundException') return;
    throw err;
  }
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  while (true) {
    try {
      await client.send(new DescribeTableCommand({ TableName: name }));
    } catch (err) {
      if (errorName(err) === 'ResourceNotFoundException') return;
      throw err;
    }
    if (Date.now() > deadline) throw new Error(`table ${name} still exists ${WAIT_TIMEOUT_MS} ms after DeleteTable`);
    await sleep(POLL_MS);
  }
}

/** Delete every table (missing ones are fine) and wait until they are gone. */
export async function deleteTables(client: DynamoDBClient, names: TableNames): Promise<void> {
  await Promise.all((Object.keys(TABLES) as TableKey[]).map((key) => deleteTable(client, names[key])));
}
