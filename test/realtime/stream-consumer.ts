/**
 * The real stream path of the dashboard figures, for tests: the fan-out consumer (FanOut, with the
 * real repository and connection store; nobody subscribes, so nothing is posted) fed from the Shop
 * table's DynamoDB Local stream by the stream poller, with the deployed settings of
 * lib/stacks/streams-stack.ts (batches of 100, 5 retries, bisection on error). `settled` writes a
 * marker item into a tenant's partition and resolves once the consumer has handled it, and so
 * every change of that tenant written before it: no waiting on a clock.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoShopRepository } from '../../functions/catalog/dynamodb/shop-repository';
import { DynamoConnectionStore } from '../../functions/realtime/connection-store';
import { FanOut } from '../../functions/streams/fan-out';
import type { ConnectionNotifier } from '../../functions/realtime/notifier';
import { createDocumentClient } from '../../functions/shared/clients/dynamodb';
import { shopKeys } from '../../functions/shared/tables';
import { StreamPoller, type StreamBatchFailure } from '../../local/stream-poller';
import { dynamoDbEndpoint, testDocumentClient, testDynamoDbClient, testTables } from '../support';

export interface StreamConsumer {
  readonly repo: DynamoShopRepository;
  readonly db: ReturnType<typeof createDocumentClient>;
  readonly table: string;
  /** Batches the poller gave up on (sent to the failure queue, in AWS). */
  readonly givenUp: readonly StreamBatchFailure[];
  /** Resolves once the consumer has handled every change of the tenant written before this call. */
  settled(tenantId: string): Promise<void>;
  stop(): Promise<void>;
}

/** Nobody subscribes in these tests: nothing is posted. */
const notifier: ConnectionNotifier = {
  post: () => Promise.reject(new Error('no connection expected')),
  disconnect: () => Promise.resolve(),
};

const MARKER = 'X#settled-';

export async function startStreamConsumer(prefix: string): Promise<StreamConsumer> {
  const tables = await testTables(prefix);
  const db = testDocumentClient();
  const control = testDynamoDbClient();
  const repo = new DynamoShopRepository(db, tables.shop);
  const fanOut = new FanOut({ connections: new DynamoConnectionStore(db, tables.connections), repo, notifier });
  const handled = new Set<string>();
  const waiting = new Map<string, () => void>();
  const givenUp: StreamBatchFailure[] = [];
  const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    const report = await fanOut.handle(event.Records);
    const failedAt = event.Records.findIndex((r) => r.dynamodb?.SequenceNumber === report.batchItemFailures[0]?.itemIdentifier);
    event.Records.forEach((record, i) => {
      const sk = record.dynamodb?.Keys?.sk?.S;
      // A marker counts once every record before it in the batch was handled.
      if (sk?.startsWith(MARKER) && (failedAt < 0 || i < failedAt)) {
        handled.add(sk);
        waiting.get(sk)?.();
      }
    });
    return { batchItemFailures: report.batchItemFailures };
  };
  const poller = new StreamPoller({
    tableName: tables.shop,
    dynamoDb: control,
    endpoint: dynamoDbEndpoint(),
    handler,
    functionName: 'FanOut',
    batchSize: 100,
    maxRetryAttempts: 5,
    bisectBatchOnFunctionError: true,
    pollIntervalMs: 50,
    onFailure: (failure) => givenUp.push(failure),
  });
  await poller.start();
  let markers = 0;
  return {
    repo,
    db,
    table: tables.shop,
    givenUp,
    async settled(tenantId) {
      const sk = `${MARKER}${++markers}`;
      const seen = new Promise<void>((resolve, reject) => {
        // Not a timing assertion: a consumer that never gets there fails the test instead of hanging it.
        const timer = setTimeout(() => reject(new Error(`the stream consumer did not reach ${sk} within 30 s`)), 30_000);
        waiting.set(sk, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      await db.send(new PutCommand({ TableName: tables.shop, Item: { pk: shopKeys.tenant(tenantId), sk, entity: 'marker' } }));
      if (handled.has(sk)) waiting.get(sk)?.();
      try {
        await seen;
      } finally {
        waiting.delete(sk);
      }
    },
    async stop() {
      await poller.stop();
      db.destroy();
      control.destroy();
    },
  };
}
