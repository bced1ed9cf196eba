/**
 * Memory: RSS and heap of a fresh process that reads 1M distinct keys through the cache module
 * (TwoTierCache with Redis as L2, every key read once, so 1M distinct entries pass through L1 and
 * 1M distinct counters through the generation map). To keep it fast, L2 is filled beforehand by a
 * Lua loop inside Redis: each read is then an L2 hit (one MGET) that fills L1. Bounded means:
 * after the first tenth the heap no longer grows with the number of keys, and L1 never holds more
 * than its cap. Run at the deployed L1 cap and at a 100x larger one: memory follows the cap.
 */
import { entries, generationKeys } from '../../functions/cache/keys';
import { startChild } from '../lib/child';
import type { BenchCase, CaseResult, FloorCheck, Table } from '../lib/report';
import { plainRedis, ready, startBenchRedis } from '../lib/services';
import { deployedCacheSettings, syntheticProduct, TENANT } from '../lib/fixtures';
import { fmtInt, fmtMiB, sizeLabel } from '../lib/stats';

interface Sample {
  readonly keysRead: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  readonly externalBytes: number;
  readonly l1Entries: number;
  readonly generationEntries: number;
  readonly seconds: number;
}

interface ChildReport {
  readonly samples: Sample[];
  readonly wrong: number;
  readonly fromOrigin: number;
  readonly cap: number;
  readonly keys: number;
  readonly inFlight: number;
  readonly generationsCap: number;
}

const IN_FLIGHT = 256;

export const memory: BenchCase = {
  id: 'memory',
  title: 'Memory',
  description:
    `A fresh node process (\`--expose-gc\`) reads N distinct product keys through \`TwoTierCache\` with Redis as L2 (the production client; deployed settings except the L1 cap under test and a 60 s L1 TTL, so nothing leaves L1 by age), ${IN_FLIGHT} reads in flight, each key once. ` +
    'To keep 1M reads fast, L2 is filled first by a Lua loop inside Redis (valid envelopes under current generation counters), so each read is an L2 hit: one MGET, then an L1 fill. RSS and heap (after a full GC) sampled every tenth and once while L1 is half full. Run at the deployed L1 cap with 1M keys, and at a 25x larger cap with 400k keys (its maps fill at 100k).',
  async run(ctx): Promise<CaseResult> {
    const deployedCap = deployedCacheSettings().l1MaxEntries;
    const keys = ctx.quick ? 20_000 : 1_000_000;
    // The larger cap reads fewer keys (time is per key): enough for both its maps to fill and stay full.
    const runs = [
      { cap: deployedCap, keys },
      { cap: deployedCap * 25, keys: ctx.quick ? 20_000 : Math.max(400_000, deployedCap * 25 * 16) },
    ];
    const reports: ChildReport[] = [];
    for (const { cap, keys: n } of runs) {
      const redis = await startBenchRedis();
      try {
        await fillL2(redis, n);
        ctx.log(`${sizeLabel(n)} keys, L1 cap ${fmtInt(cap)}`);
        const child = await startChild<ChildReport>(
          'cases/memory-child.ts',
          [redis.url, String(n), String(cap), String(IN_FLIGHT), String(Math.floor(cap / 2))],
          {
            nodeArgs: ['--expose-gc'],
            timeoutMs: 900_000,
          },
        );
        reports.push(child.info);
        await child.stop();
      } finally {
        await redis.stop();
      }
    }
    const rows = reports.flatMap((r) =>
      r.samples
        .filter((s, i, all) => {
          const firstFull = all.findIndex((x) => x.l1Entries >= r.cap && x.generationEntries >= r.generationsCap);
          return (
            i === 0 ||
            s.keysRead === Math.floor(r.cap / 2) ||
            i === firstFull ||
            s.keysRead === Math.round(r.keys / 2) ||
            i === all.length - 1
          );
        })
        .map((s) => [
          fmtInt(r.cap),
          fmtInt(s.keysRead),
          fmtMiB(s.rssBytes),
          fmtMiB(s.heapUsedBytes),
          fmtMiB(s.heapTotalBytes),
          fmtMiB(s.externalBytes),
          fmtInt(s.l1Entries),
          fmtInt(s.generationEntries),
          `${s.seconds.toFixed(1)} s`,
        ]),
    );
    const floors: FloorCheck[] = [];
    const summary = reports.map((r) => {
      const end = r.samples[r.samples.length - 1] as Sample;
      // The first sample where L1 and the generation map were both at their caps: from there on,
      // a bounded cache no longer grows with the number of keys.
      const filled = r.samples.find((s) => s.l1Entries >= r.cap && s.generationEntries >= r.generationsCap);
      const full = filled ?? end;
      const peakRss = Math.max(...r.samples.map((s) => s.rssBytes));
      const heapGrowth = end.heapUsedBytes - full.heapUsedBytes;
      const maxL1 = Math.max(...r.samples.map((s) => s.l1Entries));
      const maxGenerations = Math.max(...r.samples.map((s) => s.generationEntries));
      return { r, full, filled: filled !== undefined, end, peakRss, heapGrowth, maxL1, maxGenerations };
    });
    // What an unbounded cache would cost per key: the largest cap's heap growth per key while L1 is
    // half full (each key read so far added one L1 entry and one generation counter).
    const largest = summary[summary.length - 1];
    const filling = largest?.r.samples.find((s) => s.keysRead === Math.floor(largest.r.cap / 2));
    const perKeyBytes =
      largest && filling ? (filling.heapUsedBytes - (largest.r.samples[0] as Sample).heapUsedBytes) / Math.max(1, filling.keysRead) : NaN;
    for (const s of summary) {
      // Bounded: no map above its cap, and after both are full the heap grows by less than a tenth
      // of what keeping every further entry would cost (or 16 MiB, whichever is larger: GC noise).
      const unboundedGrowth = Number.isFinite(perKeyBytes) ? perKeyBytes * (s.end.keysRead - s.full.keysRead) : 0;
      const allowance = Math.max(16 * 1024 * 1024, unboundedGrowth / 10);
      const bounded = s.maxL1 <= s.r.cap && s.maxGenerations <= s.r.generationsCap && s.heapGrowth < allowance;
      floors.push({
        floor: `bounded by the L1 size setting (cap ${fmtInt(s.r.cap)})`,
        measured:
          `after ${fmtInt(s.r.keys)} keys: RSS ${fmtMiB(s.end.rssBytes)} (peak ${fmtMiB(s.peakRss)}; ${s.filled ? `${s.end.rssBytes >= s.full.rssBytes ? '+' : ''}${fmtMiB(s.end.rssBytes - s.full.rssBytes)} since both maps were full` : 'maps never full'}), heap ${fmtMiB(s.end.heapUsedBytes)}; ` +
          `L1 at most ${fmtInt(s.maxL1)} entries, generation map at most ${fmtInt(s.maxGenerations)}; ` +
          (s.filled
            ? `heap ${s.heapGrowth >= 0 ? '+' : ''}${fmtMiB(s.heapGrowth)} from ${fmtInt(s.full.keysRead)} keys (both maps full) to the end` +
              (Number.isFinite(perKeyBytes) ? ` (unbounded: ~${fmtMiB(perKeyBytes * (s.end.keysRead - s.full.keysRead))} more)` : '')
            : 'the maps never reached their caps in this run'),
        met: bounded,
      });
    }
    const table: Table = {
      title: `Memory while reading distinct keys through the cache (after a full GC at each sample)`,
      columns: ['L1 cap', 'keys read', 'RSS', 'heap used', 'heap total', 'external', 'L1 entries', 'generation map entries', 'elapsed'],
      rows,
      notes: [
        `The generation map (last counter values seen) is an LRU capped at max(1000, 4 × L1 cap): ${summary.map((s) => fmtInt(s.r.generationsCap)).join(' and ')}.`,
        `${summary.map((s) => `cap ${fmtInt(s.r.cap)}: ${s.r.wrong} wrong answers, ${s.r.fromOrigin} reads that went to the origin`).join('; ')}.`,
        `Bounded means: neither map above its cap, and from the first sample where both maps are full to the end the heap (after GC) grows by less than a tenth of what keeping those entries would cost (at least 16 MiB of slack for GC and hash-table resizing). Keeping them would cost about ${Number.isFinite(perKeyBytes) ? fmtInt(perKeyBytes) : 'n/a'} bytes per key (heap growth per key read while the larger cap's L1 is half full: one L1 entry and one generation counter each).`,
        'RSS includes the Node runtime, tsx, the loaded modules, the young generation and allocator memory the read loop churns through (256 reads in flight), which the process keeps once touched: it levels off at about the same value whatever the cap. The heap used after a full GC is what the cache holds.',
      ],
    };
    return {
      headline: summary.map(
        (s) =>
          `L1 cap ${fmtInt(s.r.cap)}: RSS ${fmtMiB(s.end.rssBytes)} after ${sizeLabel(s.r.keys)} distinct keys (heap ${fmtMiB(s.end.heapUsedBytes)}).`,
      ),
      tables: [table],
      floors,
      data: { runs, inFlight: IN_FLIGHT, perKeyBytes, reports },
    };
  },
};

/** Valid entries for keys m0..m(n-1) and their generation counters, written by Lua inside Redis (100k per script). */
async function fillL2(server: Parameters<typeof plainRedis>[0], keys: number): Promise<void> {
  const admin = plainRedis(server);
  try {
    await ready(admin);
    const sample = entries.product(TENANT, 'ID0');
    const tenantGeneration = generationKeys.tenant(TENANT);
    const now = Date.now();
    const template = JSON.stringify({ v: syntheticProduct('ID0'), g: ['1', '1'], c: now, s: now + 86_400_000, e: '"bench"' });
    const lua = `
      redis.call('SET', ARGV[1], '1')
      for i = tonumber(ARGV[5]), tonumber(ARGV[6]) - 1 do
        local id = 'm' .. i
        redis.call('SET', string.gsub(ARGV[2], 'ID0', id), '1')
        redis.call('SET', string.gsub(ARGV[3], 'ID0', id), (string.gsub(ARGV[4], 'ID0', id)))
      end
      return 1`;
    const productGeneration = generationKeys.product(TENANT, 'ID0');
    for (let from = 0; from < keys; from += 100_000) {
      await admin.eval(
        lua,
        0,
        tenantGeneration,
        productGeneration,
        sample.key,
        template,
        String(from),
        String(Math.min(keys, from + 100_000)),
      );
    }
  } finally {
    admin.disconnect();
  }
}
