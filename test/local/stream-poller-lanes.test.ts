/**
 * The stream poller's parallelization factor, as Lambda's ParallelizationFactor: each shard is
 * read once, in order, and each record goes to one of N lanes by a hash of its partition key.
 * A lane busy with one key's records does not hold up the keys of the other lanes; one key's
 * records arrive in order, a batch at a time, with their retries in their own lane; caughtUp()
 * waits for every lane; the read stops while the lanes hold N × batchSize records. Factor 1 (the
 * default) is one batch per shard at a time, as before.
 * Against a real DynamoDB Local stream; no timings are asserted, only what arrived in what order.
 */
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { partitionLane, StreamPoller, type StreamPollerOptions } from '../../local/stream-poller';
import { dynamoDbEndpoint, testDynamoDbClient, testTables } from '../support';

let client: DynamoDBClient;
let table: string;
const pollers: StreamPoller[] = [];
const releases: (() => void)[] = [];

beforeAll(() => {
  client = testDynamoDbClient();
});

beforeEach(async () => {
  ({ shop: table } = await testTables('lanes'));
});

afterEach(async () => {
  for (const release of releases.splice(0)) release();
  await Promise.all(pollers.splice(0).map((p) => p.stop()));
});

afterAll(() => {
  client.destroy();
});

type Handler = (event: DynamoDBStreamEvent) => unknown;

async function startPoller(handler: Handler, options: Partial<StreamPollerOptions> = {}): Promise<StreamPoller> {
  const poller = new StreamPoller({
    tableName: table,
    dynamoDb: client,
    endpoint: dynamoDbEndpoint(),
    handler,
    functionName: 'LaneConsumer',
    pollIntervalMs: 50,
    retryDelayMs: 10,
    ...options,
  });
  await poller.start();
  pollers.push(poller);
  return poller;
}

/** One write of item (pk, 'A'), numbered `v`: the stream record says which write it is. */
const put = (pk: string, v: number) =>
  client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: pk }, sk: { S: 'A' }, v: { N: String(v) } } }));

const pkOf = (record: DynamoDBRecord) => record.dynamodb?.Keys?.pk?.S as string;
const vOf = (record: DynamoDBRecord) => Number(record.dynamodb?.NewImage?.v?.N);
const label = (record: DynamoDBRecord) => `${pkOf(record)}:${vOf(record)}`;

/** `count` partition keys, each in a lane of its own among `factor` lanes. */
function keysInDistinctLanes(count: number, factor: number, prefix: string): string[] {
  const keys: string[] = [];
  const lanes = new Set<number>();
  for (let i = 0; keys.length < count; i++) {
    const key = `${prefix}-${i}`;
    const lane = partitionLane(key, factor);
    if (lanes.has(lane)) continue;
    lanes.add(lane);
    keys.push(key);
  }
  return keys;
}

/** A promise the test resolves (and afterEach, should the test fail first). */
function gate(): { readonly opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  releases.push(open);
  return { opened, open };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('partitionLane', () => {
  it('puts a key in the same lane every time, within 0..factor-1, and spreads keys over the lanes', () => {
    const keys = Array.from({ length: 400 }, (_, i) => `T#tenant-${i}`);
    for (const factor of [1, 2, 4, 10]) {
      const counts = new Array<number>(factor).fill(0);
      for (const key of keys) {
        const lane = partitionLane(key, factor);
        expect(lane).toBe(partitionLane(key, factor));
        expect(Number.isInteger(lane) && lane >= 0 && lane < factor).toBe(true);
        counts[lane] = (counts[lane] ?? 0) + 1;
      }
      for (const count of counts) expect(count).toBeGreaterThan(0);
    }
    expect(partitionLane('', 10)).toBe(partitionLane('', 10));
  });

  it('refuses a factor outside 1..10, as Lambda does', () => {
    for (const parallelizationFactor of [0, 11, 1.5]) {
      expect(
        () =>
          new StreamPoller({
            tableName: 't',
            dynamoDb: client,
            endpoint: dynamoDbEndpoint(),
            handler: () => undefined,
            parallelizationFactor,
          }),
      ).toThrow(/parallelizationFactor/);
    }
  });
});

describe('parallelization factor 4', () => {
  const FACTOR = 4;

  it("delivers another lane's later records while one lane's invocation is blocked; the blocked key's records follow in order", async () => {
    const [a, b] = keysInDistinctLanes(2, FACTOR, 'k') as [string, string];
    const events: string[] = [];
    const blockA = gate();
    await startPoller(
      async (event) => {
        const labels = event.Records.map(label);
        events.push(`start ${labels.join(',')}`);
        if (event.Records.some((r) => pkOf(r) === a && vOf(r) === 1)) await blockA.opened;
        events.push(`end ${labels.join(',')}`);
      },
      { parallelizationFactor: FACTOR },
    );

    await put(a, 1);
    await waitFor(() => events.includes(`start ${a}:1`), "a's first record in the handler");
    // Written after a's record, while its invocation is blocked.
    await put(b, 1);
    await put(a, 2);
    await put(b, 2);
    await waitFor(() => events.some((e) => e.startsWith('end') && e.includes(`${b}:2`)), "b's second record handled");

    // a is still blocked: b's records went past it.
    expect(events).not.toContain(`end ${a}:1`);
    expect(events.filter((e) => e.includes(`${a}:2`))).toEqual([]);

    blockA.open();
    await waitFor(() => events.some((e) => e.startsWith('end') && e.includes(`${a}:2`)), "a's second record handled");
    const starts = events.filter((e) => e.startsWith('start')).flatMap((e) => e.slice('start '.length).split(','));
    expect(starts.filter((s) => s.startsWith(`${a}:`))).toEqual([`${a}:1`, `${a}:2`]);
    expect(starts.filter((s) => s.startsWith(`${b}:`))).toEqual([`${b}:1`, `${b}:2`]);
    // a's second record waited for its first invocation to end.
    expect(events.indexOf(`end ${a}:1`)).toBeLessThan(events.findIndex((e) => e.startsWith('start') && e.includes(`${a}:2`)));
  });

  it("hands each key's records over once each, in write order, in batches of one lane within the batch size", async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `key-${i}`);
    const WRITES = 8;
    const batches: DynamoDBRecord[][] = [];
    const poller = await startPoller(
      async (event) => {
        batches.push(event.Records);
        // Uneven invocation lengths: lanes finish in no particular order.
        await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 30)));
      },
      { parallelizationFactor: FACTOR, batchSize: 5 },
    );
    for (let v = 1; v <= WRITES; v++) await Promise.all(keys.map((k) => put(k, v)));
    await poller.caughtUp();

    const all = batches.flat();
    expect(all).toHaveLength(keys.length * WRITES);
    for (const key of keys) {
      expect([key, all.filter((r) => pkOf(r) === key).map(vOf)]).toEqual([key, Array.from({ length: WRITES }, (_, i) => i + 1)]);
    }
    for (const batch of batches) {
      expect(batch.length).toBeLessThanOrEqual(5);
      expect(new Set(batch.map((r) => partitionLane(pkOf(r), FACTOR))).size).toBe(1);
    }
    // More than one lane was used.
    expect(new Set(all.map((r) => partitionLane(pkOf(r), FACTOR))).size).toBeGreaterThan(1);
    expect(poller.failures).toEqual([]);
  });

  it('caughtUp() waits for every lane: it resolves only once the blocked invocation has finished', async () => {
    const [a, b] = keysInDistinctLanes(2, FACTOR, 'c') as [string, string];
    const handled: string[] = [];
    const blockA = gate();
    const poller = await startPoller(
      async (event) => {
        if (event.Records.some((r) => pkOf(r) === a)) await blockA.opened;
        handled.push(...event.Records.map(label));
      },
      { parallelizationFactor: FACTOR },
    );
    await put(a, 1);
    await put(b, 1);
    await waitFor(() => handled.includes(`${b}:1`), "b's record");

    let caughtUp = false;
    const waiting = poller.caughtUp().then(() => {
      caughtUp = true;
      return [...handled];
    });
    // A few reads of the shard to its end (the other lane idle), with a still blocked.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(caughtUp).toBe(false);
    blockA.open();
    expect(await waiting).toEqual([`${b}:1`, `${a}:1`]);
  });

  it("retries a failing lane's batch without reordering its key, while the other lanes go on", async () => {
    const [a, b] = keysInDistinctLanes(2, FACTOR, 'f') as [string, string];
    const attempts: string[][] = [];
    const handled: string[] = [];
    let failuresLeft = 3;
    const bHandledDuringFailures: string[] = [];
    const poller = await startPoller(
      (event) => {
        const labels = event.Records.map(label);
        attempts.push(labels);
        if (labels.includes(`${a}:1`) && failuresLeft > 0) {
          failuresLeft--;
          throw new Error('a cannot be handled yet');
        }
        if (failuresLeft > 0) bHandledDuringFailures.push(...labels.filter((l) => l.startsWith(`${b}:`)));
        handled.push(...labels);
        return undefined;
      },
      // Retries after 200, 400 and 800 ms: b's records, written at once, are handled meanwhile.
      { parallelizationFactor: FACTOR, maxRetryAttempts: 5, bisectBatchOnFunctionError: true, retryDelayMs: 200 },
    );
    await put(a, 1);
    await put(a, 2);
    await put(b, 1);
    await put(a, 3);
    await put(b, 2);
    await poller.caughtUp();

    expect(handled.filter((l) => l.startsWith(`${a}:`))).toEqual([`${a}:1`, `${a}:2`, `${a}:3`]);
    expect(handled.filter((l) => l.startsWith(`${b}:`))).toEqual([`${b}:1`, `${b}:2`]);
    // a's first record failed three times and was tried again each time before any later record of a.
    const ofA = attempts.map((labels) => labels.filter((l) => l.startsWith(`${a}:`))).filter((labels) => labels.length > 0);
    expect(ofA.filter((labels) => labels[0] === `${a}:1`).length).toBe(4);
    expect(ofA.flat().indexOf(`${a}:2`)).toBeGreaterThan(ofA.flat().indexOf(`${a}:1`));
    expect(bHandledDuringFailures.length).toBeGreaterThan(0);
    expect(poller.failures).toEqual([]);
  });

  it("retries a lane's batch from the record its batchItemFailures names, not the ones before it", async () => {
    const [a, b] = keysInDistinctLanes(2, FACTOR, 'r') as [string, string];
    const handled: string[] = [];
    let failed = false;
    const poller = await startPoller(
      (event) => {
        const failing = failed ? undefined : event.Records.find((r) => pkOf(r) === a && vOf(r) === 2);
        if (failing === undefined) {
          handled.push(...event.Records.map(label));
          return undefined;
        }
        failed = true;
        handled.push(...event.Records.slice(0, event.Records.indexOf(failing)).map(label));
        return { batchItemFailures: [{ itemIdentifier: failing.dynamodb?.SequenceNumber as string }] };
      },
      { parallelizationFactor: FACTOR },
    );
    await put(a, 1);
    await put(a, 2);
    await put(b, 1);
    await put(a, 3);
    await poller.caughtUp();

    expect(failed).toBe(true);
    expect(handled.filter((l) => l.startsWith(`${a}:`))).toEqual([`${a}:1`, `${a}:2`, `${a}:3`]);
    expect(handled.filter((l) => l.startsWith(`${b}:`))).toEqual([`${b}:1`]);
    expect(poller.failures).toEqual([]);
  });

  it('gives a poison record up in its own lane after bounded retries (bisected), and the lane moves on', async () => {
    const [a, b] = keysInDistinctLanes(2, FACTOR, 'p') as [string, string];
    const handled: string[] = [];
    const poller = await startPoller(
      (event) => {
        if (event.Records.some((r) => pkOf(r) === a && vOf(r) === 1)) throw new Error('poison');
        handled.push(...event.Records.map(label));
      },
      { parallelizationFactor: FACTOR, maxRetryAttempts: 1 },
    );
    await put(a, 1);
    await put(b, 1);
    await put(a, 2);
    await poller.caughtUp();

    expect(poller.failures.map((f) => f.records.map(label))).toEqual([[`${a}:1`]]);
    expect(handled.filter((l) => l.startsWith(`${a}:`))).toEqual([`${a}:2`]);
    expect(handled.filter((l) => l.startsWith(`${b}:`))).toEqual([`${b}:1`]);
  });

  it('stops reading while the lanes hold factor × batchSize records; the read resumes once they drain', async () => {
    const [a] = keysInDistinctLanes(1, FACTOR, 'm') as [string];
    const BATCH = 2;
    const WRITES = 40;
    const handled: number[] = [];
    const blockA = gate();
    const poller = await startPoller(
      async (event) => {
        if (event.Records.some((r) => vOf(r) === 1)) await blockA.opened;
        handled.push(...event.Records.map(vOf));
      },
      { parallelizationFactor: FACTOR, batchSize: BATCH },
    );
    for (let v = 1; v <= WRITES; v++) await put(a, v);
    // Reads of the shard while the one busy lane holds the records: none past the bound.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(poller.bufferedRecords).toBeGreaterThanOrEqual(FACTOR * BATCH);
    expect(poller.bufferedRecords).toBeLessThan((FACTOR + 1) * BATCH);
    expect(handled).toEqual([]);
    blockA.open();
    await poller.caughtUp();
    expect(handled).toEqual(Array.from({ length: WRITES }, (_, i) => i + 1));
    expect(poller.bufferedRecords).toBe(0);
  });

  it('stop() waits for the invocations in flight in every lane', async () => {
    const [a, b] = keysInDistinctLanes(2, FACTOR, 's') as [string, string];
    const started: string[] = [];
    const finished: string[] = [];
    const block = gate();
    const poller = await startPoller(
      async (event) => {
        started.push(...event.Records.map(pkOf));
        await block.opened;
        finished.push(...event.Records.map(pkOf));
      },
      { parallelizationFactor: FACTOR },
    );
    await put(a, 1);
    await put(b, 1);
    await waitFor(() => started.includes(a) && started.includes(b), 'both lanes invoked');
    let stopped = false;
    const stopping = poller.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stopped).toBe(false);
    block.open();
    await stopping;
    expect(finished.sort()).toEqual([a, b].sort());
  });
});

describe('parallelization factor 1 (the default)', () => {
  it("holds every key's records behind a blocked invocation: one batch per shard at a time, in stream order", async () => {
    const [a, b] = keysInDistinctLanes(2, 4, 'one') as [string, string];
    const events: string[] = [];
    const blockA = gate();
    const poller = await startPoller(async (event) => {
      const labels = event.Records.map(label);
      events.push(`start ${labels.join(',')}`);
      if (labels.includes(`${a}:1`)) await blockA.opened;
      events.push(`end ${labels.join(',')}`);
    });
    await put(a, 1);
    await waitFor(() => events.includes(`start ${a}:1`), "a's record in the handler");
    await put(b, 1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(events).toEqual([`start ${a}:1`]);
    expect(poller.bufferedRecords).toBe(0);
    blockA.open();
    await poller.caughtUp();
    expect(events).toEqual([`start ${a}:1`, `end ${a}:1`, `start ${b}:1`, `end ${b}:1`]);
  });
});
