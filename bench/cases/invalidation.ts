/**
 * Group invalidation against the size of the keyspace: ours bumps generation counters (what a
 * product update runs: TwoTierCache.invalidate of the product's, the tenant's lists' and the
 * marketplace's counters, through RedisL2Store's Lua bump), the design document deletes by
 * `KEYS pattern` + `DEL`. Both run on the same redis-server holding 1k .. 1M other keys,
 * interleaved at each size. A second measure: how long a concurrent reader's GET waits while
 * the invalidation runs (Redis runs one command at a time).
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { generationKeys } from '../../functions/cache/keys';
import { RedisL2Store } from '../../functions/cache/l2-store';
import { TwoTierCache } from '../../functions/cache/two-tier-cache';
import { createRedisClient } from '../../functions/shared/clients/redis';
import { DesignDocCacheService, designDocPatterns } from '../baselines/design-doc';
import { deployedCacheSettings, TENANT } from '../lib/fixtures';
import type { BenchCase, CaseResult, FloorCheck, Table } from '../lib/report';
import { plainRedis, ready, startBenchRedis } from '../lib/services';
import { fmtInt, fmtMs, fmtRatio, median, oursVs, sizeLabel, summarize, type Summary } from '../lib/stats';

/** Keys each pattern matches when an invalidation runs (the tenant's cached lists, searches...). */
const MATCHING_PER_PATTERN = 25;

interface Measured {
  readonly samples: number[];
  readonly readerWaitMs: number[];
}

type VariantName = 'ours' | 'KEYS+DEL, one pattern' | 'KEYS+DEL, a product update (4 patterns)';

export const invalidation: BenchCase = {
  id: 'invalidation',
  title: 'Group invalidation vs keyspace size',
  description:
    'Ours: `TwoTierCache.invalidate` of the three counters a product update bumps (product, tenant lists, marketplace), one Lua script per slot. ' +
    "Baselines, same redis-server and keyspace, interleaved: the design document's `deletePattern` (`KEYS {tenant}:products:*` + `DEL`) and its `invalidateRelatedCaches` (4 patterns, what its product update runs). " +
    `Before each baseline run the ${MATCHING_PER_PATTERN} keys per pattern it deletes are put back (untimed); the other keys (filled with \`DEBUG POPULATE\`) match no pattern.`,
  async run(ctx): Promise<CaseResult> {
    // Half-decade steps in full mode, for the chart (bench/results/invalidation.svg).
    const sizes = ctx.quick ? [1_000, 10_000] : [1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000];
    const server = await startBenchRedis();
    const admin = plainRedis(server);
    const probe = plainRedis(server);
    const baselineClient = plainRedis(server);
    const ourRedis = createRedisClient({ url: server.url });
    const cache = new TwoTierCache({ settings: deployedCacheSettings(), l2: new RedisL2Store(ourRedis) });
    const doc = new DesignDocCacheService(baselineClient);
    const ourKeys = [generationKeys.product(TENANT, 'p1'), generationKeys.productLists(TENANT), generationKeys.marketplace()];
    const patterns = designDocPatterns(TENANT);
    const refill = async () => {
      const pipeline = admin.pipeline();
      for (const pattern of patterns)
        for (let i = 0; i < MATCHING_PER_PATTERN; i++) pipeline.set(pattern.replace('*', `page:${i}`), '{"data":[]}', 'EX', 300);
      await pipeline.exec();
    };
    const variants: { name: VariantName; op: () => Promise<unknown>; before?: () => Promise<void> }[] = [
      { name: 'ours', op: () => cache.invalidate(ourKeys) },
      { name: 'KEYS+DEL, one pattern', op: () => doc.deletePattern(patterns[0] as string), before: refill },
      { name: 'KEYS+DEL, a product update (4 patterns)', op: () => doc.invalidateRelatedCaches('p1', TENANT), before: refill },
    ];
    const bySize = new Map<number, Map<VariantName, Measured>>();
    try {
      await Promise.all([ready(ourRedis), ready(admin), ready(probe), ready(baselineClient)]);
      await probe.set('bench:probe', 'x');
      for (const size of sizes) {
        const fillStarted = performance.now();
        await admin.call('DEBUG', 'POPULATE', String(size), '{other}:product', '64');
        const dbsize = await admin.dbsize();
        ctx.log(`${sizeLabel(size)} keys present (DBSIZE ${dbsize}, filled in ${fmtMs(performance.now() - fillStarted)})`);
        // Bounded repetitions: KEYS at 1M is slow, which is the point.
        const baselineReps = size >= 1_000_000 ? (ctx.quick ? 2 : 6) : size >= 100_000 ? 10 : ctx.quick ? 10 : 30;
        const ourRepsPerRound = ctx.quick ? 20 : 50;
        const measured = new Map<VariantName, Measured>(variants.map((v) => [v.name, { samples: [], readerWaitMs: [] }]));
        for (const v of variants) {
          if (v.before) await v.before();
          await v.op(); // warm-up
        }
        for (let round = 0; round < baselineReps; round++) {
          for (let k = 0; k < variants.length; k++) {
            const v = variants[(round + k) % variants.length] as (typeof variants)[number];
            const m = measured.get(v.name) as Measured;
            const reps = v.name === 'ours' ? ourRepsPerRound : 1;
            for (let i = 0; i < reps; i++) {
              if (v.before) await v.before();
              const t = performance.now();
              await v.op();
              m.samples.push(performance.now() - t);
            }
          }
        }
        // Reader stall, separately (a concurrent reader would disturb the timings above).
        for (const v of variants) {
          for (let i = 0; i < 3; i++) {
            if (v.before) await v.before();
            (measured.get(v.name) as Measured).readerWaitMs.push(await readerWait(probe, v.op));
          }
        }
        bySize.set(size, measured);
        const ours = summarize(measured.get('ours')?.samples ?? []);
        const one = summarize(measured.get('KEYS+DEL, one pattern')?.samples ?? []);
        ctx.log(`${sizeLabel(size)}: ours ${fmtMs(ours.median)}, KEYS+DEL ${fmtMs(one.median)}`);
      }
    } finally {
      admin.disconnect();
      probe.disconnect();
      baselineClient.disconnect();
      await ourRedis.quit().catch(() => ourRedis.disconnect());
      await server.stop();
    }

    const first = sizes[0] as number;
    const last = sizes[sizes.length - 1] as number;
    const stat = (size: number, name: VariantName): Summary => summarize(bySize.get(size)?.get(name)?.samples ?? []);
    const wait = (size: number, name: VariantName): number => median(bySize.get(size)?.get(name)?.readerWaitMs ?? []);
    const rows = sizes.flatMap((size) =>
      variants.map((v) => {
        const s = stat(size, v.name);
        const ours = stat(size, 'ours');
        return [
          sizeLabel(size),
          v.name,
          fmtInt(s.n),
          fmtMs(s.median),
          fmtMs(s.p99),
          v.name === 'ours' ? '-' : oursVs(ours.median, s.median),
          fmtRatio(s.median / stat(first, v.name).median),
          fmtMs(wait(size, v.name)),
        ];
      }),
    );
    const table: Table = {
      title: `Invalidation with ${sizes.map(sizeLabel).join(', ')} keys present`,
      columns: [
        'keys present',
        'variant',
        'runs',
        'median',
        'p99',
        'ratio to ours',
        `growth vs ${sizeLabel(first)}`,
        'a concurrent GET waited (median of 3)',
      ],
      rows,
      notes: [
        `Baseline repetitions are bounded (${ctx.quick ? '2' : '6'} rounds at 1M); ours runs ${ctx.quick ? 20 : 50} times per round.`,
        'The last column: the longest latency of a GET loop on another connection while one invalidation runs; KEYS blocks every client of that Redis for its whole scan.',
      ],
    };
    const ourGrowth = stat(last, 'ours').median / stat(first, 'ours').median;
    const keysGrowth = stat(last, 'KEYS+DEL, one pattern').median / stat(first, 'KEYS+DEL, one pattern').median;
    const floors: FloorCheck[] = [
      {
        floor: `ours flat: at most 2x from ${sizeLabel(first)} to ${sizeLabel(last)} keys`,
        measured: `${fmtMs(stat(first, 'ours').median)} → ${fmtMs(stat(last, 'ours').median)}: ${fmtRatio(ourGrowth)} (KEYS+DEL grew ${fmtRatio(keysGrowth)}: ${fmtMs(stat(first, 'KEYS+DEL, one pattern').median)} → ${fmtMs(stat(last, 'KEYS+DEL, one pattern').median)})`,
        met: ourGrowth <= 2,
      },
    ];
    return {
      headline: [
        `At ${sizeLabel(last)} keys: ours ${fmtMs(stat(last, 'ours').median)}, KEYS+DEL ${fmtMs(stat(last, 'KEYS+DEL, one pattern').median)} for one pattern (${fmtRatio(stat(last, 'KEYS+DEL, one pattern').median / stat(last, 'ours').median)} slower), ${fmtMs(stat(last, 'KEYS+DEL, a product update (4 patterns)').median)} for the design document's product update.`,
      ],
      tables: [table],
      floors,
      data: {
        sizes,
        matchingPerPattern: MATCHING_PER_PATTERN,
        results: Object.fromEntries(
          sizes.map((size) => [
            size,
            Object.fromEntries(
              variants.map((v) => [v.name, { ...stat(size, v.name), readerWaitMs: bySize.get(size)?.get(v.name)?.readerWaitMs }]),
            ),
          ]),
        ),
        ourGrowth,
        keysGrowth,
      },
    };
  },
  charts(data) {
    const d = data as { sizes: number[]; results: Record<string, Record<VariantName, Summary>> };
    const names: VariantName[] = ['ours', 'KEYS+DEL, one pattern', 'KEYS+DEL, a product update (4 patterns)'];
    return [
      {
        name: 'invalidation',
        chart: {
          title: 'Group invalidation against keyspace size',
          subtitle: 'median time of one invalidation; the same redis-server, interleaved at each size',
          x: { label: 'keys present', log: true },
          y: { label: 'median time (ms)', log: true },
          series: names.map((name) => ({
            name: name === 'ours' ? 'ours: generation bump (3 counters)' : `design doc: ${name}`,
            points: d.sizes.map((size) => [size, d.results[String(size)]?.[name].median ?? Number.NaN] as const),
          })),
        },
      },
    ];
  },
};

/** Runs op once while another connection GETs in a loop; returns that reader's longest wait. */
async function readerWait(probe: Redis, op: () => Promise<unknown>): Promise<number> {
  let running = true;
  let longest = 0;
  const reader = (async () => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set to false once op() is done, below
    while (running) {
      const t = performance.now();
      await probe.get('bench:probe');
      longest = Math.max(longest, performance.now() - t);
    }
  })();
  await new Promise((r) => setImmediate(r));
  await op();
  running = false;
  await reader;
  return longest;
}
