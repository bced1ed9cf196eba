/**
 * The memory case's reader, in a fresh process started with --expose-gc: reads N distinct product
 * keys through a TwoTierCache over Redis (the parent filled L2, so each read is one MGET and an L1
 * fill; a key missing from L2 would go to the origin), `inFlight` reads at once, and samples RSS
 * and the heap (after a full GC) along the way.
 * argv: redisUrl keys l1MaxEntries inFlight [early]: samples every tenth of the keys, and after `early` keys
 */
import { entries } from '../../functions/cache/keys';
import { RedisL2Store } from '../../functions/cache/l2-store';
import { TwoTierCache } from '../../functions/cache/two-tier-cache';
import { createRedisClient } from '../../functions/shared/clients/redis';
import { deployedCacheSettings, syntheticProduct, TENANT } from '../lib/fixtures';
import { signalReady } from '../lib/child';
import { ready } from '../lib/services';

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

async function main(): Promise<void> {
  const [url, keysArg, capArg, inFlightArg, earlyArg] = process.argv.slice(2);
  const keys = Number(keysArg);
  const cap = Number(capArg);
  const inFlight = Number(inFlightArg);
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  // A long command timeout: this measures memory, and a loaded machine must not turn reads into origin-only fallbacks.
  const redis = createRedisClient({ url: url as string, commandTimeoutMs: 5000 });
  await ready(redis);
  const cache = new TwoTierCache({
    settings: { ...deployedCacheSettings(), l1MaxEntries: cap, l1TtlMs: 60_000 },
    l2: new RedisL2Store(redis),
  });
  const internals = cache as unknown as { l1?: { size: number }; generations: { size: number } };
  const started = performance.now();
  const samples: Sample[] = [];
  const sample = (keysRead: number) => {
    gc();
    const m = process.memoryUsage();
    samples.push({
      keysRead,
      rssBytes: m.rss,
      heapUsedBytes: m.heapUsed,
      heapTotalBytes: m.heapTotal,
      externalBytes: m.external,
      l1Entries: internals.l1?.size ?? 0,
      generationEntries: internals.generations.size,
      seconds: (performance.now() - started) / 1000,
    });
  };
  sample(0);
  const checkpoints = new Set(Array.from({ length: 10 }, (_, i) => Math.round((keys * (i + 1)) / 10)));
  if (Number(earlyArg) > 0) checkpoints.add(Number(earlyArg));
  let next = 0;
  let done = 0;
  let wrong = 0;
  let fromOrigin = 0;
  const worker = async () => {
    while (next < keys) {
      const id = `m${next++}`;
      const got = await cache.getOrLoad(entries.product(TENANT, id), 'medium', () => Promise.resolve(syntheticProduct(id)));
      if ((got.value as { id?: string } | null)?.id !== id) wrong++;
      if (got.source === 'origin') fromOrigin++;
      done++;
      if (checkpoints.has(done)) sample(done);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  await redis.quit();
  signalReady({ samples, wrong, fromOrigin, cap, keys, inFlight, generationsCap: Math.max(1000, cap * 4) });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
