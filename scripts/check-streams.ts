/**
 * npm run check:streams [-- --rounds N]
 *
 * Proves the local stream emulation loses nothing right after a poller starts, under load: each
 * round creates a fresh shop table, starts two pollers on its stream (the local stack runs two
 * consumers of the shop table), and writes at once, while two CPU-bound processes run and a
 * another table is written meanwhile (DynamoDB Local's stream sequence numbers are global
 * to the instance, so other tables' writes are what moves a fresh shard's first record away from
 * its starting sequence number: each round makes such writes while its pollers start). Each round writes KEYS items, each through VERSIONS changes
 * (insert, modifies, remove), concurrently across items and in order per item.
 *
 * Prints delivered/expected per poller and fails (exit 1) on any loss, duplicate or reordering
 * per key.
 */
import { DeleteItemCommand, PutItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { createTables, localDynamoDbClient, startDynamoDbLocal, type TableNames } from '../local/services';
import { StreamPoller } from '../local/stream-poller';
import { sleep } from '../functions/shared/retry';

const KEYS = 4;
const VERSIONS = 4;
const POLLERS = 2;
/** Writes to another table while each round's pollers start. */
const OTHER_WRITES = 5;
const DELIVERY_TIMEOUT_MS = 20_000;
/** After everything arrived: how long to keep listening for duplicates. */
const SETTLE_MS = 300;

interface Delivery {
  readonly key: string;
  readonly version: number;
  readonly eventId: string;
}

function burnCpu(): ChildProcess {
  return spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
}

/** Writes to another table (see the header): the sequence numbers they use are what the check needs. */
async function writeElsewhere(db: DynamoDBClient, table: string, round: number): Promise<void> {
  await Promise.all(
    Array.from({ length: OTHER_WRITES }, (_, i) =>
      db.send(new PutItemCommand({ TableName: table, Item: { pk: { S: 'T#background' }, sk: { S: `P#${round}-${i}` } } })),
    ),
  );
}

/** One item through VERSIONS changes; `v` carries the change's number. */
async function writeItem(db: DynamoDBClient, table: string, key: string): Promise<void> {
  const Key = { pk: { S: 'T#check' }, sk: { S: key } };
  await db.send(new PutItemCommand({ TableName: table, Item: { ...Key, v: { N: '1' } } }));
  for (let version = 2; version < VERSIONS; version++) {
    await db.send(
      new UpdateItemCommand({
        TableName: table,
        Key,
        UpdateExpression: 'SET v = :v',
        ExpressionAttributeValues: { ':v': { N: String(version) } },
      }),
    );
  }
  await db.send(new DeleteItemCommand({ TableName: table, Key }));
}

function toDelivery(record: DynamoDBRecord): Delivery {
  const image = record.eventName === 'REMOVE' ? undefined : record.dynamodb?.NewImage;
  return {
    key: record.dynamodb?.Keys?.sk?.S ?? '?',
    version: image === undefined ? VERSIONS : Number(image.v?.N),
    eventId: record.eventID ?? '?',
  };
}

/** Every problem with one poller's deliveries, empty when exact. */
function problems(deliveries: readonly Delivery[], keys: readonly string[]): string[] {
  const found: string[] = [];
  const ids = new Set<string>();
  for (const d of deliveries) {
    if (ids.has(d.eventId)) found.push(`duplicate ${d.key} v${d.version}`);
    ids.add(d.eventId);
  }
  for (const key of keys) {
    const versions = deliveries.filter((d) => d.key === key).map((d) => d.version);
    const expected = Array.from({ length: VERSIONS }, (_, i) => i + 1);
    if (versions.join() !== expected.join()) found.push(`${key}: got versions [${versions.join(', ')}], expected [${expected.join(', ')}]`);
  }
  return found;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '50' } } });
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);

  const burners = [burnCpu(), burnCpu()];
  const dynamo = await startDynamoDbLocal();
  const db = localDynamoDbClient(dynamo.endpoint);
  let failed = 0;
  let delivered = 0;
  let expected = 0;
  const started = Date.now();
  try {
    const background: TableNames = { shop: 'check-background-shop', connections: 'check-background-connections' };
    await createTables(db, background);
    for (let round = 1; round <= rounds; round++) {
      const tables: TableNames = { shop: `check-${round}-shop`, connections: `check-${round}-connections` };
      await createTables(db, tables);
      const received: Delivery[][] = Array.from({ length: POLLERS }, () => []);
      const pollers = received.map(
        (sink, i) =>
          new StreamPoller({
            tableName: tables.shop,
            dynamoDb: db,
            endpoint: dynamo.endpoint,
            functionName: `Consumer${i + 1}`,
            pollIntervalMs: 100,
            handler: (event: DynamoDBStreamEvent) => {
              sink.push(...event.Records.map(toDelivery));
              return Promise.resolve();
            },
          }),
      );
      await Promise.all([...pollers.map((p) => p.start()), writeElsewhere(db, background.shop, round)]);
      // Immediately after start(): this is the write a LATEST reader must not lose.
      const keys = Array.from({ length: KEYS }, (_, i) => `P#item-${i}`);
      await Promise.all(keys.map((key) => writeItem(db, tables.shop, key)));

      const want = KEYS * VERSIONS;
      const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
      while (received.some((r) => r.length < want) && Date.now() < deadline) await sleep(20);
      await sleep(SETTLE_MS);
      await Promise.all(pollers.map((p) => p.stop()));

      const report = received.map((r, i) => ({ poller: i + 1, count: r.length, problems: problems(r, keys) }));
      delivered += report.reduce((sum, r) => sum + r.count, 0);
      expected += want * POLLERS;
      const bad = report.filter((r) => r.problems.length > 0);
      const counts = report.map((r) => `${r.count}/${want}`).join(' ');
      if (bad.length > 0) {
        failed++;
        console.log(`round ${round}: ${counts} FAILED`);
        for (const r of bad) for (const p of r.problems) console.log(`  poller ${r.poller}: ${p}`);
      } else {
        console.log(`round ${round}: ${counts}`);
      }
    }
  } finally {
    db.destroy();
    await dynamo.stop();
    for (const b of burners) b.kill('SIGKILL');
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`\nstreams: ${rounds - failed}/${rounds} rounds exact, ${delivered}/${expected} records delivered, ${seconds} s`);
  if (failed > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
