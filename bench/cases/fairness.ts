/**
 * Tenant fairness: while tenant A's update fans out to 5k subscribers through a @connections
 * endpoint throttled at 500/s (burst 250: about 9.5 s of the account's whole budget), tenant B
 * updates a product with 10 subscribers, ten times, half a second apart. B's delay is measured
 * from each update's commit (its write's answer) to each subscriber's first post carrying that
 * version or a later one.
 * The writes are real (DynamoShopRepository.adjustStock on DynamoDB Local); the real StreamPoller
 * reads the table's stream with the FanOut mapping's parallelization factor (functions/routes.ts)
 * and hands each batch to the real FanOut in a container of its own while another is busy, as
 * Lambda runs concurrent invocations (each with its own pacer and management API client).
 * Baseline, today before lanes: the same with parallelization factor 1 (one batch per shard).
 * Lanes are chosen by a hash of the partition key (T#<tenant>): a tenant whose key falls in A's lane
 * still waits for A. Tenant C is such a tenant, measured beside B so the table shows what is left.
 */
import { performance } from 'node:perf_hooks';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoConnectionStore } from '../../functions/realtime/connection-store';
import { ManagementApiNotifier } from '../../functions/realtime/notifier';
import { STREAM_CONSUMERS } from '../../functions/routes';
import { createDocumentClient } from '../../functions/shared/clients/dynamodb';
import { sleep } from '../../functions/shared/retry';
import { shopKeys } from '../../functions/shared/tables';
import { FanOut } from '../../functions/streams/fan-out';
import { partitionLane, StreamPoller } from '../../local/stream-poller';
import { startChild } from '../lib/child';
import { productInput, repository, TENANT } from '../lib/fixtures';
import type { BenchCase, CaseResult, FloorCheck, Table } from '../lib/report';
import { fmtInt, fmtMs, percentile, epochMs } from '../lib/stats';
import { writeSubscribers } from './fan-out';

const FAN_OUT = STREAM_CONSUMERS.find((c) => c.name === 'FanOut');
const LANES = FAN_OUT?.parallelizationFactor ?? 1;
const BATCH_SIZE = FAN_OUT?.batchSize ?? 100;
const POLL_MS = 200;
const TIMEOUT_MS = 60_000;

type VariantName = `ours: ${number} lanes` | 'today: 1 lane';
const OURS: VariantName = `ours: ${LANES} lanes`;
const TODAY: VariantName = 'today: 1 lane';

interface Config {
  readonly bigSubscribers: number;
  readonly smallSubscribers: number;
  readonly rate: number;
  readonly burst: number;
  readonly smallUpdates: number;
  readonly smallEveryMs: number;
}

interface TenantFigures {
  readonly tenant: string;
  readonly lane: number;
  readonly samples: number;
  readonly lost: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface FairnessRun {
  readonly variant: VariantName;
  /** A's fan-out: from its commit to its last subscriber's post; subscribers never reached. */
  readonly bigLastMs: number;
  readonly bigLost: number;
  readonly other: TenantFigures;
  readonly sameLane: TenantFigures;
  readonly invocations: number;
  /** Containers the invocations needed (concurrent ones run in containers of their own). */
  readonly containers: number;
}

const laneOf = (tenant: string) => partitionLane(shopKeys.tenant(tenant), LANES);

/** The first tenant id of a numbered series whose lane is (or is not) A's. */
function tenantIn(series: string, sameLaneAsA: boolean): string {
  for (let i = 0; ; i++) {
    const id = `${series}-${i}`;
    if ((laneOf(id) === laneOf(TENANT)) === sameLaneAsA) return id;
  }
}

export const fairness: BenchCase = {
  id: 'fairness',
  title: 'Tenant fairness',
  description:
    'Tenant A updates a product with 5k subscribers (the fan-out takes the @connections endpoint’s whole throttle, 500/s burst 250, for about 9.5 s); meanwhile tenant B updates a product with 10 subscribers ten times, 500 ms apart. ' +
    `Real writes to DynamoDB Local, the real \`StreamPoller\` (batches of up to ${BATCH_SIZE}, polling every ${POLL_MS} ms) with the FanOut mapping’s parallelization factor, each concurrent batch handed to the real \`FanOut\` in a container of its own (its own pacer and management API client), as Lambda runs them. ` +
    'Baseline, today before lanes: parallelization factor 1. Delay: from an update’s commit to each subscriber’s first post of that version or a later one. ' +
    'Lanes go by a hash of the partition key (`T#<tenant>`): tenant C, whose key falls in A’s lane, is measured beside B, with the same updates.',
  async run(ctx): Promise<CaseResult> {
    const cfg: Config = {
      bigSubscribers: ctx.quick ? 1_000 : 5_000,
      smallSubscribers: 10,
      rate: 500,
      burst: 250,
      smallUpdates: ctx.quick ? 4 : 10,
      smallEveryMs: 500,
    };
    const other = tenantIn('tenant-b', false);
    const sameLane = tenantIn('tenant-c', true);
    const plan: VariantName[] = ctx.quick ? [OURS, TODAY] : [OURS, TODAY, OURS];
    const endpointChild = await startChild<{ throttled: string }>('cases/connections-endpoint.ts', []);
    const tableNames = await ctx.dynamo.tables('fairness');
    const db = createDocumentClient({ endpoint: ctx.dynamo.endpoint, timeoutMs: 10_000 });
    const connections = new DynamoConnectionStore(db, tableNames.connections);
    const repo = repository(ctx.dynamo.endpoint, tableNames.shop);
    const runs: FairnessRun[] = [];
    try {
      for (const tenant of [TENANT, other, sameLane]) {
        await repo.createProduct(tenant, productInput('item'), 5);
        await repo.adjustStock(tenant, 'item', 1_000_000);
      }
      await writeSubscribers(db, tableNames.connections, 'item', cfg.bigSubscribers, TENANT, 'a');
      await writeSubscribers(db, tableNames.connections, 'item', cfg.smallSubscribers, other, 'b');
      await writeSubscribers(db, tableNames.connections, 'item', cfg.smallSubscribers, sameLane, 'c');
      ctx.log(
        `tenants: A ${TENANT} (lane ${laneOf(TENANT)}), B ${other} (lane ${laneOf(other)}), C ${sameLane} (lane ${laneOf(sameLane)})`,
      );
      for (const variant of plan) {
        const idle: FanOut[] = [];
        const totals = { invocations: 0, containers: 0 };
        const invoke = async (records: DynamoDBRecord[]): Promise<DynamoDBBatchResponse> => {
          totals.invocations++;
          let fanOut = idle.pop();
          if (fanOut === undefined) {
            totals.containers++;
            fanOut = new FanOut({ connections, repo, notifier: new ManagementApiNotifier({ endpoint: endpointChild.info.throttled }) });
          }
          try {
            return { batchItemFailures: (await fanOut.handle(records)).batchItemFailures };
          } finally {
            idle.push(fanOut);
          }
        };
        const poller = new StreamPoller({
          tableName: tableNames.shop,
          dynamoDb: ctx.dynamo.client,
          endpoint: ctx.dynamo.endpoint,
          handler: (event: DynamoDBStreamEvent) => invoke(event.Records),
          functionName: 'FanOut',
          batchSize: BATCH_SIZE,
          parallelizationFactor: variant === OURS ? LANES : 1,
          pollIntervalMs: POLL_MS,
          maxRetryAttempts: 5,
        });
        await poller.start();
        await endpointChild.request({ op: 'reset', throttle: { rateLimit: cfg.rate, burstLimit: cfg.burst } });
        const commits: { tenant: string; at: number; version: number }[] = [];
        const commit = async (tenant: string) => {
          const stock = await repo.adjustStock(tenant, 'item', -1);
          commits.push({ tenant, at: epochMs(), version: stock.version });
        };
        await commit(TENANT);
        // A's fan-out under way (the poller's next read), then B's and C's updates during it.
        await sleep(2 * POLL_MS);
        const t0 = performance.now();
        const writes: Promise<void>[] = [];
        for (let i = 0; i < cfg.smallUpdates; i++) {
          const wait = t0 + i * cfg.smallEveryMs - performance.now();
          if (wait > 1) await sleep(wait);
          writes.push(commit(other), commit(sameLane));
        }
        await Promise.all(writes);
        const finalOf = (tenant: string) => Math.max(...commits.filter((c) => c.tenant === tenant).map((c) => c.version));
        const deadline = epochMs() + TIMEOUT_MS;
        let log: { ids: string[]; log: number[] } = { ids: [], log: [] };
        while (epochMs() < deadline) {
          log = await endpointChild.request<{ ids: string[]; log: number[] }>({ op: 'posts' });
          const held = highestHeld(log);
          const done = (prefix: string, count: number, version: number) =>
            [...held].filter(([id, v]) => id.startsWith(prefix) && v >= version).length >= count;
          if (
            done('a', cfg.bigSubscribers, finalOf(TENANT)) &&
            done('b', cfg.smallSubscribers, finalOf(other)) &&
            done('c', cfg.smallSubscribers, finalOf(sameLane))
          )
            break;
          await sleep(250);
        }
        await poller.stop();
        const run = analyse(variant, cfg, log, commits, { big: TENANT, other, sameLane }, totals);
        runs.push(run);
        ctx.log(
          `${variant}: A's fan-out ${fmtMs(run.bigLastMs)} (${run.bigLost} lost); B p99 ${fmtMs(run.other.p99Ms)} (max ${fmtMs(run.other.maxMs)}, ${run.other.lost} lost); ` +
            `C (A's lane) p99 ${fmtMs(run.sameLane.p99Ms)}; ${run.invocations} invocations in ${run.containers} containers`,
        );
      }
    } finally {
      await endpointChild.stop();
      db.destroy();
    }
    const ours = runs.filter((r) => r.variant === OURS);
    const row = (r: FairnessRun, i: number, t: TenantFigures, label: string) => [
      `${i + 1}: ${r.variant}`,
      `${label} ${t.tenant} (lane ${t.lane})`,
      fmtMs(t.p50Ms),
      fmtMs(t.p99Ms),
      fmtMs(t.maxMs),
      `${fmtInt(t.lost)} of ${fmtInt(t.samples)}`,
      `${fmtMs(r.bigLastMs)}, ${fmtInt(r.bigLost)} lost`,
      `${fmtInt(r.invocations)} / ${fmtInt(r.containers)}`,
    ];
    const table: Table = {
      title: `A: ${fmtInt(cfg.bigSubscribers)} subscribers at ${cfg.rate}/s burst ${cfg.burst}; B and C: ${cfg.smallSubscribers} subscribers, ${cfg.smallUpdates} updates ${cfg.smallEveryMs} ms apart`,
      columns: [
        'run',
        'tenant',
        'p50 commit → delivery',
        'p99',
        'max',
        'not delivered',
        'A’s fan-out (last delivery)',
        'invocations / containers',
      ],
      rows: runs.flatMap((r, i) => [row(r, i, r.other, 'B, another lane:'), row(r, i, r.sameLane, 'C, A’s lane:')]),
      notes: [
        `Tenant A is ${TENANT}, in lane ${laneOf(TENANT)} of ${LANES}. With ${LANES} lanes a tenant shares A’s lane with a chance of 1 in ${LANES}; its updates then wait for A’s fan-out as every tenant’s did before lanes.`,
      ],
    };
    const worst = Math.max(...ours.map((r) => r.other.p99Ms));
    const lost = ours.reduce((s, r) => s + r.other.lost + r.bigLost, 0);
    const floors: FloorCheck[] = [
      {
        floor: 'B’s p99 from commit to delivery ≤ 1 s while A’s throttled 5k fan-out runs',
        measured: ours.map((r) => fmtMs(r.other.p99Ms)).join(', '),
        met: worst <= 1000,
      },
      { floor: 'nothing lost (A and B)', measured: `${lost} over ${ours.length} runs`, met: lost === 0 },
    ];
    const today = runs.find((r) => r.variant === TODAY);
    return {
      headline: [
        `While A’s ${fmtInt(cfg.bigSubscribers)}-subscriber fan-out took the whole throttle (${ours.map((r) => fmtMs(r.bigLastMs)).join(', ')}), ` +
          `B’s updates reached its subscribers in p99 ${ours.map((r) => fmtMs(r.other.p99Ms)).join(' and ')} with ${LANES} lanes` +
          (today
            ? `, against ${fmtMs(today.other.p99Ms)} with one lane (today); C, in A’s lane, ${ours.map((r) => fmtMs(r.sameLane.p99Ms)).join(' and ')}.`
            : '.'),
      ],
      tables: [table],
      floors,
      data: { config: cfg, lanes: LANES, runs },
    };
  },
};

/** Connection id → the highest version posted to it. */
function highestHeld(log: { ids: string[]; log: number[] }): Map<string, number> {
  const held = new Map<string, number>();
  for (let k = 0; k < log.log.length; k += 3) {
    const id = log.ids[log.log[k] as number] as string;
    held.set(id, Math.max(held.get(id) ?? Number.NEGATIVE_INFINITY, log.log[k + 2] as number));
  }
  return held;
}

function analyse(
  variant: VariantName,
  cfg: Config,
  log: { ids: string[]; log: number[] },
  commits: readonly { tenant: string; at: number; version: number }[],
  tenants: { big: string; other: string; sameLane: string },
  totals: { invocations: number; containers: number },
): FairnessRun {
  // Connection id → its posts [at, version], in arrival order.
  const posts = new Map<string, [number, number][]>();
  for (let k = 0; k < log.log.length; k += 3) {
    const id = log.ids[log.log[k] as number] as string;
    const list = posts.get(id) ?? [];
    list.push([log.log[k + 1] as number, log.log[k + 2] as number]);
    posts.set(id, list);
  }
  const subscribers = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(6, '0')}`);
  const figures = (tenant: string, prefix: string): TenantFigures => {
    const delays: number[] = [];
    let lost = 0;
    let samples = 0;
    for (const c of commits.filter((x) => x.tenant === tenant)) {
      for (const id of subscribers(prefix, cfg.smallSubscribers)) {
        samples++;
        const first = posts.get(id)?.find(([, version]) => version >= c.version);
        if (first === undefined) lost++;
        else delays.push(first[0] - c.at);
      }
    }
    delays.sort((a, b) => a - b);
    return {
      tenant,
      lane: laneOf(tenant),
      samples,
      lost,
      p50Ms: delays.length ? percentile(delays, 50) : Number.NaN,
      p99Ms: delays.length ? percentile(delays, 99) : Number.NaN,
      maxMs: delays.length ? (delays[delays.length - 1] as number) : Number.NaN,
    };
  };
  const big = commits.find((c) => c.tenant === tenants.big) as { at: number; version: number };
  let bigLast = Number.NEGATIVE_INFINITY;
  let bigLost = 0;
  for (const id of subscribers('a', cfg.bigSubscribers)) {
    const first = posts.get(id)?.find(([, version]) => version >= big.version);
    if (first === undefined) bigLost++;
    else bigLast = Math.max(bigLast, first[0]);
  }
  return {
    variant,
    bigLastMs: bigLast - big.at,
    bigLost,
    other: figures(tenants.other, 'b'),
    sameLane: figures(tenants.sameLane, 'c'),
    invocations: totals.invocations,
    containers: totals.containers,
  };
}
