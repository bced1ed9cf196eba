/**
 * The key-heat recorder (bench/lib/dynamodb-recorder.ts) in front of the shared DynamoDB Local:
 * ConsumedCapacity given back as the client asked, the items and images it records, and the
 * units the analysis makes of them.
 */
import { PutItemCommand, QueryCommand, TransactWriteItemsCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { crc32, startDynamoDbRecorder, type DynamoDbRecorder } from '../../bench/lib/dynamodb-recorder';
import { requestUnits } from '../../bench/lib/key-heat';
import { SHOP_TABLE } from '../../functions/shared/tables';
import { localDynamoDbClient } from '../../local/services/dynamodb-local';
import { dynamoDbEndpoint } from '../support/env';
import { testTables } from '../support/tables';

let recorder: DynamoDbRecorder;
let client: DynamoDBClient;
let table: string;

beforeAll(async () => {
  table = (await testTables('recorder')).shop;
  recorder = await startDynamoDbRecorder({ upstream: dynamoDbEndpoint(), definition: (t) => (t === table ? SHOP_TABLE : undefined) });
  client = localDynamoDbClient(recorder.url);
});

afterAll(async () => {
  client.destroy();
  await recorder.close();
});

const product = (category: string) => ({
  pk: { S: 'T#a' },
  sk: { S: 'P#p' },
  version: { N: '1' },
  gsi1pk: { S: `T#a#C#${category}` },
  gsi1sk: { S: 'P#p' },
  gsi2pk: { S: 'MARKETPLACE' },
  gsi2sk: { S: 'a#p' },
});

async function lastRecord() {
  await recorder.settled();
  const records = recorder.records();
  return records[records.length - 1];
}

it('computes the x-amz-crc32 of the bodies it changes (CRC-32/IEEE)', () => {
  expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
});

it('answers with its own body length and crc32 where it strips ConsumedCapacity', async () => {
  const body = JSON.stringify({ TableName: table, Key: { pk: { S: 'T#none' }, sk: { S: 'P#none' } } });
  const res = await fetch(recorder.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'DynamoDB_20120810.GetItem',
      authorization: 'AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
    },
    body,
  });
  const text = await res.text();
  expect(JSON.parse(text)).toEqual({});
  expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
  // DynamoDB Local sends one; the SDK may check it against the body it gets.
  expect(res.headers.get('x-amz-crc32')).toBe(String(crc32(Buffer.from(text))));
  expect((await lastRecord())?.reported?.total).toBe(0.5);
});

it('gives ConsumedCapacity back as the client asked, and records what DynamoDB Local reported', async () => {
  const none = await client.send(new PutItemCommand({ TableName: table, Item: product('tea') }));
  expect(none.ConsumedCapacity).toBeUndefined();
  const record = await lastRecord();
  expect(record).toMatchObject({ operation: 'PutItem', ok: true, reported: { table: 1, indexes: { gsi1: 1, gsi2: 1 }, total: 3 } });
  expect(record && requestUnits(record).reduce((s, u) => s + u.units, 0)).toBe(3);

  // Written again unchanged: no index entry is touched (DynamoDB Local agrees).
  const total = await client.send(new PutItemCommand({ TableName: table, Item: product('tea'), ReturnConsumedCapacity: 'TOTAL' }));
  expect(total.ConsumedCapacity).toEqual({ TableName: table, CapacityUnits: 1 });
  const again = await lastRecord();
  expect(again && requestUnits(again).map((u) => u.units)).toEqual([1]);
  const indexes = await client.send(
    new PutItemCommand({ TableName: table, Item: { ...product('tea'), note: { S: 'x' } }, ReturnConsumedCapacity: 'INDEXES' }),
  );
  expect(indexes.ConsumedCapacity).toEqual({
    TableName: table,
    CapacityUnits: 3,
    Table: { CapacityUnits: 1 },
    GlobalSecondaryIndexes: { gsi1: { CapacityUnits: 1 }, gsi2: { CapacityUnits: 1 } },
  });
});

it('records an update with its images: a changed index key is a delete on the old key and a put on the new', async () => {
  await client.send(
    new UpdateItemCommand({
      TableName: table,
      Key: { pk: { S: 'T#a' }, sk: { S: 'P#p' } },
      UpdateExpression: 'SET gsi1pk = :c, version = version + :one',
      ExpressionAttributeValues: { ':c': { S: 'T#a#C#coffee' }, ':one': { N: '1' } },
    }),
  );
  const record = await lastRecord();
  expect(record?.items[0]).toMatchObject({ action: 'Update', before: { version: 1 }, after: { version: 2 } });
  expect(record && requestUnits(record)).toEqual([
    { table, pk: 'T#a', sk: 'P#p', kind: 'write', units: 1 },
    { table, index: 'gsi1', pk: 'T#a#C#tea', kind: 'write', units: 1 },
    { table, index: 'gsi1', pk: 'T#a#C#coffee', kind: 'write', units: 1 },
    { table, index: 'gsi2', pk: 'MARKETPLACE', kind: 'write', units: 1 },
  ]);
  expect(record?.reported?.total).toBe(4);
});

it('records each item of a transaction, a ConditionCheck included, at twice its units', async () => {
  await client.send(
    new TransactWriteItemsCommand({
      TransactItems: [
        { ConditionCheck: { TableName: table, Key: { pk: { S: 'T#a' }, sk: { S: 'P#p' } }, ConditionExpression: 'attribute_exists(pk)' } },
        {
          Update: {
            TableName: table,
            Key: { pk: { S: 'T#a' }, sk: { S: 'M#2026-12-01' } },
            UpdateExpression: 'ADD ordersToday :one',
            ExpressionAttributeValues: { ':one': { N: '1' } },
          },
        },
      ],
    }),
  );
  const record = await lastRecord();
  expect(record?.transactional).toBe(true);
  expect(record && requestUnits(record)).toEqual([
    { table, pk: 'T#a', sk: 'P#p', kind: 'write', units: 2 },
    { table, pk: 'T#a', sk: 'M#2026-12-01', kind: 'write', units: 2 },
  ]);
});

it('records a Query on the partition key it read', async () => {
  const out = await client.send(
    new QueryCommand({
      TableName: table,
      IndexName: 'gsi2',
      KeyConditionExpression: '#p = :p',
      ExpressionAttributeNames: { '#p': 'gsi2pk' },
      ExpressionAttributeValues: { ':p': { S: 'MARKETPLACE' } },
    }),
  );
  expect(out.Count).toBe(1);
  expect((await lastRecord())?.range).toEqual({ table, index: 'gsi2', pk: 'MARKETPLACE', units: 0.5, items: 1 });
});
