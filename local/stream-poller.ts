/**
 * A DynamoDB Streams event source mapping, as Lambda runs one, for the local stack and tests:
 * polls a table's stream through the real @aws-sdk/client-dynamodb-streams client and hands
 * batches to a handler in Lambda's DynamoDBStreamEvent shape.
 *  - shards: DescribeStream at start (open shards from LATEST, or TRIM_HORIZON when asked) and
 *    every `shardRefreshMs` (new shards from TRIM_HORIZON, a child only after its parent is read);
 *  - LATEST never reaches DynamoDB Local as an iterator type (see `pinLatest`): the poller reads an
 *    open shard to its tip at start and continues after the last record it saw;
 *  - `parallelizationFactor` 1 (the default): one batch per shard at a time, at most `batchSize`
 *    records, in order;
 *  - `parallelizationFactor` N > 1, as Lambda's ParallelizationFactor: each shard is still read in
 *    order, once, and each record goes to one of N lanes of its shard by a hash of its partition
 *    key value (partitionLane), so every record of a key is in the same lane. Each lane delivers
 *    its own batches (at most `batchSize`, in order, with the retries below) while the other lanes
 *    go on; the shard read goes on meanwhile, until the lanes hold N × `batchSize` records not
 *    delivered yet (then it waits for a lane to finish a batch: fewer than (N + 1) × `batchSize`
 *    records are ever held). A closed shard's children start
 *    once its lanes are drained;
 *  - `{batchItemFailures}` retries from the first failed record; a thrown error retries the batch,
 *    split in two first when `bisectBatchOnFunctionError`; after `maxRetryAttempts` the records go
 *    to the on-failure list (and `onFailure`) and the shard moves on.
 */
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record,
  type AttributeValue as SdkAttributeValue,
  type Shard,
  type ShardIteratorType,
} from '@aws-sdk/client-dynamodb-streams';
import type { AttributeValue, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { DEFAULT_REGION, FAKE_CREDENTIALS } from './dev-defaults';
import type { LoadedHandler } from './handlers';
import { invoke } from './lambda-context';
import { compileFilters, type EventMatcher } from './event-filter';
import { describeError, silentLogger, type Logger } from './log';

export interface StreamPollerOptions {
  /** The stream to read; or give `tableName` and `dynamoDb` to look it up. */
  readonly streamArn?: string;
  readonly tableName?: string;
  /** Used to find the table's LatestStreamArn. */
  readonly dynamoDb?: DynamoDBClient;
  /** @default a client for `endpoint` with fake credentials */
  readonly streams?: DynamoDBStreamsClient;
  /** DynamoDB (Local) endpoint, when `streams` is not given. */
  readonly endpoint?: string;
  /** The function; or `loadHandler` to load it on first use. */
  readonly handler?: LoadedHandler;
  readonly loadHandler?: () => Promise<LoadedHandler>;
  /** @default 'StreamConsumer' */
  readonly functionName?: string;
  /** @default 100 */
  readonly batchSize?: number;
  /**
   * Concurrent batches per shard (Lambda's ParallelizationFactor, 1 to 10): records of one
   * partition key always go to the same lane, in order; lanes run concurrently. @default 1
   */
  readonly parallelizationFactor?: number;
  /**
   * The name of the table's partition (HASH) key, whose value picks a record's lane. @default
   * the table's KeySchema when `tableName` is given; else the first attribute of each record's Keys
   */
  readonly partitionKey?: string;
  /** Wait between empty GetRecords calls. @default 200 ms */
  readonly pollIntervalMs?: number;
  /** How often DescribeStream looks for new shards. @default 1000 ms */
  readonly shardRefreshMs?: number;
  /** Retries of a failing batch before it goes to the on-failure list. @default 3 */
  readonly maxRetryAttempts?: number;
  /** @default true */
  readonly bisectBatchOnFunctionError?: boolean;
  /** Honour `{batchItemFailures}` (FunctionResponseTypes: ReportBatchItemFailures). @default true */
  readonly reportBatchItemFailures?: boolean;
  /** Wait before a retry (doubles with each attempt). @default 50 ms */
  readonly retryDelayMs?: number;
  /** Function timeout. @default 30 s */
  readonly timeoutMs?: number;
  /** Where the open shards start at start(). @default LATEST */
  readonly startingPosition?: 'LATEST' | 'TRIM_HORIZON';
  /**
   * FilterCriteria patterns (see event-filter.ts): a record matching none is dropped, never
   * handed to the function. @default none: every record is delivered
   */
  readonly filters?: readonly unknown[];
  /** Called for every batch given up on (the on-failure destination). */
  readonly onFailure?: (failure: StreamBatchFailure) => void;
  /** @default silent */
  readonly logger?: Logger;
}

/** What Lambda sends to an on-failure destination, plus the records themselves. */
export interface StreamBatchFailure {
  readonly functionName: string;
  readonly streamArn: string;
  readonly shardId: string;
  readonly startSequenceNumber: string;
  readonly endSequenceNumber: string;
  readonly batchSize: number;
  /** Invocations of these records, the first one included. */
  readonly attempts: number;
  readonly condition: 'RetryAttemptsExhausted';
  readonly error: string;
  readonly records: readonly DynamoDBRecord[];
  readonly timestamp: string;
}

interface ShardState {
  readonly id: string;
  readonly parentId: string | undefined;
  /** waiting: parent not read yet; reading: a loop runs; done: closed and read, or skipped. */
  status: 'waiting' | 'reading' | 'done';
  /** Start at the shard's tip (LATEST at start()) rather than at its oldest record. */
  readonly fromTip: boolean;
  /**
   * Last sequence number handed to the function (success or given up), or, for a shard started
   * at its tip, the last record it held at start. Undefined: nothing of the shard is behind us.
   */
  checkpoint: string | undefined;
  /** When (performance.now()) the last GetRecords that found nothing new was sent. */
  emptyReadAt?: number;
  /** Parallelization factor > 1: the shard's lanes, and each lane's `enqueued` at emptyReadAt. */
  lanes?: LaneSet;
  emptyReadMarks?: readonly number[];
}

/** One lane of a shard: records of the keys that hash to it, delivered in order, a batch at a time. */
interface Lane {
  readonly index: number;
  /** Read, not yet handed to the function. */
  readonly queue: DynamoDBRecord[];
  /** Records put in the lane so far, and records whose invocation finished (success or given up). */
  enqueued: number;
  finished: number;
  running: boolean;
}

interface LaneSet {
  readonly lanes: readonly Lane[];
  /** Records in the lanes whose invocation has not finished (queued or in flight). */
  buffered: number;
  /** Woken whenever a lane finishes a batch or goes idle. */
  waiters: (() => void)[];
}

type Outcome = { readonly ok: true } | { readonly ok: false; readonly from: number; readonly threw: boolean; readonly error: string };

export class StreamPoller {
  /** Batches given up on, oldest first (the local on-failure destination). */
  readonly failures: StreamBatchFailure[] = [];
  /** Number of function invocations so far. */
  invocations = 0;

  private readonly options: StreamPollerOptions;
  private readonly streams: DynamoDBStreamsClient;
  private readonly ownsClient: boolean;
  private readonly shards = new Map<string, ShardState>();
  private readonly loops = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private streamArn = '';
  private handler: LoadedHandler | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private started = false;
  private readonly logged = new Set<string>();
  private readonly matches: EventMatcher;
  private readonly factor: number;
  /** The partition key's name: the option, or the table's HASH key; undefined: each record's first key. */
  private partitionKey: string | undefined;

  constructor(options: StreamPollerOptions) {
    if (options.handler === undefined && options.loadHandler === undefined) throw new Error('StreamPoller: give handler or loadHandler');
    if (options.streamArn === undefined && (options.tableName === undefined || options.dynamoDb === undefined)) {
      throw new Error('StreamPoller: give streamArn, or tableName and dynamoDb');
    }
    if (options.streams === undefined && options.endpoint === undefined) throw new Error('StreamPoller: give streams or endpoint');
    const factor = options.parallelizationFactor ?? 1;
    if (!Number.isInteger(factor) || factor < 1 || factor > 10) {
      throw new Error(`StreamPoller: parallelizationFactor must be an integer from 1 to 10 (got ${factor})`);
    }
    this.factor = factor;
    this.partitionKey = options.partitionKey;
    this.options = options;
    this.matches = compileFilters(options.filters ?? []);
    this.handler = options.handler;
    this.ownsClient = options.streams === undefined;
    this.streams =
      options.streams ??
      new DynamoDBStreamsClient({
        endpoint: options.endpoint,
        region: process.env.AWS_REGION || DEFAULT_REGION,
        credentials: FAKE_CREDENTIALS,
        maxAttempts: 2,
      });
  }

  /** Concurrent batches per shard (the option, 1 by default). */
  get parallelizationFactor(): number {
    return this.factor;
  }

  /** Records read into the lanes whose invocation has not finished (0 with a factor of 1). */
  get bufferedRecords(): number {
    let count = 0;
    for (const state of this.shards.values()) count += state.lanes?.buffered ?? 0;
    return count;
  }

  get functionName(): string {
    return this.options.functionName ?? 'StreamConsumer';
  }

  /** Finds the shards and takes an iterator on every open one; resolves once polling runs. */
  async start(): Promise<void> {
    if (this.started) throw new Error('StreamPoller: already started');
    this.started = true;
    this.streamArn = this.options.streamArn ?? (await this.lookUpStreamArn());
    await this.refreshShards(true);
    this.scheduleRefresh();
  }

  /** Stops polling; the invocations in progress (one per busy lane) finish first. */
  async stop(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.refreshTimer);
    await this.refreshing?.catch(() => undefined);
    await Promise.allSettled([...this.loops]);
    if (this.ownsClient) this.streams.destroy();
  }

  /**
   * Resolves once every shard being read has been read to its end after this call, with every
   * record found handed to the function and its invocation finished: a record written before the
   * call has been processed (or given up on). Tests wait on it before they look for what a stream
   * consumer does, or make sure it does nothing more. With lanes, every record in a lane when the
   * shard was found read to its end has been processed too. Rejects after `timeoutMs`.
   */
  async caughtUp(timeoutMs = 15_000): Promise<void> {
    const since = performance.now();
    const deadline = Date.now() + timeoutMs;
    // Per shard with lanes: each lane's `enqueued` at the first empty read after the call.
    const marks = new Map<string, readonly number[]>();
    const isBehind = (s: ShardState): boolean => {
      if (s.status !== 'reading') return false;
      if ((s.emptyReadAt ?? -1) < since) return true;
      if (s.lanes === undefined) return false;
      let mark = marks.get(s.id);
      if (mark === undefined) {
        mark = s.emptyReadMarks ?? [];
        marks.set(s.id, mark);
      }
      return s.lanes.lanes.some((lane) => lane.finished < (mark[lane.index] ?? 0));
    };
    for (;;) {
      const behind = [...this.shards.values()].filter(isBehind);
      if (behind.length === 0 || this.stopped) return;
      if (Date.now() > deadline) {
        throw new Error(`${this.functionName}: shard(s) ${behind.map((s) => s.id).join(', ')} not read to the end within ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async lookUpStreamArn(): Promise<string> {
    const table = await (this.options.dynamoDb as DynamoDBClient).send(new DescribeTableCommand({ TableName: this.options.tableName }));
    this.partitionKey ??= table.Table?.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName;
    const arn = table.Table?.LatestStreamArn;
    if (!arn || !table.Table?.StreamSpecification?.StreamEnabled)
      throw new Error(`StreamPoller: table ${this.options.tableName} has no stream`);
    return arn;
  }

  private scheduleRefresh(): void {
    if (this.stopped) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshing = this.refreshShards(false)
        .catch((error: unknown) => this.warnOnce('describe', `DescribeStream failed: ${describeError(error)}`))
        .finally(() => this.scheduleRefresh());
    }, this.options.shardRefreshMs ?? 1000);
  }

  private async refreshShards(initial: boolean): Promise<void> {
    const found: Shard[] = [];
    let exclusiveStartShardId: string | undefined;
    do {
      const out = await this.streams.send(
        new DescribeStreamCommand({ StreamArn: this.streamArn, ExclusiveStartShardId: exclusiveStartShardId }),
        { abortSignal: this.abort.signal },
      );
      found.push(...(out.StreamDescription?.Shards ?? []));
      exclusiveStartShardId = out.StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStartShardId !== undefined && !this.stopped);

    const fromStart = (this.options.startingPosition ?? 'LATEST') === 'TRIM_HORIZON';
    for (const shard of found) {
      const id = shard.ShardId;
      if (id === undefined || this.shards.has(id)) continue;
      const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
      const state: ShardState = {
        id,
        parentId: shard.ParentShardId,
        // At start with LATEST, history is skipped: closed shards are done, open ones start at the tip.
        status: initial && !fromStart && closed ? 'done' : 'waiting',
        fromTip: initial && !fromStart,
        checkpoint: undefined,
        ...(this.factor > 1 ? { lanes: newLanes(this.factor) } : {}),
      };
      this.shards.set(id, state);
    }
    const starting: Promise<void>[] = [];
    for (const state of this.shards.values()) {
      if (state.status !== 'waiting') continue;
      const parent = state.parentId === undefined ? undefined : this.shards.get(state.parentId);
      if (parent !== undefined && parent.status !== 'done') continue;
      state.status = 'reading';
      starting.push(this.startShard(state));
    }
    await Promise.all(starting);
  }

  /** Takes the first iterator (so start() returns only once the starting point is pinned), then loops. */
  private async startShard(state: ShardState): Promise<void> {
    let iterator: string | undefined;
    try {
      iterator = state.fromTip ? await this.pinLatest(state) : await this.iterator(state);
    } catch (error) {
      if (this.stopped) return;
      this.warnOnce(`iter-${state.id}`, `GetShardIterator ${state.id} failed: ${describeError(error)}`);
      state.status = 'waiting';
      return;
    }
    const loop = this.readShard(state, iterator).finally(() => this.loops.delete(loop));
    this.loops.add(loop);
  }

  /**
   * LATEST, without asking DynamoDB Local for it. Its sequence numbers are global to the instance,
   * and a LATEST (or TRIM_HORIZON) iterator of a shard with no record yet is pinned to the shard's
   * starting sequence number. Once writes to other tables have used the numbers after it, this
   * shard's first record comes later, and GetRecords answers TrimmedDataAccessException. Taking
   * LATEST again at that point would skip the record that caused the error (the first write to a
   * fresh table, or the first after start()). So the poller reads the shard from its oldest record
   * to its tip, drops those records (they were written before start()), and continues after the
   * last one. A shard that was empty continues from TRIM_HORIZON, which a Trimmed answer re-takes
   * without skipping anything.
   */
  private async pinLatest(state: ShardState): Promise<string | undefined> {
    let iterator = await this.iterator(state);
    while (iterator !== undefined && !this.stopped) {
      let out;
      try {
        out = await this.streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }), { abortSignal: this.abort.signal });
      } catch (error) {
        // The shard has no record yet: every record it will hold comes after start().
        if ((error as { name?: string }).name === 'TrimmedDataAccessException') return this.iterator(state);
        throw error;
      }
      const records = out.Records ?? [];
      state.checkpoint = records[records.length - 1]?.dynamodb?.SequenceNumber ?? state.checkpoint;
      if (records.length === 0) return out.NextShardIterator;
      iterator = out.NextShardIterator;
    }
    return iterator;
  }

  /** After the checkpoint; from the oldest record when there is none (never LATEST: see pinLatest). */
  private async iterator(state: ShardState): Promise<string | undefined> {
    const type: ShardIteratorType = state.checkpoint !== undefined ? 'AFTER_SEQUENCE_NUMBER' : 'TRIM_HORIZON';
    const out = await this.streams.send(
      new GetShardIteratorCommand({
        StreamArn: this.streamArn,
        ShardId: state.id,
        ShardIteratorType: type,
        ...(state.checkpoint !== undefined ? { SequenceNumber: state.checkpoint } : {}),
      }),
      { abortSignal: this.abort.signal },
    );
    return out.ShardIterator;
  }

  private async readShard(state: ShardState, first: string | undefined): Promise<void> {
    let iterator = first;
    const batchSize = this.options.batchSize ?? 100;
    while (!this.stopped && iterator !== undefined) {
      let records: _Record[];
      let next: string | undefined;
      // Lanes: no further read while they hold factor × batchSize records (bounded memory).
      if (state.lanes !== undefined) await this.laneRoom(state.lanes, this.factor * batchSize);
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may have run during the await
      if (this.stopped) return;
      const readAt = performance.now();
      const marks = state.lanes?.lanes.map((lane) => lane.enqueued);
      try {
        const out = await this.streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: batchSize }), {
          abortSignal: this.abort.signal,
        });
        records = out.Records ?? [];
        next = out.NextShardIterator;
      } catch (error) {
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may have run during the await
        if (this.stopped) return;
        const name = (error as { name?: string }).name;
        if (name === 'ResourceNotFoundException') break;
        if (name === 'ExpiredIteratorException' || name === 'TrimmedDataAccessException') {
          // From the checkpoint again (or the shard's oldest record): nothing is skipped.
          try {
            iterator = await this.iterator(state);
          } catch (retake) {
            // stopped is a getter: stop() may have run while the call was in flight.
            // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
            if (this.stopped) return;
            this.warnOnce(`iter-${state.id}`, `GetShardIterator ${state.id} failed: ${describeError(retake)}`);
            await this.sleep(this.options.pollIntervalMs ?? 200);
          }
          continue;
        }
        this.warnOnce(`get-${state.id}-${name}`, `GetRecords ${state.id} failed: ${describeError(error)}`);
        await this.sleep(this.options.pollIntervalMs ?? 200);
        continue;
      }
      if (records.length > 0) {
        const delivered = records.map((r) => this.toLambdaRecord(r)).filter((r) => this.matches(r));
        // With lanes, the checkpoint is the last record read into them: they deliver it from memory.
        if (state.lanes !== undefined) for (const record of delivered) this.enqueue(state, state.lanes, record);
        else if (delivered.length > 0) await this.deliver(state, delivered, 1);
        state.checkpoint = records[records.length - 1]?.dynamodb?.SequenceNumber ?? state.checkpoint;
      }
      iterator = next;
      if (records.length === 0) {
        state.emptyReadAt = readAt;
        if (marks !== undefined) state.emptyReadMarks = marks;
      }
      if (records.length === 0 && iterator !== undefined) await this.sleep(this.options.pollIntervalMs ?? 200);
    }
    if (this.stopped) return;
    // Closed and read to the end: its children may start once every record of it is delivered.
    if (state.lanes !== undefined) await this.laneRoom(state.lanes, 1);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may have run during the await
    if (this.stopped) return;
    state.status = 'done';
    await this.refreshShards(false).catch(() => undefined);
  }

  /** Puts a record in its lane, and starts the lane's delivery when it is idle. */
  private enqueue(state: ShardState, set: LaneSet, record: DynamoDBRecord): void {
    const lane = set.lanes[partitionLane(this.partitionKeyValue(record), this.factor)] as Lane;
    lane.queue.push(record);
    lane.enqueued++;
    set.buffered++;
    if (lane.running) return;
    lane.running = true;
    const loop = this.runLane(state, set, lane).finally(() => this.loops.delete(loop));
    this.loops.add(loop);
  }

  /** A lane's batches, one at a time, in order, until its queue is empty (or the poller stops). */
  private async runLane(state: ShardState, set: LaneSet, lane: Lane): Promise<void> {
    const batchSize = this.options.batchSize ?? 100;
    try {
      while (lane.queue.length > 0 && !this.stopped) {
        const batch = lane.queue.splice(0, batchSize);
        try {
          await this.deliver(state, batch, 1);
        } finally {
          lane.finished += batch.length;
          set.buffered -= batch.length;
          wake(set);
        }
      }
    } finally {
      lane.running = false;
      wake(set);
    }
  }

  /** Resolves once the lanes hold fewer than `limit` records not delivered yet, or the poller stops. */
  private async laneRoom(set: LaneSet, limit: number): Promise<void> {
    while (set.buffered >= limit && !this.stopped) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.abort.signal.removeEventListener('abort', done);
          resolve();
        };
        set.waiters.push(done);
        this.abort.signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** The value that picks a record's lane: its partition key attribute, as a string. */
  private partitionKeyValue(record: DynamoDBRecord): string {
    const keys = record.dynamodb?.Keys ?? {};
    const name = this.partitionKey ?? Object.keys(keys)[0];
    const value = name === undefined ? undefined : keys[name];
    return value?.S ?? value?.N ?? value?.B ?? '';
  }

  /** One invocation and its retries; resolves once the records succeeded or were given up. */
  private async deliver(state: ShardState, records: DynamoDBRecord[], attempt: number): Promise<void> {
    const outcome = await this.invoke(records);
    if (outcome.ok) return;
    const remaining = records.slice(outcome.from);
    const maxRetries = this.options.maxRetryAttempts ?? 3;
    if (attempt > maxRetries || this.stopped) {
      this.giveUp(state, remaining, attempt, outcome.error);
      return;
    }
    await this.sleep((this.options.retryDelayMs ?? 50) * 2 ** (attempt - 1));
    if (outcome.threw && (this.options.bisectBatchOnFunctionError ?? true) && remaining.length > 1) {
      const half = Math.ceil(remaining.length / 2);
      await this.deliver(state, remaining.slice(0, half), attempt + 1);
      await this.deliver(state, remaining.slice(half), attempt + 1);
      return;
    }
    await this.deliver(state, remaining, attempt + 1);
  }

  private async invoke(records: DynamoDBRecord[]): Promise<Outcome> {
    this.invocations++;
    let result: unknown;
    try {
      this.handler ??= await (this.options.loadHandler as () => Promise<LoadedHandler>)();
      result = await invoke<DynamoDBStreamEvent, DynamoDBBatchResponse | undefined>(
        this.handler,
        { Records: records },
        { functionName: this.functionName, timeoutMs: this.options.timeoutMs ?? 30_000 },
      );
    } catch (error) {
      const message = describeError(error);
      // Once per distinct error: a failing consumer retries (and bisects) a lot.
      this.warnOnce(`invoke-${message.split('\n')[0]}`, `failed: ${message}`);
      return { ok: false, from: 0, threw: true, error: message };
    }
    if (!(this.options.reportBatchItemFailures ?? true)) return { ok: true };
    const failures = (result as Partial<DynamoDBBatchResponse> | undefined)?.batchItemFailures;
    if (!Array.isArray(failures) || failures.length === 0) return { ok: true };
    const sequence = records.map((r) => r.dynamodb?.SequenceNumber);
    let from = records.length;
    for (const failure of failures) {
      const index = sequence.indexOf((failure as { itemIdentifier?: string } | null)?.itemIdentifier);
      // An empty or unknown identifier fails the whole batch, as Lambda does.
      from = Math.min(from, index < 0 ? 0 : index);
    }
    return { ok: false, from, threw: false, error: `batchItemFailures from ${sequence[from]}` };
  }

  private giveUp(state: ShardState, records: DynamoDBRecord[], attempts: number, error: string): void {
    const failure: StreamBatchFailure = {
      functionName: this.functionName,
      streamArn: this.streamArn,
      shardId: state.id,
      startSequenceNumber: records[0]?.dynamodb?.SequenceNumber ?? '',
      endSequenceNumber: records[records.length - 1]?.dynamodb?.SequenceNumber ?? '',
      batchSize: records.length,
      attempts,
      condition: 'RetryAttemptsExhausted',
      error,
      records,
      timestamp: new Date().toISOString(),
    };
    this.failures.push(failure);
    this.logger.warn(
      `${this.functionName}: gave up on ${records.length} record(s) ${failure.startSequenceNumber}..${failure.endSequenceNumber} after ${attempts} attempt(s); moving on`,
    );
    this.options.onFailure?.(failure);
  }

  private toLambdaRecord(record: _Record): DynamoDBRecord {
    const d = record.dynamodb ?? {};
    const created = d.ApproximateCreationDateTime;
    return {
      eventID: record.eventID,
      eventName: record.eventName,
      eventVersion: record.eventVersion ?? '1.1',
      eventSource: record.eventSource ?? 'aws:dynamodb',
      awsRegion: record.awsRegion ?? (process.env.AWS_REGION || DEFAULT_REGION),
      dynamodb: {
        ...(created !== undefined ? { ApproximateCreationDateTime: Math.floor(new Date(created).getTime() / 1000) } : {}),
        ...(d.Keys ? { Keys: toLambdaImage(d.Keys) } : {}),
        ...(d.NewImage ? { NewImage: toLambdaImage(d.NewImage) } : {}),
        ...(d.OldImage ? { OldImage: toLambdaImage(d.OldImage) } : {}),
        SequenceNumber: d.SequenceNumber,
        SizeBytes: d.SizeBytes,
        StreamViewType: d.StreamViewType,
      },
      eventSourceARN: this.streamArn,
      ...(record.userIdentity ? { userIdentity: record.userIdentity } : {}),
    };
  }

  private get logger(): Logger {
    return this.options.logger ?? silentLogger;
  }

  private warnOnce(key: string, message: string): void {
    if (this.logged.has(key)) return;
    this.logged.add(key);
    this.logger.warn(`${this.functionName}: ${message}`);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) {
        resolve();
        return;
      }
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.abort.signal.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * The lane of a partition key value among `factor` lanes: FNV-1a (32 bits) of its UTF-8 bytes,
 * modulo the factor. Lambda's own hash is not documented; what it guarantees, and what this keeps,
 * is that every record of one partition key goes to the same lane. Tests use it to pick keys in
 * different lanes.
 */
export function partitionLane(partitionKeyValue: string, factor: number): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(partitionKeyValue, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % factor;
}

function newLanes(factor: number): LaneSet {
  return {
    lanes: Array.from({ length: factor }, (_, index) => ({ index, queue: [], enqueued: 0, finished: 0, running: false })),
    buffered: 0,
    waiters: [],
  };
}

function wake(set: LaneSet): void {
  for (const waiter of set.waiters.splice(0)) waiter();
}

function toLambdaImage(image: Record<string, SdkAttributeValue>): Record<string, AttributeValue> {
  return Object.fromEntries(Object.entries(image).map(([k, v]) => [k, toLambdaValue(v)]));
}

/** SDK attribute values (binary as bytes) to the event's JSON form (binary as base64). */
function toLambdaValue(value: SdkAttributeValue): AttributeValue {
  const v = value as unknown as Record<string, unknown>;
  const b64 = (bytes: unknown) => Buffer.from(bytes as Uint8Array).toString('base64');
  if (v.B !== undefined) return { B: b64(v.B) };
  if (v.BS !== undefined) return { BS: (v.BS as Uint8Array[]).map(b64) };
  if (v.L !== undefined) return { L: (v.L as SdkAttributeValue[]).map(toLambdaValue) };
  if (v.M !== undefined) return { M: toLambdaImage(v.M as Record<string, SdkAttributeValue>) };
  return value as AttributeValue;
}
