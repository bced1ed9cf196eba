/**
 * Read path: one product read through the cache module (TwoTierCache over RedisL2Store, the
 * deployed settings), as an L1 hit, an L2 hit and a miss; beside it, in the same process and
 * interleaved, the floors: a raw ioredis GET + JSON.parse of the very bytes the cache stores, and
 * a raw DynamoDB GetItem of the same item.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { entries } from '../../functions/cache/keys';
import { RedisL2Store } from '../../functions/cache/l2-store';
import { TwoTierCache, type Cached } from '../../functions/cache/two-tier-cache';
import { createRedisClient } from '../../functions/shared/clients/redis';
import { shopKeys } from '../../functions/shared/tables';
import type { Product } from '../../functions/catalog/model';
import { deployedCacheSettings, repository, seedProducts, TENANT } from '../lib/fixtures';
import { interleave, type Variant } from '../lib/interleave';
import type { BenchCase, CaseResult } from '../lib/report';
import { plainRedis, ready, startBenchRedis } from '../lib/services';
import { fmtInt, fmtMs, fmtRatio, summarize, type Summary } from '../lib/stats';

const PRODUCT = 'read-path-product';

export const readPath: BenchCase = {
  id: 'read-path',
  title: 'Read path',
  description:
    'A product read through the cache module (`TwoTierCache` + `RedisL2Store`, deployed settings, the production Redis client) as an L1 hit, an L2 hit (L1 disabled) and a miss (entry deleted before each read: lease, DynamoDB GetItem, guarded fill). ' +
    'Baselines in the same process, interleaved: a raw ioredis `GET` + `JSON.parse` of the same bytes (the floor of an L2 hit) and a raw DynamoDB `GetItem` of the same item. Latency per read, each read timed alone.',
  async run(ctx): Promise<CaseResult> {
    const redisServer = await startBenchRedis();
    const tables = await ctx.dynamo.tables('read');
    const repo = repository(ctx.dynamo.endpoint, tables.shop);
    await seedProducts(repo, [PRODUCT]);
    const settings = deployedCacheSettings();
    // One production client (commandTimeout, retry strategy) per cache, as one container has one.
    const ourRedis = createRedisClient({ url: redisServer.url });
    const l1Cache = new TwoTierCache({ settings, l2: new RedisL2Store(ourRedis) });
    const l2Cache = new TwoTierCache({ settings: { ...settings, l1MaxEntries: 0 }, l2: new RedisL2Store(ourRedis) });
    const raw = plainRedis(redisServer);
    const admin = plainRedis(redisServer);
    try {
      const entry = entries.product(TENANT, PRODUCT);
      const load = () => repo.getProduct(TENANT, PRODUCT);
      const read = (cache: TwoTierCache) => () => cache.getOrLoad<Product>(entry, 'medium', load);
      const source = (expected: Cached<Product>['source']) => (r: unknown) => (r as Cached<Product>).source === expected;

      await Promise.all([ready(ourRedis), ready(raw), ready(admin)]);
      // Fill L2 once and copy the stored bytes for the raw GET baseline.
      await l2Cache.getOrLoad(entry, 'medium', load);
      const stored = await admin.getBuffer(entry.key);
      if (!stored) throw new Error('the cache stored nothing in Redis');
      await admin.set('bench:raw:product', stored);
      const getItem = new GetItemCommand({
        TableName: tables.shop,
        Key: { pk: { S: shopKeys.tenant(TENANT) }, sk: { S: shopKeys.product(PRODUCT) } },
      });

      const q = ctx.quick;
      const fast = { perRound: q ? 200 : 1000, warmup: q ? 500 : 5000 };
      const mid = { perRound: q ? 50 : 250, warmup: q ? 100 : 1000 };
      const slow = { perRound: q ? 5 : 25, warmup: q ? 10 : 50 };
      const variants: Variant[] = [
        { name: 'ours: L1 hit', op: read(l1Cache), accept: source('l1'), ...fast },
        { name: 'ours: L2 hit', op: read(l2Cache), accept: source('l2'), ...mid },
        {
          name: 'ours: miss',
          op: read(l2Cache),
          before: async () => {
            await admin.del(entry.key);
          },
          accept: source('origin'),
          ...slow,
        },
        { name: 'raw ioredis GET + JSON.parse', op: async () => JSON.parse((await raw.get('bench:raw:product')) as string), ...mid },
        {
          name: 'same GET + JSON.parse on our Redis client',
          op: async () => JSON.parse((await ourRedis.get('bench:raw:product')) as string),
          ...mid,
        },
        {
          // What an L2 hit must fetch with this key layout: the entry and its generation counters, one MGET.
          name: 'raw MGET of the entry + its 2 counters + JSON.parse',
          op: async () => {
            const [bytes] = await raw.mgetBuffer(entry.key, ...entry.generations);
            return JSON.parse((bytes as Buffer).toString('utf8'));
          },
          ...mid,
        },
        { name: 'raw DynamoDB GetItem', op: () => ctx.dynamo.client.send(getItem), ...slow },
      ];
      const rounds = q ? 4 : 20;
      ctx.log(`read path: ${rounds} interleaved rounds`);
      const results = await interleave(variants, rounds);
      const s = (name: string): Summary => summarize(results.get(name)?.samples ?? []);
      const l1 = s('ours: L1 hit');
      const l2 = s('ours: L2 hit');
      const miss = s('ours: miss');
      const rawGet = s('raw ioredis GET + JSON.parse');
      const dynamo = s('raw DynamoDB GetItem');
      const baselineOf: Record<string, Summary | undefined> = {
        'ours: L1 hit': rawGet,
        'ours: L2 hit': rawGet,
        'ours: miss': dynamo,
        'same GET + JSON.parse on our Redis client': rawGet,
        'raw MGET of the entry + its 2 counters + JSON.parse': rawGet,
      };
      const baselineName: Record<string, string> = {
        'ours: L1 hit': 'raw GET',
        'ours: L2 hit': 'raw GET',
        'ours: miss': 'GetItem',
        'same GET + JSON.parse on our Redis client': 'raw GET',
        'raw MGET of the entry + its 2 counters + JSON.parse': 'raw GET',
      };
      const rows = variants.map((v) => {
        const sum = s(v.name);
        const base = baselineOf[v.name];
        const rejected = results.get(v.name)?.rejected ?? 0;
        return [
          v.name,
          fmtInt(sum.n) + (rejected ? ` (${rejected} dropped)` : ''),
          fmtMs(sum.median),
          fmtMs(sum.p99),
          base ? `${fmtRatio(sum.median / base.median)} of ${baselineName[v.name]}` : '(baseline)',
        ];
      });
      const l2Ratio = l2.median / rawGet.median;
      const payload = stored.length;
      return {
        headline: [
          `**L1 hit ${fmtMs(l1.median)}, L2 hit ${fmtMs(l2.median)}, miss ${fmtMs(miss.median)}** (medians; p99 ${fmtMs(l1.p99)} / ${fmtMs(l2.p99)} / ${fmtMs(miss.p99)}); raw GET + parse ${fmtMs(rawGet.median)}, raw GetItem ${fmtMs(dynamo.median)}.`,
        ],
        tables: [
          {
            title: `Read path: one product (${payload} bytes stored in Redis), ${rounds} interleaved rounds`,
            columns: ['variant', 'reads', 'median', 'p99', 'median vs baseline'],
            rows,
            notes: [
              '"our Redis client" is `createRedisClient` (functions/shared/clients/redis.ts) with its production options; the raw baseline is `new Redis()` with ioredis defaults.',
              'A read whose `source` is not the expected one (an L1 entry past its 2 s TTL reads through to L2) is dropped and counted.',
              'The MGET row is the Redis work an L2 hit cannot avoid with this key layout (entry and generation counters in one round trip); the L2 hit minus that row is the cache module itself (breaker, in-flight map, decoding, generation check, L1 fill).',
            ],
          },
        ],
        floors: [
          {
            floor: 'L2-hit median at most 1.5x the raw GET',
            measured: `${fmtMs(l2.median)} vs ${fmtMs(rawGet.median)}: ${fmtRatio(l2Ratio)}`,
            met: l2Ratio <= 1.5,
          },
          { floor: 'L1-hit median under 20 µs', measured: fmtMs(l1.median), met: l1.median * 1000 < 20 },
        ],
        data: {
          payloadBytes: payload,
          settings,
          rounds,
          variants: Object.fromEntries([...results].map(([name, r]) => [name, { ...summarize(r.samples), rejected: r.rejected }])),
          l2HitOverRawGet: l2Ratio,
        },
      };
    } finally {
      raw.disconnect();
      admin.disconnect();
      await ourRedis.quit().catch(() => ourRedis.disconnect());
      await redisServer.stop();
    }
  },
};
