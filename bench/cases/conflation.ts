/**
 * Conflation: a hot product's stock updated 20 times a second for 10 s while 2k clients subscribe
 * to it, through a @connections endpoint throttled at 500/s (burst 250). The updates are real
 * writes (DynamoShopRepository.adjustStock on DynamoDB Local), read back from the table's stream
 * by the real local/stream-poller.ts StreamPoller (batches of up to 100, as the FanOut mapping is
 * deployed, polling every 200 ms) with the real FanOut as its handler, so its conflation within a
 * batch and its currentVersion reads see what is committed. The endpoint logs every post's
 * version per connection: what each subscriber holds over time.
 * Baseline, every version sent: the same FanOut, StreamPoller and pacing, handed one record per
 * batch (batchSize 1: nothing to conflate) over a repository whose currentVersion cannot tell (no
 * version is ever superseded). FanOut has no switch for conflation; these two inputs turn it off.
 * The baseline would need versions × subscribers posts at the throttle's rate: it is stopped
 * 8 s after the last update and its remaining time projected.
 */
import { performance } from 'node:perf_hooks';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoConnectionStore } from '../../functions/realtime/connection-store';
import { ManagementApiNotifier, type AttemptResult, type ConnectionNotifier, type PostResult } from '../../functions/realtime/notifier';
import { FanOut } from '../../functions/streams/fan-out';
import { createDocumentClient } from '../../functions/shared/clients/dynamodb';
import { sleep } from '../../functions/shared/retry';
import { StreamPoller } from '../../local/stream-poller';
import { startChild } from '../lib/child';
import { productInput, repository, TENANT } from '../lib/fixtures';
import type { BenchCase, CaseResult, FloorCheck, Table } from '../lib/report';
import { fmtInt, fmtMs, fmtRatio, median, percentile, epochMs } from '../lib/stats';
import { writeSubscribers } from './fan-out';

type VariantName = 'ours: FanOut (conflation)' | 'every version sent';
const OURS: VariantName = 'ours: FanOut (conflation)';
const EVERY: VariantName = 'every version sent';

const PRODUCT = 'hot';
const BATCH_SIZE = 100;
const POLL_MS = 200;
/** The baseline is stopped this long after the last update. */
const CUT_AFTER_MS = 8_000;
/** Ours gives up waiting for every subscriber to hold the last version this long after it. */
const OURS_TIMEOUT_MS = 30_000;
const SAMPLE_MS = 100;

interface Config {
  readonly subscribers: number;
  readonly rate: number;
  readonly burst: number;
  readonly updatesPerSecond: number;
  readonly seconds: number;
}

/** Min, median and max over the subscribers of the highest version each holds, against the latest committed; versions count from the run's first update (1). */
type Sample = readonly [seconds: number, committed: number, min: number, median: number, max: number];

export interface ConflationRun {
  readonly variant: VariantName;
  readonly updates: number;
  /** Commit time of the last update after the first, ms. */
  readonly updatesMs: number;
  /** From the last update's commit until every subscriber held it (NaN: not all did). */
  readonly finalMs: number;
  /** Subscribers holding the last version at the end (all of them, for ours). */
  readonly reachedFinal: number;
  /** Posts answered 200 / 429 by the endpoint. */
  readonly posts: number;
  readonly throttled: number;
  /** From the first update until the last post (ours) or the cut (baseline), ms. */
  readonly periodMs: number;
  /** burst + rate × period: posts the throttle admits over the period. */
  readonly budget: number;
  /** Posts with a version lower than one the subscriber already had / equal to it. */
  readonly regressions: number;
  readonly repeats: number;
  /** Subscribers with at least one regression. */
  readonly subscribersRegressed: number;
  /** Median over subscribers of the distinct versions received. */
  readonly versionsPerSubscriber: number;
  readonly invocations: number;
  readonly conflated: number;
  readonly superseded: number;
  /** Records handed to FanOut per invocation, median. */
  readonly batchMedian: number;
  /** Baseline: at the cut, the held version's median, and the time the remaining posts would take at the throttle's rate. */
  readonly heldAtCut?: { readonly min: number; readonly median: number; readonly max: number };
  readonly projectedFinalMs?: number;
  readonly samples: readonly Sample[];
}

export const conflation: BenchCase = {
  id: 'conflation',
  title: 'Conflation',
  description:
    'A hot product: its stock updated 20 times a second for 10 s (real `adjustStock` writes to DynamoDB Local), 2k subscribers, the @connections endpoint (its own process) throttled at 500/s, burst 250. ' +
    `The real \`StreamPoller\` (local/stream-poller.ts: batches of up to ${BATCH_SIZE}, polling every ${POLL_MS} ms, LATEST) hands the table's stream records to the real \`FanOut\` with the real \`ConnectionStore\`, repository and \`ManagementApiNotifier.attempt\` (paced). ` +
    'Baseline, every version sent: the same poller, FanOut and pacing, one record per batch (batchSize 1) and a repository whose `currentVersion` cannot tell, so nothing is conflated or superseded; it is stopped 8 s after the last update and the rest projected at the throttle’s rate. ' +
    'The endpoint logs the version of every post per connection: what each subscriber holds over time.',
  async run(ctx): Promise<CaseResult> {
    const cfg: Config = {
      subscribers: ctx.quick ? 500 : 2_000,
      rate: 500,
      burst: 250,
      updatesPerSecond: 20,
      seconds: ctx.quick ? 4 : 10,
    };
    const plan: VariantName[] = ctx.quick ? [OURS, EVERY] : [OURS, EVERY, OURS];
    const endpointChild = await startChild<{ throttled: string }>('cases/connections-endpoint.ts', []);
    const tableNames = await ctx.dynamo.tables('conflation');
    const db = createDocumentClient({ endpoint: ctx.dynamo.endpoint, timeoutMs: 10_000 });
    const connections = new DynamoConnectionStore(db, tableNames.connections);
    const repo = repository(ctx.dynamo.endpoint, tableNames.shop);
    // "Cannot tell": FanOut then never leaves a version out for a newer one.
    const blindRepo = Object.assign(Object.create(repo) as typeof repo, { currentVersion: () => Promise.resolve(undefined) });
    const plain = new ManagementApiNotifier({ endpoint: endpointChild.info.throttled });
    const runs: ConflationRun[] = [];
    try {
      await repo.createProduct(TENANT, productInput(PRODUCT), 5);
      await repo.adjustStock(TENANT, PRODUCT, 1_000_000);
      const started = performance.now();
      await writeSubscribers(db, tableNames.connections, PRODUCT, cfg.subscribers);
      ctx.log(`${fmtInt(cfg.subscribers)} subscription items written in ${fmtMs(performance.now() - started)}`);
      for (const variant of plan) {
        const notifier = new CuttableNotifier(plain);
        const fanOut = new FanOut({ connections, repo: variant === OURS ? repo : blindRepo, notifier });
        const totals = { invocations: 0, conflated: 0, superseded: 0, batches: [] as number[] };
        const poller = new StreamPoller({
          tableName: tableNames.shop,
          dynamoDb: ctx.dynamo.client,
          endpoint: ctx.dynamo.endpoint,
          handler: async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
            totals.invocations++;
            totals.batches.push(event.Records.length);
            const report = await fanOut.handle(event.Records);
            totals.conflated += report.conflated;
            totals.superseded += report.superseded;
            return { batchItemFailures: report.batchItemFailures };
          },
          functionName: 'FanOut',
          batchSize: variant === OURS ? BATCH_SIZE : 1,
          pollIntervalMs: POLL_MS,
          maxRetryAttempts: 5,
          bisectBatchOnFunctionError: true,
        });
        await poller.start();
        await endpointChild.request({ op: 'reset', throttle: { rateLimit: cfg.rate, burstLimit: cfg.burst } });
        const before = (await repo.getStock(TENANT, PRODUCT))?.version ?? 0;
        // The updates, on a fixed schedule: each write starts on time, not after the one before
        // (DynamoDB Local on a busy machine can take longer than 50 ms); their versions come back in commit order.
        const committed: [number, number][] = [];
        const count = cfg.updatesPerSecond * cfg.seconds;
        const t0 = performance.now();
        const writes: Promise<void>[] = [];
        for (let i = 0; i < count; i++) {
          const wait = t0 + (i * 1000) / cfg.updatesPerSecond - performance.now();
          if (wait > 1) await sleep(wait);
          writes.push(
            repo.adjustStock(TENANT, PRODUCT, -1).then((stock) => {
              committed.push([epochMs(), stock.version]);
            }),
          );
        }
        await Promise.all(writes);
        committed.sort((a, b) => a[1] - b[1]);
        const final = committed[committed.length - 1]?.[1] as number;
        const lastAt = committed[committed.length - 1]?.[0] as number;
        ctx.log(
          `${variant}: ${count} updates committed in ${fmtMs(lastAt - Math.min(...committed.map((c) => c[0])))} (versions ${before + 1}..${final})`,
        );
        // Ours: until every subscriber holds the last version. Baseline: a fixed time.
        const deadline = lastAt + (variant === OURS ? OURS_TIMEOUT_MS : CUT_AFTER_MS);
        while (epochMs() < deadline) {
          if (variant === OURS && (await endpointChild.request<number>({ op: 'reached', version: final })) >= cfg.subscribers) break;
          await sleep(100);
        }
        const cutAt = epochMs();
        notifier.cut = true;
        await poller.stop();
        const log = await endpointChild.request<{ ids: string[]; log: number[] }>({ op: 'posts' });
        const stats = await endpointChild.request<{ throttled: number }>({ op: 'stats' });
        const run = analyse(variant, cfg, log.log, committed, before, cutAt, stats.throttled, totals);
        runs.push(run);
        ctx.log(
          `${variant}: ${Number.isFinite(run.finalMs) ? `every subscriber held v${final} ${fmtMs(run.finalMs)} after the last update` : `${fmtInt(run.reachedFinal)} of ${fmtInt(cfg.subscribers)} held v${final} at the cut`}; ` +
            `${fmtInt(run.posts)} posts + ${fmtInt(run.throttled)} 429s vs a budget of ${fmtInt(run.budget)}; ${run.regressions} regressions; ${run.invocations} invocations, ${run.conflated} conflated, ${run.superseded} superseded`,
        );
      }
    } finally {
      await endpointChild.stop();
      db.destroy();
    }

    const ours = runs.filter((r) => r.variant === OURS);
    const every = runs.filter((r) => r.variant === EVERY);
    const floorMs = (cfg.subscribers / cfg.rate) * 1000 + 2000;
    const ratio = (r: ConflationRun) => (r.posts + r.throttled) / r.budget;
    const table: Table = {
      title: `${cfg.updatesPerSecond} updates/s for ${cfg.seconds} s, ${fmtInt(cfg.subscribers)} subscribers, throttle ${cfg.rate}/s burst ${cfg.burst}`,
      columns: [
        'run',
        'last update → every subscriber holds it',
        'holding the last version at the end',
        'posts (200) + 429s',
        'vs the throttle budget (burst + rate × period)',
        'versions per subscriber (median)',
        'regressions',
        'invocations (median batch)',
        'conflated / superseded',
      ],
      rows: runs.map((r, i) => [
        `${i + 1}: ${r.variant}`,
        Number.isFinite(r.finalMs)
          ? fmtMs(r.finalMs)
          : r.projectedFinalMs !== undefined
            ? `not within ${fmtMs(CUT_AFTER_MS)}; projected ${fmtMs(r.projectedFinalMs)}`
            : 'never',
        `${fmtInt(r.reachedFinal)} of ${fmtInt(cfg.subscribers)}`,
        `${fmtInt(r.posts)} + ${fmtInt(r.throttled)}`,
        `${fmtRatio(ratio(r))} of ${fmtInt(r.budget)} (${fmtMs(r.periodMs)})`,
        fmtInt(r.versionsPerSubscriber),
        `${fmtInt(r.regressions)} (${fmtInt(r.subscribersRegressed)} subscribers)`,
        `${fmtInt(r.invocations)} (${fmtInt(r.batchMedian)})`,
        `${fmtInt(r.conflated)} / ${fmtInt(r.superseded)}`,
      ]),
      notes: [
        `Period: from the first update to the last post (ours) or to the cut ${fmtMs(CUT_AFTER_MS)} after the last update (every version sent).`,
        ...every.map(
          (r) =>
            `Every version sent, at the cut: subscribers held versions ${r.heldAtCut?.min ?? 'n/a'} / ${r.heldAtCut?.median ?? 'n/a'} / ${r.heldAtCut?.max ?? 'n/a'} (min / median / max) of ${r.updates}; the ${fmtInt(cfg.subscribers)} × the versions they still lack, at ${cfg.rate}/s, is ${fmtMs(r.projectedFinalMs ?? Number.NaN)} more from the last update (projected).`,
        ),
        'Versions count from the run’s first update (1) to its last. Regressions: a post carrying a version lower than one the subscriber already had.',
      ],
    };
    const worstFinal = Math.max(...ours.map((r) => (Number.isFinite(r.finalMs) ? r.finalMs : Number.POSITIVE_INFINITY)));
    const worstRatio = Math.max(...ours.map(ratio));
    const regressions = ours.reduce((s, r) => s + r.regressions, 0);
    const floors: FloorCheck[] = [
      {
        floor: `last update → every subscriber holds it ≤ subscribers / throttle + 2 s (${fmtMs(floorMs)})`,
        measured: ours.map((r) => (Number.isFinite(r.finalMs) ? fmtMs(r.finalMs) : `not all within ${fmtMs(OURS_TIMEOUT_MS)}`)).join(', '),
        met: worstFinal <= floorMs,
      },
      {
        floor: 'posts ≤ 1.1× the throttle budget for the period',
        measured: ours.map((r) => `${fmtRatio(ratio(r))} (${fmtInt(r.posts + r.throttled)} of ${fmtInt(r.budget)})`).join(', '),
        met: worstRatio <= 1.1,
      },
      { floor: 'no version regressions', measured: `${regressions} over ${ours.length} runs`, met: regressions === 0 },
    ];
    const e = every[0];
    return {
      headline: [
        `${cfg.updatesPerSecond * cfg.seconds} updates in ${cfg.seconds} s to ${fmtInt(cfg.subscribers)} subscribers at ${cfg.rate}/s: ` +
          `ours had every subscriber on the last version ${ours.map((r) => fmtMs(r.finalMs)).join(' and ')} after it, ${ours.map((r) => fmtInt(r.versionsPerSubscriber)).join(' and ')} versions each; ` +
          (e
            ? `sending every version, ${fmtMs(CUT_AFTER_MS)} after the last update subscribers held version ${e.heldAtCut?.median ?? 'n/a'} of ${e.updates} (median), ${fmtMs(e.projectedFinalMs ?? Number.NaN)} to go (projected).`
            : ''),
      ],
      tables: [table],
      floors,
      data: { config: cfg, batchSize: BATCH_SIZE, pollMs: POLL_MS, cutAfterMs: CUT_AFTER_MS, runs },
    };
  },
  charts(data) {
    const d = data as { config: Config; runs: ConflationRun[] };
    const o = d.runs.find((r) => r.variant === OURS);
    const e = d.runs.find((r) => r.variant === EVERY);
    if (!o) return [];
    const pick = (samples: readonly Sample[], k: 1 | 2 | 3 | 4) => samples.map((s) => [s[0], s[k]] as const);
    return [
      {
        name: 'conflation',
        chart: {
          title: `Versions held by ${fmtInt(d.config.subscribers)} subscribers while ${d.config.updatesPerSecond} updates/s are committed`,
          subtitle: `throttle ${d.config.rate}/s burst ${d.config.burst}; the highest version each subscriber holds, across subscribers`,
          legend: 'right',
          x: { label: 'seconds since the first update' },
          y: { label: 'version (the run’s updates, from 1)', max: Math.ceil(o.updates * 1.05) },
          series: [
            { name: 'latest committed', color: '#000000', step: true, markers: false, points: pick(o.samples, 1) },
            { name: 'ours: max held', color: '#9ecae1', markers: false, step: true, width: 1.5, points: pick(o.samples, 4) },
            { name: 'ours: median held', color: '#1f77b4', markers: false, step: true, width: 2.5, points: pick(o.samples, 3) },
            { name: 'ours: min held', color: '#08306b', markers: false, step: true, dashed: true, points: pick(o.samples, 2) },
            ...(e
              ? [
                  { name: 'every version sent: median held', color: '#d62728', markers: false, step: true, points: pick(e.samples, 3) },
                  {
                    name: 'every version sent: max held',
                    color: '#f4a582',
                    markers: false,
                    step: true,
                    width: 1.5,
                    points: pick(e.samples, 4),
                  },
                ]
              : []),
          ],
        },
      },
    ];
  },
};

/** Posts through the inner notifier until cut; then answers 'sent' without posting (the run is over). */
class CuttableNotifier implements ConnectionNotifier {
  cut = false;
  constructor(private readonly inner: ManagementApiNotifier) {}
  attempt(connectionId: string, message: unknown): Promise<AttemptResult> {
    return this.cut ? Promise.resolve('sent') : this.inner.attempt(connectionId, message);
  }
  post(connectionId: string, message: unknown): Promise<PostResult> {
    return this.cut ? Promise.resolve('sent') : this.inner.post(connectionId, message);
  }
  disconnect(connectionId: string): Promise<void> {
    return this.inner.disconnect(connectionId);
  }
}

function analyse(
  variant: VariantName,
  cfg: Config,
  log: readonly number[],
  committed: readonly (readonly [number, number])[],
  before: number,
  cutAt: number,
  throttled: number,
  totals: { invocations: number; conflated: number; superseded: number; batches: number[] },
): ConflationRun {
  const byTime = [...committed].sort((a, b) => a[0] - b[0]);
  const first = byTime[0]?.[0] as number;
  // The last update: the highest version's commit (its write's answer).
  const [lastAt, final] = committed[committed.length - 1] as readonly [number, number];
  const held = new Map<number, number>();
  const distinct = new Map<number, Set<number>>();
  const regressedSubs = new Set<number>();
  let regressions = 0;
  let repeats = 0;
  let lastPostAt = first;
  let finalAt = Number.NEGATIVE_INFINITY;
  // The log is in arrival order (one process, one event loop).
  for (let k = 0; k < log.length; k += 3) {
    const [sub, at, version] = [log[k] as number, log[k + 1] as number, log[k + 2] as number];
    lastPostAt = Math.max(lastPostAt, at);
    const had = held.get(sub);
    if (had !== undefined && version < had) {
      regressions++;
      regressedSubs.add(sub);
    } else if (had === version) repeats++;
    if (had === undefined || version > had) held.set(sub, version);
    if (version >= final && (had === undefined || had < final)) finalAt = Math.max(finalAt, at);
    const set = distinct.get(sub) ?? new Set<number>();
    set.add(version);
    distinct.set(sub, set);
  }
  const reachedFinal = [...held.values()].filter((v) => v >= final).length;
  const allFinal = reachedFinal >= cfg.subscribers;
  const periodEnd = variant === OURS && allFinal ? lastPostAt : cutAt;
  const periodMs = periodEnd - first;
  // What every subscriber holds over time: sampled by replaying the log.
  const samples: Sample[] = [];
  const current = new Array<number>(cfg.subscribers).fill(before);
  const index = new Map<number, number>();
  let k = 0;
  let c = 0;
  let committedNow = before;
  const end = Math.max(periodEnd, lastAt) + 500;
  for (let t = first - 500; t <= end; t += SAMPLE_MS) {
    while (c < byTime.length && (byTime[c]?.[0] as number) <= t) committedNow = Math.max(committedNow, byTime[c++]?.[1] as number);
    for (; k < log.length && (log[k + 1] as number) <= t; k += 3) {
      const sub = log[k] as number;
      let slot = index.get(sub);
      if (slot === undefined) {
        slot = index.size;
        index.set(sub, slot);
      }
      if (slot < current.length) current[slot] = Math.max(current[slot] as number, log[k + 2] as number);
    }
    const sorted = [...current].sort((a, b) => a - b);
    samples.push([
      Math.round(t - first) / 1000,
      committedNow - before,
      (sorted[0] as number) - before,
      percentile(sorted, 50) - before,
      (sorted[sorted.length - 1] as number) - before,
    ]);
  }
  const run: ConflationRun = {
    variant,
    updates: committed.length,
    updatesMs: lastAt - first,
    finalMs: allFinal ? finalAt - lastAt : Number.NaN,
    reachedFinal,
    posts: log.length / 3,
    throttled,
    periodMs,
    budget: Math.round(cfg.burst + (cfg.rate * periodMs) / 1000),
    regressions,
    repeats,
    subscribersRegressed: regressedSubs.size,
    versionsPerSubscriber: median([...distinct.values()].map((s) => s.size)),
    invocations: totals.invocations,
    conflated: totals.conflated,
    superseded: totals.superseded,
    batchMedian: median(totals.batches),
    samples,
  };
  if (variant !== EVERY) return run;
  // Every version to every subscriber, in order: what is left at the cut, at the throttle's rate.
  const heldNow = Array.from({ length: cfg.subscribers }, (_, i) => current[i] as number).sort((a, b) => a - b);
  const remaining = heldNow.reduce((s, v) => s + (final - v), 0);
  return {
    ...run,
    heldAtCut: {
      min: (heldNow[0] as number) - before,
      median: percentile(heldNow, 50) - before,
      max: (heldNow[heldNow.length - 1] as number) - before,
    },
    projectedFinalMs: cutAt - lastAt + (remaining / cfg.rate) * 1000,
  };
}
