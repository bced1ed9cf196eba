/**
 * The stream poller is a DynamoDB Streams event source mapping as Lambda runs one: real stream
 * of a DynamoDB Local table, Lambda's event shape, batch size, partial batch failures, bounded
 * retries with bisection, and an on-failure list, after which the shard moves on.
 */
import { BatchWriteItemCommand, DeleteItemCommand, PutItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { StreamPoller, type StreamBatchFailure, type StreamPollerOptions } from '../../local/stream-poller';
import { dynamoDbEndpoint, testDynamoDbClient, testTables } from '../support';

let client: DynamoDBClient;
let table: string;
const pollers: StreamPoller[] = [];

beforeAll(() => {
  client = testDynamoDbClient();
});

beforeEach(async () => {
  // A fresh table per test: each starts with an empty stream.
  ({ shop: table } = await testTables('poller'));
});

afterEach(async () => {
  await Promise.all(pollers.splice(0).map((p) => p.stop()));
});

afterAll(() => {
  client.destroy();
});

/** Sync or async, as the poller's runtime takes both; returns nothing or a DynamoDBBatchResponse. */
type Handler = (event: DynamoDBStreamEvent) => unknown;

async function startPoller(handler: Handler, options: Partial<StreamPollerOptions> = {}): Promise<StreamPoller> {
  const poller = new StreamPoller({
    tableName: table,
    dynamoDb: client,
    endpoint: dynamoDbEndpoint(),
    handler,
    functionName: 'TestConsumer',
    pollIntervalMs: 100,
    retryDelayMs: 10,
    ...options,
  });
  await poller.start();
  pollers.push(poller);
  return poller;
}

const put = (pk: string, extra: Record<string, { S: string } | { N: string }> = {}) =>
  client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: pk }, sk: { S: 'A' }, ...extra } }));

const putAll = (pks: string[]) =>
  client.send(
    new BatchWriteItemCommand({
      RequestItems: { [table]: pks.map((pk) => ({ PutRequest: { Item: { pk: { S: pk }, sk: { S: 'A' } } } })) },
    }),
  );

const pkOf = (record: DynamoDBRecord) => record.dynamodb?.Keys?.pk?.S as string;

async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - started;
}

describe('delivery', () => {
  it("hands a write to the handler within a second, in Lambda's DynamoDBStreamEvent shape", async () => {
    const records: DynamoDBRecord[] = [];
    const poller = await startPoller((event) => {
      records.push(...event.Records);
    });

    const writtenAt = Date.now();
    await put('p1', { name: { S: 'first' }, price: { N: '100' } });
    const elapsed = await waitFor(() => records.length === 1);
    expect(elapsed).toBeLessThan(1000);

    const [record] = records;
    expect(record).toMatchObject({
      eventName: 'INSERT',
      eventSource: 'aws:dynamodb',
      eventVersion: expect.any(String),
      awsRegion: expect.any(String),
      eventID: expect.any(String),
      eventSourceARN: expect.stringMatching(new RegExp(`^arn:aws:dynamodb:[^:]+:[^:]+:table/${table}/stream/`)),
      dynamodb: {
        Keys: { pk: { S: 'p1' }, sk: { S: 'A' } },
        NewImage: { pk: { S: 'p1' }, sk: { S: 'A' }, name: { S: 'first' }, price: { N: '100' } },
        SequenceNumber: expect.stringMatching(/^\d+$/),
        StreamViewType: 'NEW_AND_OLD_IMAGES',
        SizeBytes: expect.any(Number),
      },
    });
    expect(record?.dynamodb?.OldImage).toBeUndefined();
    // Epoch seconds, as in Lambda's event (DynamoDB Local rounds down to the minute).
    const created = record?.dynamodb?.ApproximateCreationDateTime as number;
    expect(Number.isInteger(created)).toBe(true);
    expect(writtenAt / 1000 - created).toBeGreaterThanOrEqual(-1);
    expect(writtenAt / 1000 - created).toBeLessThan(61);
    expect(poller.failures).toEqual([]);
  });

  it('delivers MODIFY with both images and REMOVE with the old image, in order', async () => {
    const records: DynamoDBRecord[] = [];
    await startPoller((event) => {
      records.push(...event.Records);
    });
    await put('p1', { name: { S: 'before' } });
    await client.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: 'p1' }, sk: { S: 'A' } },
        UpdateExpression: 'SET #n = :n',
        ExpressionAttributeNames: { '#n': 'name' },
        ExpressionAttributeValues: { ':n': { S: 'after' } },
      }),
    );
    await client.send(new DeleteItemCommand({ TableName: table, Key: { pk: { S: 'p1' }, sk: { S: 'A' } } }));
    await waitFor(() => records.length === 3);

    expect(records.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'REMOVE']);
    expect(records[1]?.dynamodb).toMatchObject({ OldImage: { name: { S: 'before' } }, NewImage: { name: { S: 'after' } } });
    expect(records[2]?.dynamodb).toMatchObject({ OldImage: { name: { S: 'after' } } });
    expect(records[2]?.dynamodb?.NewImage).toBeUndefined();
  });

  it('starts at LATEST: writes before start() are not delivered', async () => {
    await put('before-start');
    const records: DynamoDBRecord[] = [];
    await startPoller((event) => {
      records.push(...event.Records);
    });
    await put('after-start');
    await waitFor(() => records.length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(records.map(pkOf)).toEqual(['after-start']);
  });

  it("delivers a fresh table's first writes after other tables' streams moved on", async () => {
    // DynamoDB Local numbers stream records across all tables, so these put this table's first
    // record past its shard's starting sequence number: a reader that asked for LATEST then got
    // TrimmedDataAccessException, took LATEST again, and skipped that record.
    const { shop: other } = await testTables('poller-other');
    for (let i = 0; i < 5; i++) {
      await client.send(new PutItemCommand({ TableName: other, Item: { pk: { S: `other-${i}` }, sk: { S: 'A' } } }));
    }
    const records: DynamoDBRecord[] = [];
    await startPoller((event) => {
      records.push(...event.Records);
    });
    await put('first');
    await put('first', { name: { S: 'second version' } });
    await waitFor(() => records.length >= 2);
    expect(records.map((r) => [pkOf(r), r.eventName])).toEqual([
      ['first', 'INSERT'],
      ['first', 'MODIFY'],
    ]);
  });

  it('drops records no filter matches, as an event source mapping with FilterCriteria does', async () => {
    const records: DynamoDBRecord[] = [];
    await startPoller(
      (event) => {
        records.push(...event.Records);
      },
      { filters: [{ dynamodb: { Keys: { pk: { S: [{ prefix: 'keep' }] } } } }] },
    );
    await putAll(['drop-1', 'keep-1', 'drop-2', 'keep-2']);
    await put('keep');
    await waitFor(() => records.length >= 3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(records.map(pkOf)).toEqual(['keep-1', 'keep-2', 'keep']);
  });

  it('keeps batches within the batch size', async () => {
    const batches: string[][] = [];
    await startPoller(
      (event) => {
        batches.push(event.Records.map(pkOf));
      },
      { batchSize: 2, pollIntervalMs: 300 },
    );
    await putAll(['a', 'b', 'c', 'd', 'e']);
    await waitFor(() => batches.flat().length === 5);
    expect(batches.flat()).toEqual(['a', 'b', 'c', 'd', 'e']);
    for (const batch of batches) expect(batch.length).toBeLessThanOrEqual(2);
  });

  it('stops polling on stop()', async () => {
    const records: DynamoDBRecord[] = [];
    const poller = await startPoller((event) => {
      records.push(...event.Records);
    });
    await poller.stop();
    await put('after-stop');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(records).toEqual([]);
  });
});

describe('failures', () => {
  it('retries from the first record named in batchItemFailures, not the ones before it', async () => {
    const invocations: string[][] = [];
    let failed = false;
    const poller = await startPoller(
      (event) => {
        const pks = event.Records.map(pkOf);
        invocations.push(pks);
        const b = event.Records.find((r) => pkOf(r) === 'b');
        if (b && !failed) {
          failed = true;
          return { batchItemFailures: [{ itemIdentifier: b.dynamodb?.SequenceNumber as string }] };
        }
        return { batchItemFailures: [] };
      },
      { pollIntervalMs: 300 },
    );
    await putAll(['a', 'b', 'c']);
    await waitFor(() => failed && invocations.flat().filter((pk) => pk === 'b').length === 2 && invocations.flat().includes('c'));

    const failing = invocations.findIndex((pks) => pks.includes('b'));
    const retry = invocations[failing + 1] as string[];
    // The retry starts at b and carries what followed it in the failed batch.
    expect(retry[0]).toBe('b');
    expect(retry).toEqual((invocations[failing] as string[]).slice((invocations[failing] as string[]).indexOf('b')));
    expect(invocations.flat().filter((pk) => pk === 'a')).toHaveLength(1);
    expect(poller.failures).toEqual([]);
  });

  it('treats an unknown itemIdentifier as a failure of the whole batch', async () => {
    const invocations: string[][] = [];
    await startPoller((event) => {
      invocations.push(event.Records.map(pkOf));
      return invocations.length === 1 ? { batchItemFailures: [{ itemIdentifier: 'not-a-sequence-number' }] } : undefined;
    });
    await put('only');
    await waitFor(() => invocations.length === 2);
    expect(invocations).toEqual([['only'], ['only']]);
  });

  it('bisects a failing batch, gives the poison record up after bounded retries, and moves on', async () => {
    const delivered: string[] = [];
    const onFailure = jest.fn<undefined, [StreamBatchFailure]>();
    const poller = await startPoller(
      (event) => {
        const pks = event.Records.map(pkOf);
        if (pks.includes('poison')) throw new Error('cannot handle poison');
        delivered.push(...pks);
      },
      { maxRetryAttempts: 2, bisectBatchOnFunctionError: true, onFailure, pollIntervalMs: 300 },
    );
    await putAll(['ok1', 'poison', 'ok2']);
    await waitFor(() => poller.failures.length === 1 && delivered.includes('ok1') && delivered.includes('ok2'));

    expect(poller.failures[0]).toMatchObject({
      functionName: 'TestConsumer',
      condition: 'RetryAttemptsExhausted',
      batchSize: 1,
      attempts: 3,
      error: expect.stringContaining('cannot handle poison'),
      streamArn: expect.stringContaining(table),
      shardId: expect.any(String),
    });
    expect(poller.failures[0]?.records.map(pkOf)).toEqual(['poison']);
    expect(onFailure).toHaveBeenCalledTimes(1);

    // The shard moved on: later records still arrive.
    await put('later');
    await waitFor(() => delivered.includes('later'));
    expect(delivered.filter((pk) => pk === 'ok1')).toHaveLength(1);
  });

  it('without bisection, retries the whole batch and gives all of it up', async () => {
    let calls = 0;
    const poller = await startPoller(
      () => {
        calls++;
        throw new Error('always');
      },
      { maxRetryAttempts: 1, bisectBatchOnFunctionError: false },
    );
    await put('x');
    await waitFor(() => poller.failures.length === 1);
    expect(calls).toBe(2);
    expect(poller.failures[0]).toMatchObject({ attempts: 2, batchSize: 1 });
  });
});
