/**
 * Stampede: 500 concurrent reads of one key that is in no cache, spread over 50 separate cache
 * instances (50 "containers", each with its own Redis connection, its own L1 and its own DynamoDB
 * client), all fired in the same tick. Counts the origin (DynamoDB GetItem) reads per round.
 * Ours: TwoTierCache (in-flight dedup per instance, a Redis lease across instances). Baseline: the
 * design document's plain cache-aside (GET, else load and SETEX). Rounds alternate between the
 * two, each on a fresh key.
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { Product } from '../../functions/catalog/model';
import type { DynamoShopRepository } from '../../functions/catalog/dynamodb/shop-repository';
import { entries } from '../../functions/cache/keys';
import { RedisL2Store } from '../../functions/cache/l2-store';
import { CountingObserver } from '../../functions/cache/observer';
import { TwoTierCache } from '../../functions/cache/two-tier-cache';
import { createRedisClient, type RedisClient } from '../../functions/shared/clients/redis';
import { DesignDocCacheService } from '../baselines/design-doc';
import { deployedCacheSettings, repository, seedProducts, TENANT } from '../lib/fixtures';
import type { BenchCase, CaseResult } from '../lib/report';
import { plainRedis, ready, startBenchRedis } from '../lib/services';
import { fmtInt, fmtMs, summarize } from '../lib/stats';

const INSTANCES = 50;
const REQUESTS = 500;

interface Round {
  readonly variant: 'ours' | 'plain cache-aside';
  readonly originReads: number;
  readonly latencies: number[];
  readonly lastAnsweredMs: number;
  readonly wrongAnswers: number;
}

export const stampede: BenchCase = {
  id: 'stampede',
  title: 'Stampede',
  description: `${REQUESTS} concurrent misses on one key from ${INSTANCES} separate cache instances (each its own Redis connection, L1 and DynamoDB client; ${REQUESTS / INSTANCES} requests each), fired in one tick; origin = DynamoDB GetItem, counted. Ours: \`TwoTierCache\` (deployed settings). Baseline: the design document's plain cache-aside. Rounds alternate, each on a fresh key.`,
  async run(ctx): Promise<CaseResult> {
    const rounds = ctx.quick ? 2 : 8;
    const server = await startBenchRedis();
    const tables = await ctx.dynamo.tables('stampede');
    const seeder = repository(ctx.dynamo.endpoint, tables.shop);
    const ids = Array.from({ length: rounds * 2 + 2 }, (_, i) => `stampede-${i}`);
    await seedProducts(seeder, ids);
    const settings = deployedCacheSettings();
    const ours: { redis: RedisClient; cache: TwoTierCache; repo: DynamoShopRepository }[] = [];
    const plain: { redis: Redis; cache: DesignDocCacheService; repo: DynamoShopRepository }[] = [];
    const observer = new CountingObserver();
    for (let i = 0; i < INSTANCES; i++) {
      const redis = createRedisClient({ url: server.url });
      ours.push({
        redis,
        cache: new TwoTierCache({ settings, l2: new RedisL2Store(redis), observer }),
        repo: repository(ctx.dynamo.endpoint, tables.shop),
      });
      const raw = plainRedis(server);
      plain.push({ redis: raw, cache: new DesignDocCacheService(raw), repo: repository(ctx.dynamo.endpoint, tables.shop) });
    }
    const results: Round[] = [];
    try {
      await Promise.all([...ours.map((o) => ready(o.redis)), ...plain.map((p) => ready(p.redis))]);
      let next = 0;
      const fire = async (variant: Round['variant']): Promise<Round> => {
        const productId = ids[next++] as string;
        let originReads = 0;
        const latencies: number[] = [];
        let wrongAnswers = 0;
        const started = performance.now();
        await Promise.all(
          Array.from({ length: REQUESTS }, async (_, r) => {
            const instance = r % INSTANCES;
            const t = performance.now();
            let value: Product | null;
            if (variant === 'ours') {
              const { cache, repo } = ours[instance] as (typeof ours)[number];
              const load = () => {
                originReads++;
                return repo.getProduct(TENANT, productId);
              };
              value = (await cache.getOrLoad<Product>(entries.product(TENANT, productId), 'medium', load)).value;
            } else {
              const { cache, repo } = plain[instance] as (typeof plain)[number];
              const load = () => {
                originReads++;
                return repo.getProduct(TENANT, productId);
              };
              value = await cache.get<Product | null>(cache.generateKey(TENANT, 'product', productId), load);
            }
            if (value?.id !== productId) wrongAnswers++;
            latencies.push(performance.now() - t);
          }),
        );
        return { variant, originReads, latencies, lastAnsweredMs: performance.now() - started, wrongAnswers };
      };
      // Warm-up (connections, JIT) on keys not counted.
      await fire('ours');
      await fire('plain cache-aside');
      observer.counts.clear();
      for (let round = 0; round < rounds; round++) {
        const order: Round['variant'][] = round % 2 === 0 ? ['ours', 'plain cache-aside'] : ['plain cache-aside', 'ours'];
        for (const variant of order) {
          const r = await fire(variant);
          results.push(r);
          ctx.log(`round ${round + 1}, ${variant}: ${r.originReads} origin reads, last answer after ${fmtMs(r.lastAnsweredMs)}`);
        }
      }
    } finally {
      await Promise.all([
        ...ours.map((o) => o.redis.quit().catch(() => o.redis.disconnect())),
        ...plain.map((p) => p.redis.quit().catch(() => p.redis.disconnect())),
      ]);
      await server.stop();
    }

    const of = (variant: Round['variant']) => results.filter((r) => r.variant === variant);
    const row = (variant: Round['variant']) => {
      const rs = of(variant);
      const reads = rs.map((r) => r.originReads);
      const lat = summarize(rs.flatMap((r) => r.latencies));
      const last = summarize(rs.map((r) => r.lastAnsweredMs));
      const wrong = rs.reduce((s, r) => s + r.wrongAnswers, 0);
      return { reads, lat, last, wrong };
    };
    const o = row('ours');
    const p = row('plain cache-aside');
    const exact = o.reads.every((n) => n === 1);
    const fmtReads = (reads: number[]) => `${Math.min(...reads)}–${Math.max(...reads)} (${reads.join(', ')})`;
    return {
      headline: [`Origin reads per ${REQUESTS}-request stampede: ours ${fmtReads(o.reads)}, plain cache-aside ${fmtReads(p.reads)}.`],
      tables: [
        {
          title: `Stampede: ${REQUESTS} concurrent misses on one key, ${INSTANCES} instances, ${rounds} rounds each`,
          columns: [
            'variant',
            'origin reads per round (min–max)',
            'median per round',
            'request latency median',
            'request latency p99',
            'last answer (median of rounds)',
            'wrong answers',
          ],
          rows: [
            [
              'ours (TwoTierCache)',
              `${Math.min(...o.reads)}–${Math.max(...o.reads)}`,
              fmtInt(summarize(o.reads).median),
              fmtMs(o.lat.median),
              fmtMs(o.lat.p99),
              fmtMs(o.last.median),
              String(o.wrong),
            ],
            [
              'plain cache-aside (design document)',
              `${Math.min(...p.reads)}–${Math.max(...p.reads)}`,
              fmtInt(summarize(p.reads).median),
              fmtMs(p.lat.median),
              fmtMs(p.lat.p99),
              fmtMs(p.last.median),
              String(p.wrong),
            ],
          ],
          notes: [
            `Ours across all rounds: ${observer.get('CacheMiss')} L2 misses seen, ${observer.get('LeaseWait')} lease waits, ${observer.get('LeaseWaitFallback')} lease-wait fallbacks to the origin (instance-level dedup folds each instance's ${REQUESTS / INSTANCES} requests into one).`,
          ],
        },
      ],
      floors: [
        {
          floor: 'exactly 1 origin read for ours',
          measured: `ours ${fmtReads(o.reads)}; plain cache-aside ${fmtReads(p.reads)}`,
          met: exact,
        },
      ],
      data: {
        instances: INSTANCES,
        requests: REQUESTS,
        rounds,
        settings,
        ours: { originReads: o.reads, latency: o.lat, lastAnswered: o.last, wrongAnswers: o.wrong },
        plain: { originReads: p.reads, latency: p.lat, lastAnswered: p.last, wrongAnswers: p.wrong },
        observer: Object.fromEntries(observer.counts),
      },
    };
  },
};
