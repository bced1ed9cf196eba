import { entries, generationKeys, notFoundSlot, productGenerations } from '../../functions/cache/keys';
import type { RedisClient } from '../../functions/shared/clients/redis';
import { uniqueId } from '../support';
import { cacheOn, connect, CountingOrigin, quit, TOPOLOGIES } from './cache-fixtures';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(TOPOLOGIES)('two-tier cache on a %s', (topology) => {
  let redis: RedisClient;
  let tenant: string;

  beforeAll(() => {
    redis = connect(topology);
  });
  afterAll(() => quit(redis));
  beforeEach(() => {
    tenant = uniqueId('t')
      .replace(/[^A-Za-z0-9_-]/g, '_')
      .slice(0, 64);
  });

  it('loads a miss once, then serves L1 hits in the same container and L2 hits in another', async () => {
    const origin = new CountingOrigin({ name: 'Desk lamp', price: 1999 });
    const a = cacheOn(redis);
    const b = cacheOn(redis);
    const entry = entries.product(tenant, 'p1');

    const first = await a.cache.getOrLoad(entry, 'medium', origin.load);
    const second = await a.cache.getOrLoad(entry, 'medium', origin.load);
    const third = await b.cache.getOrLoad(entry, 'medium', origin.load);

    expect([first.source, second.source, third.source]).toEqual(['origin', 'l1', 'l2']);
    expect(third.value).toEqual({ name: 'Desk lamp', price: 1999 });
    expect(third.etag).toBe(first.etag);
    expect(origin.reads).toBe(1);
  });

  it('caches "not found" and forgets it when the product is created', async () => {
    const origin = new CountingOrigin<{ name: string }>(null);
    const a = cacheOn(redis);
    const entry = entries.product(tenant, 'later');

    expect((await a.cache.getOrLoad(entry, 'medium', origin.load)).value).toBeNull();
    expect((await cacheOn(redis).cache.getOrLoad(entry, 'medium', origin.load)).value).toBeNull();
    expect(origin.reads).toBe(1);

    origin.value = { name: 'now it exists' };
    await a.cache.invalidate([generationKeys.product(tenant, 'later')]);

    expect((await a.cache.getOrLoad(entry, 'medium', origin.load)).value).toEqual({ name: 'now it exists' });
    expect((await cacheOn(redis).cache.getOrLoad(entry, 'medium', origin.load)).value).toEqual({ name: 'now it exists' });
  });

  it('never returns the old value after a write, in the writing container or a new one', async () => {
    const origin = new CountingOrigin({ version: 0 });
    const writer = cacheOn(redis);
    const entry = entries.product(tenant, 'p2');
    for (let version = 1; version <= 20; version++) {
      await writer.cache.getOrLoad(entry, 'medium', origin.load);
      origin.value = { version };
      await writer.cache.invalidate([generationKeys.product(tenant, 'p2')]);
      expect((await writer.cache.getOrLoad(entry, 'medium', origin.load)).value).toEqual({ version });
      expect((await cacheOn(redis).cache.getOrLoad(entry, 'medium', origin.load)).value).toEqual({ version });
    }
  });

  it('drops every list of a tenant with one generation bump, and leaves other tenants alone', async () => {
    const other = `${tenant}_`;
    const origin = new CountingOrigin(['a']);
    const otherOrigin = new CountingOrigin(['other']);
    const pages = [1, 2, 3].map((n) => entries.productList(tenant, { limit: n }));
    const c = cacheOn(redis);
    for (const page of pages) await c.cache.getOrLoad(page, 'short', origin.load);
    await c.cache.getOrLoad(entries.productList(other, { limit: 1 }), 'short', otherOrigin.load);

    origin.value = ['a', 'b'];
    await c.cache.invalidate([generationKeys.productLists(tenant)]);

    for (const page of pages) expect((await cacheOn(redis).cache.getOrLoad(page, 'short', origin.load)).value).toEqual(['a', 'b']);
    expect((await cacheOn(redis).cache.getOrLoad(entries.productList(other, { limit: 1 }), 'short', otherOrigin.load)).source).toBe('l2');
  });

  it('200 concurrent misses on one key from separate cache instances cause exactly one origin read', async () => {
    const origin = new CountingOrigin({ hot: true });
    origin.delayMs = 30;
    const connections = Array.from({ length: 5 }, () => connect(topology));
    try {
      // Waiters wait for the lease holder, however slow a loaded CI machine makes it.
      const patient = { leaseMs: 15_000, leaseWaitMs: 15_000 };
      const containers = Array.from({ length: 200 }, (_, i) => cacheOn(connections[i % connections.length] as RedisClient, patient).cache);
      const entry = entries.product(tenant, 'hot');
      const results = await Promise.all(containers.map((c) => c.getOrLoad(entry, 'medium', origin.load)));
      expect(origin.reads).toBe(1);
      expect(results.every((r) => (r.value as { hot: boolean }).hot)).toBe(true);
    } finally {
      await Promise.all(connections.map(quit));
    }
  });

  it('a slow load that a write overtakes cannot put the old value back (stale-set guard)', async () => {
    const origin = new CountingOrigin({ price: 100 });
    origin.delayMs = 200;
    const slow = cacheOn(redis);
    const entry = entries.product(tenant, 'raced');

    const pending = slow.cache.getOrLoad(entry, 'medium', origin.load); // reads price 100, answers later
    await sleep(50);
    origin.delayMs = 0;
    origin.value = { price: 200 };
    await cacheOn(redis).cache.invalidate([generationKeys.product(tenant, 'raced')]);
    await pending;

    const next = cacheOn(redis);
    expect((await next.cache.getOrLoad(entry, 'medium', origin.load)).value).toEqual({ price: 200 });
    // The refused fill released its lease: the next reader did not wait it out.
    expect(next.observer.get('LeaseWait')).toBe(0);
  });

  it('serves no stale entry when a generation counter is deleted behind its back', async () => {
    const origin = new CountingOrigin({ price: 1 });
    const entry = entries.product(tenant, 'gen-lost');
    await cacheOn(redis).cache.getOrLoad(entry, 'medium', origin.load);

    origin.value = { price: 2 }; // a write whose invalidation was lost...
    await redis.del(generationKeys.product(tenant, 'gen-lost')); // ...and the counter evicted

    expect((await cacheOn(redis).cache.getOrLoad(entry, 'medium', origin.load)).value).toEqual({ price: 2 });
  });

  it('a read of a product that does not exist creates no counter of its own; its "not found" is served from the slot', async () => {
    const origin = new CountingOrigin<{ name: string }>(null);
    const entry = entries.product(tenant, 'nobody');

    expect((await cacheOn(redis).cache.getOrLoad(entry, 'medium', origin.load)).value).toBeNull();
    expect(await redis.exists(generationKeys.product(tenant, 'nobody'))).toBe(0);
    const other = cacheOn(redis);
    expect(await other.cache.getOrLoad(entry, 'medium', origin.load)).toMatchObject({ value: null, source: 'l2' });
    expect(other.observer.get('NegativeHit')).toBe(1);
    expect(origin.reads).toBe(1);
  });

  it('ids that share a not-found slot each get their own answer', async () => {
    const a = 'slot-a';
    let b = 'slot-b0';
    for (let i = 1; notFoundSlot(b) !== notFoundSlot(a); i++) b = `slot-b${i}`;
    const originA = new CountingOrigin<{ id: string }>(null);
    const originB = new CountingOrigin<{ id: string }>(null);
    const read = (id: string, origin: CountingOrigin<{ id: string }>) =>
      cacheOn(redis).cache.getOrLoad(entries.product(tenant, id), 'medium', origin.load);
    for (const [id, origin] of [
      [a, originA],
      [b, originB],
      [b, originB],
      [a, originA],
    ] as const) {
      expect((await read(id, origin)).value).toBeNull();
    }
    // b took the slot from a: b a hit the second time, a read again from the origin.
    expect([originA.reads, originB.reads]).toEqual([2, 1]);

    originA.value = { id: a };
    await cacheOn(redis).cache.invalidate(productGenerations(tenant, a));
    expect((await read(a, originA)).value).toEqual({ id: a });
    expect((await read(b, originB)).value).toBeNull();
  });

  it('a product created after its "not found" was cached is served, even when its own counter is lost', async () => {
    const origin = new CountingOrigin<{ name: string }>(null);
    const entry = entries.product(tenant, 'born');
    expect((await cacheOn(redis).cache.getOrLoad(entry, 'medium', origin.load)).value).toBeNull();

    origin.value = { name: 'born' };
    await cacheOn(redis).cache.invalidate(productGenerations(tenant, 'born')); // what a create bumps
    await redis.del(generationKeys.product(tenant, 'born')); // and the product's counter lost after it

    expect((await cacheOn(redis).cache.getOrLoad(entry, 'medium', origin.load)).value).toEqual({ name: 'born' });
  });

  it('a fill that began while the counter was absent cannot survive the write that creates it', async () => {
    const origin = new CountingOrigin({ price: 100 });
    origin.delayMs = 200;
    const entry = entries.product(tenant, 'first-write');
    expect(await redis.exists(generationKeys.product(tenant, 'first-write'))).toBe(0);

    const pending = cacheOn(redis).cache.getOrLoad(entry, 'medium', origin.load); // saw no counter, reads price 100
    await sleep(50);
    origin.delayMs = 0;
    origin.value = { price: 200 };
    await cacheOn(redis).cache.invalidate(productGenerations(tenant, 'first-write')); // the write creates the counter
    expect((await pending).value).toEqual({ price: 100 });

    expect((await cacheOn(redis).cache.getOrLoad(entry, 'medium', origin.load)).value).toEqual({ price: 200 });
  });

  it('an existing product gets its counter with its first fill, and a write after it invalidates the entry', async () => {
    const origin = new CountingOrigin({ price: 1 });
    const entry = entries.product(tenant, 'uncounted');
    await cacheOn(redis).cache.getOrLoad(entry, 'medium', origin.load);
    expect(await redis.exists(generationKeys.product(tenant, 'uncounted'))).toBe(1);
    expect((await cacheOn(redis).cache.getOrLoad(entry, 'medium', origin.load)).source).toBe('l2');

    origin.value = { price: 2 };
    await cacheOn(redis).cache.invalidate(productGenerations(tenant, 'uncounted'));
    expect((await cacheOn(redis).cache.getOrLoad(entry, 'medium', origin.load)).value).toEqual({ price: 2 });
  });

  it('revalidates a stale entry within the request budget, and serves stale when the origin is slower', async () => {
    const origin = new CountingOrigin({ v: 1 });
    const entry = entries.product(tenant, 'stale');
    const settings = { ttlMediumSeconds: 1, l1MaxEntries: 0, revalidateBudgetMs: 100 };
    await cacheOn(redis, settings).cache.getOrLoad(entry, 'medium', origin.load);
    await sleep(1200); // past the soft expiry (1 s ± 10%), within the stale window

    origin.value = { v: 2 };
    const quick = await cacheOn(redis, settings).cache.getOrLoad(entry, 'medium', origin.load);
    expect(quick).toMatchObject({ value: { v: 2 }, source: 'origin' });

    await sleep(1200);
    origin.value = { v: 3 };
    origin.delayMs = 300;
    const c = cacheOn(redis, settings);
    const slow = await c.cache.getOrLoad(entry, 'medium', origin.load);
    expect(slow).toMatchObject({ value: { v: 2 }, source: 'stale' });
    expect(c.observer.get('StaleServed')).toBe(1);
    await sleep(400); // the refresh lands on its own
    expect((await cacheOn(redis, settings).cache.getOrLoad(entry, 'medium', origin.load)).value).toEqual({ v: 3 });
  });

  it('compresses large values and reads them back intact', async () => {
    const big = { description: 'x'.repeat(50_000), n: 42 };
    const origin = new CountingOrigin(big);
    const entry = entries.product(tenant, 'big');
    await cacheOn(redis).cache.getOrLoad(entry, 'medium', origin.load);
    const stored = await redis.getBuffer(entry.key);
    expect(stored?.length).toBeLessThan(5_000);
    expect((await cacheOn(redis).cache.getOrLoad(entry, 'medium', origin.load)).value).toEqual(big);
  });
});

it('refuses to build a key from an id that is not validated', () => {
  for (const bad of ['a}b', '{x}', 'a*', 'a:b', 'x'.repeat(65), 'ünï']) {
    expect(() => entries.product(bad, 'p')).toThrow();
    expect(() => entries.product('t', bad)).toThrow();
  }
});
