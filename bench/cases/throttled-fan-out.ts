/**
 * Throttled fan-out: one stock update to 5k subscribers of one product through a @connections
 * endpoint that enforces API Gateway's account throttle (local/token-bucket.ts), set low (500/s,
 * burst 250) so that the throttle, not this machine's CPU, is the limit. Ours: the real FanOut on
 * its paced path (ManagementApiNotifier.attempt, AIMD in functions/streams/pacer.ts). Baseline,
 * the fan-out before pacing: the same FanOut with a notifier that has no `attempt`, so each post
 * is ManagementApiNotifier.post with its own backoff retries. Both are driven as Lambda drives a
 * stream consumer: a batch whose report names a failed record is handed again, up to the
 * deployed 5 retries. Subscribers never reached and duplicates are read from the endpoint's
 * per-connection counts. A sweep times ours at other sizes and throttles, beside the throttle's
 * ideal: (subscribers − burst) / rate.
 */
import { performance } from 'node:perf_hooks';
import { DynamoConnectionStore } from '../../functions/realtime/connection-store';
import { ManagementApiNotifier, type ConnectionNotifier } from '../../functions/realtime/notifier';
import { FanOut } from '../../functions/streams/fan-out';
import { createDocumentClient } from '../../functions/shared/clients/dynamodb';
import { sleep } from '../../functions/shared/retry';
import { startChild, type BenchChild } from '../lib/child';
import { repository } from '../lib/fixtures';
import type { BenchCase, CaseResult, FloorCheck, NamedChart, Table } from '../lib/report';
import { fmtInt, fmtMs, fmtRatio, median, sizeLabel } from '../lib/stats';
import { RecordingNotifier, stockRecord, writeSubscribers } from './fan-out';

/** lib/stacks/streams-stack.ts STREAM_SETTINGS.retryAttempts: Lambda hands a failed batch again this many times. */
const RETRY_ATTEMPTS = 5;
/** local/stream-poller.ts's default wait before a retry (doubling). */
const RETRY_DELAY_MS = 50;
const CONCURRENCY = 64;

type VariantName = 'ours: paced FanOut' | 'before pacing: FanOut + post() retries';
const OURS: VariantName = 'ours: paced FanOut';
const BEFORE: VariantName = 'before pacing: FanOut + post() retries';

interface Throttle {
  readonly rate: number;
  readonly burst: number;
}

export interface ThrottledRun {
  readonly subscribers: number;
  readonly throttle: Throttle;
  /** (subscribers − burst) / rate, in ms: the earliest the bucket lets the last post through. */
  readonly idealMs: number;
  /** From the start to the last post answered 200. */
  readonly lastMs: number;
  /** Subscribers the endpoint never received a post for. */
  readonly lost: number;
  /** Posts beyond the first per subscriber. */
  readonly duplicates: number;
  /** Posts the endpoint answered 200 / 429. */
  readonly delivered: number;
  readonly throttled: number;
  /** FanOut.handle calls: 1, plus Lambda's retries of a failed batch. */
  readonly invocations: number;
  /** The batch still failed after the last retry (Lambda would send it to the failure queue). */
  readonly givenUp: boolean;
  /** Calls that threw (post() with its retries spent). */
  readonly errors: number;
  /** Error name: message (shortened) → count, of the calls that threw. */
  readonly errorKinds: Record<string, number>;
  readonly cpuMs: number;
  readonly sdkWarnings: number;
}

const idealMs = (n: number, t: Throttle) => (Math.max(0, n - t.burst) / t.rate) * 1000;
const throttledShare = (r: ThrottledRun) => r.throttled / Math.max(1, r.delivered + r.throttled);

export const throttledFanOut: BenchCase = {
  id: 'throttled-fan-out',
  title: 'Throttled fan-out',
  description:
    'One stock update to every subscriber of a product through the local @connections endpoint (its own process) under a token-bucket account throttle set low, so the throttle and not the CPU is the limit (answers at once otherwise). ' +
    'Ours: the real `FanOut` (concurrency 64) with `ManagementApiNotifier.attempt`, paced by its AIMD `Pacer`. Baseline, the fan-out before pacing: the same `FanOut` with a notifier without `attempt`, so every post is `ManagementApiNotifier.post` and its own backoff retries (5 attempts, full jitter). Both over the real `ConnectionStore` on DynamoDB Local, driven as Lambda drives the stream consumer: a batch that reports a failed record is handed again, up to the deployed 5 retries (50 ms, doubling, between them). A fresh `FanOut` (a fresh pacer) and a full bucket for every run. ' +
    'Lost and duplicates: from the endpoint’s count of posts per connection id. Ideal: (subscribers − burst) / rate, the earliest a token bucket lets the last post through.',
  async run(ctx): Promise<CaseResult> {
    const main = { subscribers: ctx.quick ? 1_000 : 5_000, throttle: { rate: 500, burst: 250 } };
    const runs = ctx.quick ? 1 : 2;
    const sweepSizes = ctx.quick ? [500, 1_000] : [500, 1_000, 2_000, 5_000];
    const sweepRates = ctx.quick ? [500, 1_000] : [250, 500, 1_000];
    const endpointChild = await startChild<{ throttled: string }>('cases/connections-endpoint.ts', []);
    const tableNames = await ctx.dynamo.tables('thrfan');
    const db = createDocumentClient({ endpoint: ctx.dynamo.endpoint, timeoutMs: 10_000 });
    const connections = new DynamoConnectionStore(db, tableNames.connections);
    const repo = repository(ctx.dynamo.endpoint, tableNames.shop);
    const plain = new ManagementApiNotifier({ endpoint: endpointChild.info.throttled });
    const withoutAttempt: ConnectionNotifier = {
      post: (id, message) => plain.post(id, message),
      disconnect: (id) => plain.disconnect(id),
    };
    const notifiers: Record<VariantName, RecordingNotifier> = {
      [OURS]: new RecordingNotifier(plain),
      [BEFORE]: new RecordingNotifier(withoutAttempt),
    };
    const mainRuns: Record<VariantName, ThrottledRun[]> = { [OURS]: [], [BEFORE]: [] };
    const sweep: ThrottledRun[] = [];
    let version = 1;
    try {
      const sizes = [...new Set([...sweepSizes, main.subscribers])].sort((a, b) => a - b);
      for (const size of sizes) {
        const started = performance.now();
        await writeSubscribers(db, tableNames.connections, productOf(size), size);
        ctx.log(`${fmtInt(size)} subscription items written in ${fmtMs(performance.now() - started)}`);
      }
      const once = async (variant: VariantName, subscribers: number, throttle: Throttle): Promise<ThrottledRun> => {
        const r = await runOnce(endpointChild, notifiers[variant], {
          connections,
          repo,
          productId: productOf(subscribers),
          subscribers,
          throttle,
          version: ++version,
        });
        ctx.log(
          `${variant}, ${sizeLabel(subscribers)} at ${throttle.rate}/s burst ${throttle.burst}: last delivery ${fmtMs(r.lastMs)} (ideal ${fmtMs(r.idealMs)}), ` +
            `${fmtInt(r.lost)} lost, ${fmtInt(r.duplicates)} duplicates, ${fmtInt(r.throttled)} 429s (${(throttledShare(r) * 100).toFixed(1)}%), ${r.invocations} invocation(s)` +
            (r.errors ? `; ${r.errors} calls threw: ${JSON.stringify(r.errorKinds)}` : ''),
        );
        return r;
      };
      // Warm-up (connections, JIT), unthrottled in effect: the smallest size under the largest rate.
      await once(OURS, sizes[0] as number, { rate: 10_000, burst: 5_000 });
      await once(BEFORE, sizes[0] as number, { rate: 10_000, burst: 5_000 });
      // Interleaved: round r starts with a different variant.
      const variants: VariantName[] = [OURS, BEFORE];
      for (let round = 0; round < runs; round++) {
        for (let k = 0; k < variants.length; k++) {
          const v = variants[(round + k) % variants.length] as VariantName;
          mainRuns[v].push(await once(v, main.subscribers, main.throttle));
        }
      }
      for (const rate of sweepRates) {
        const throttle = { rate, burst: rate / 2 };
        for (const size of sweepSizes) {
          if (size === main.subscribers && rate === main.throttle.rate && throttle.burst === main.throttle.burst) continue;
          sweep.push(await once(OURS, size, throttle));
        }
      }
    } finally {
      await endpointChild.stop();
      db.destroy();
    }

    const ideal = idealMs(main.subscribers, main.throttle);
    const sum = (rs: ThrottledRun[], f: (r: ThrottledRun) => number) => rs.reduce((s, r) => s + f(r), 0);
    const rowOf = (v: VariantName): string[] => {
      const rs = mainRuns[v];
      return [
        v,
        String(rs.length),
        rs.map((r) => `${fmtMs(r.lastMs)} (${fmtRatio(r.lastMs / ideal)})`).join(', '),
        rs.map((r) => fmtInt(r.lost)).join(', '),
        rs.map((r) => `${fmtInt(r.throttled)} (${(throttledShare(r) * 100).toFixed(1)}%)`).join(', '),
        rs.map((r) => fmtInt(r.duplicates)).join(', '),
        rs.map((r) => `${r.invocations}${r.givenUp ? ' (given up)' : ''}`).join(', '),
        `${fmtInt(median(rs.map((r) => (r.cpuMs * 1000) / Math.max(1, r.delivered))))} µs`,
      ];
    };
    const errorsOf = (v: VariantName): string => {
      const kinds: Record<string, number> = {};
      for (const r of mainRuns[v]) for (const [k, n] of Object.entries(r.errorKinds)) kinds[k] = (kinds[k] ?? 0) + n;
      return (
        Object.entries(kinds)
          .sort((a, b) => b[1] - a[1])
          .map(([k, n]) => `${fmtInt(n)} × \`${k}\``)
          .join('; ') || 'none'
      );
    };
    const mainTable: Table = {
      title: `${fmtInt(main.subscribers)} subscribers, throttle ${main.throttle.rate}/s burst ${main.throttle.burst}: ideal ${fmtMs(ideal)}`,
      columns: [
        'variant',
        'runs',
        'last delivery, per run (× ideal)',
        'lost, per run',
        '429 answers (% of posts), per run',
        'duplicates, per run',
        'invocations, per run',
        'CPU per delivered post',
      ],
      rows: [rowOf(OURS), rowOf(BEFORE)],
      notes: [
        'Last delivery: from the first invocation until the last post answered 200, the retries of a failed batch included (and, for the baseline, the posts its failed invocations left running).',
        `Invocations: the first plus Lambda's retries of a batch that reported its record failed (at most ${RETRY_ATTEMPTS}); "given up": still failed after them (the records would go to the failure queue).`,
        `Calls that threw, all runs: before pacing ${errorsOf(BEFORE)}; ours ${errorsOf(OURS)}.`,
      ],
    };
    const sweepCell = (size: number, rate: number): ThrottledRun | undefined =>
      size === main.subscribers && rate === main.throttle.rate
        ? ({ ...mainRuns[OURS][0], lastMs: Math.max(...mainRuns[OURS].map((r) => r.lastMs)) } as ThrottledRun)
        : sweep.find((r) => r.subscribers === size && r.throttle.rate === rate);
    const sweepTable: Table = {
      title: 'Ours against subscribers and throttle (burst = rate / 2): time to last delivery (× ideal)',
      columns: ['subscribers', ...sweepRates.map((rate) => `${fmtInt(rate)}/s`)],
      rows: sweepSizes.map((size) => [
        sizeLabel(size),
        ...sweepRates.map((rate) => {
          const r = sweepCell(size, rate);
          if (!r) return 'n/a';
          const ratio = r.idealMs > 0 ? ` (${fmtRatio(r.lastMs / r.idealMs)})` : ' (ideal 0)';
          const failures = r.errors
            ? `, ${r.errors} failed calls (${Object.keys(r.errorKinds).join('; ')}), ${r.duplicates} duplicates`
            : '';
          return `${fmtMs(r.lastMs)}${ratio}${r.lost ? `, ${r.lost} lost` : ''}, ${(throttledShare(r) * 100).toFixed(1)}% 429${failures}`;
        }),
      ]),
      notes: [
        'One run per cell, except the main cell (the slower of the runs above). Ideal at rate r, burst b: (n − b) / r; a size within the burst has an ideal of 0 (the time then is the posting itself).',
      ],
    };
    const ours = mainRuns[OURS];
    // Every run, not a median of two (nearest rank would pick the faster).
    const oursLast = Math.max(...ours.map((r) => r.lastMs));
    const oursLost = sum(ours, (r) => r.lost);
    const worstShare = Math.max(...ours.map(throttledShare));
    const floors: FloorCheck[] = [
      {
        floor: `last delivery ≤ 1.2× the ideal (${fmtMs(ideal)}) at ${sizeLabel(main.subscribers)}, ${main.throttle.rate}/s, every run`,
        measured: `slowest ${fmtMs(oursLast)}: ${fmtRatio(oursLast / ideal)} (runs: ${ours.map((r) => fmtMs(r.lastMs)).join(', ')})`,
        met: oursLast <= 1.2 * ideal,
      },
      { floor: '0 subscribers lost', measured: `${fmtInt(oursLost)} over ${ours.length} runs`, met: oursLost === 0 },
      {
        floor: '429 answers ≤ 5% of posts',
        measured: `${ours.map((r) => `${(throttledShare(r) * 100).toFixed(1)}%`).join(', ')} (${ours.map((r) => fmtInt(r.throttled)).join(', ')} of ${ours.map((r) => fmtInt(r.throttled + r.delivered)).join(', ')})`,
        met: worstShare <= 0.05,
      },
    ];
    const before = mainRuns[BEFORE];
    return {
      headline: [
        `${sizeLabel(main.subscribers)} subscribers at ${main.throttle.rate}/s burst ${main.throttle.burst} (ideal ${fmtMs(ideal)}): ours ${ours.map((r) => fmtMs(r.lastMs)).join(' and ')} (slowest ${fmtRatio(oursLast / ideal)}), ${fmtInt(oursLost)} lost, ${(worstShare * 100).toFixed(1)}% 429s at most; ` +
          `before pacing ${before.map((r) => fmtMs(r.lastMs)).join(' and ')}, ${before.map((r) => fmtInt(r.lost)).join(' and ')} lost, ${before.map((r) => `${(throttledShare(r) * 100).toFixed(0)}%`).join(' and ')} 429s, ${before.map((r) => fmtInt(r.duplicates)).join(' and ')} duplicates.`,
      ],
      tables: [mainTable, sweepTable],
      floors,
      data: { main, retryAttempts: RETRY_ATTEMPTS, concurrency: CONCURRENCY, runs: mainRuns, sweepSizes, sweepRates, sweep },
    };
  },
  charts(data) {
    const d = data as {
      main: { subscribers: number; throttle: Throttle };
      runs: Record<VariantName, ThrottledRun[]>;
      sweepSizes: number[];
      sweepRates: number[];
      sweep: ThrottledRun[];
    };
    const colors = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e'];
    const cell = (size: number, rate: number): number | undefined =>
      size === d.main.subscribers && rate === d.main.throttle.rate
        ? Math.max(...d.runs[OURS].map((r) => r.lastMs))
        : d.sweep.find((r) => r.subscribers === size && r.throttle.rate === rate)?.lastMs;
    const maxSize = Math.max(...d.sweepSizes);
    const chart: NamedChart = {
      name: 'throttled-fan-out',
      chart: {
        title: 'Fan-out time against subscribers, at each throttle',
        subtitle: 'ours (paced FanOut, points: runs) beside the token bucket’s ideal (n − burst) / rate, burst = rate / 2',
        x: { label: 'subscribers', min: 0, max: maxSize },
        y: { label: 'time to last delivery (s)' },
        series: d.sweepRates.flatMap((rate, i) => {
          const color = colors[i % colors.length] as string;
          const burst = rate / 2;
          return [
            {
              name: `ours at ${fmtInt(rate)}/s`,
              color,
              markers: true,
              points: d.sweepSizes.flatMap((size) => {
                const ms = cell(size, rate);
                return ms === undefined ? [] : [[size, ms / 1000] as const];
              }),
            },
            {
              name: `ideal at ${fmtInt(rate)}/s`,
              color,
              dashed: true,
              markers: false,
              points: [
                [0, 0],
                [Math.min(burst, maxSize), 0],
                [maxSize, idealMs(maxSize, { rate, burst }) / 1000],
              ] as const,
            },
          ];
        }),
      },
    };
    return [chart];
  },
};

const productOf = (size: number) => `thr-${size}`;

async function runOnce(
  endpoint: BenchChild<unknown>,
  notifier: RecordingNotifier,
  o: {
    connections: DynamoConnectionStore;
    repo: ReturnType<typeof repository>;
    productId: string;
    subscribers: number;
    throttle: Throttle;
    version: number;
  },
): Promise<ThrottledRun> {
  await endpoint.request({ op: 'reset', throttle: { rateLimit: o.throttle.rate, burstLimit: o.throttle.burst } });
  const fanOut = new FanOut({ connections: o.connections, repo: o.repo, notifier, concurrency: CONCURRENCY });
  // The same record on every retry, as Lambda hands the same batch again.
  const record = stockRecord(o.productId, o.version);
  let sdkWarnings = 0;
  const warn = console.warn;
  console.warn = () => {
    sdkWarnings++;
  };
  notifier.reset();
  const cpuBefore = process.cpuUsage();
  let invocations = 0;
  let givenUp = false;
  try {
    for (let retry = 0; ; retry++) {
      invocations++;
      const report = await fanOut.handle([record]);
      if (report.batchItemFailures.length === 0) break;
      if (retry >= RETRY_ATTEMPTS) {
        givenUp = true;
        break;
      }
      await sleep(RETRY_DELAY_MS * 2 ** retry);
    }
    // A failed invocation's other posts may still be running (its forEachLimited rejected on the first error).
    await notifier.idle();
  } finally {
    console.warn = warn;
  }
  const cpu = process.cpuUsage(cpuBefore);
  const counts = await endpoint.request<Record<string, number>>({ op: 'counts' });
  const stats = await endpoint.request<{ posts: number; throttled: number }>({ op: 'stats' });
  let received = 0;
  let duplicates = 0;
  for (const n of Object.values(counts)) {
    received++;
    duplicates += Math.max(0, n - 1);
  }
  // Every id in counts is a subscriber of this product (the endpoint was reset before the run).
  const lost = o.subscribers - received;
  return {
    subscribers: o.subscribers,
    throttle: o.throttle,
    idealMs: idealMs(o.subscribers, o.throttle),
    lastMs: notifier.times.length ? notifier.times.reduce((m, t) => Math.max(m, t), 0) : Number.NaN,
    lost,
    duplicates,
    delivered: stats.posts,
    throttled: stats.throttled,
    invocations,
    givenUp,
    errors: notifier.errors,
    errorKinds: { ...notifier.errorKinds },
    cpuMs: (cpu.user + cpu.system) / 1000,
    sdkWarnings,
  };
}
