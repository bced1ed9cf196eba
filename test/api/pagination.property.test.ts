/**
 * Pagination never lies, property-based (fast-check), through the REST front and the real handlers,
 * cache and DynamoDB Local: for random catalogues (up to 1,000 products, deletions, listings,
 * category moves, names that a search matches sparsely or densely), following `nextCursor` from the
 * first page returns exactly the matching products, in the contract's order, without duplicates,
 * on every list route (no filter, `category`, `q`, both, and the marketplace). Every page is full,
 * or the last one, or short with a cursor because its read budget ran out (checked against a model
 * of what the table holds between the two cursors).
 *
 * FC_SEED=<n> replays a failing run; FC_RUNS=<n> scales the number of runs.
 */
import fc from 'fast-check';
import { sharedCache } from '../../functions/composition/redis';
import { shopRepository } from '../../functions/composition/shop';
import { generationKeys } from '../../functions/cache/keys';
import { PAGE_READ_BUDGET } from '../../functions/catalog/dynamodb/products';
import { json, startApi, tenantId, type Api } from './api-fixtures';

jest.setTimeout(300_000);

const RUNS = Number(process.env.FC_RUNS ?? 10);
const fcOptions = (numRuns: number) => ({
  numRuns: Math.max(1, Math.round((numRuns * RUNS) / 10)),
  ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
});

const CATEGORIES = ['c1', 'c2', 'c3'];
/** Pages one listing may take in a run: the limit is chosen so that a catalogue needs at most this many. */
const MAX_PAGES = 60;

interface ModelProduct {
  readonly tenantId: string;
  readonly id: string;
  readonly name: string;
  category: string;
  listed: boolean;
  deleted: boolean;
}

let api: Api;
/** Every product this file ever wrote (the table is this file's): the marketplace lists them all. */
const everything = new Map<string, ModelProduct>();

beforeAll(async () => {
  api = await startApi();
  api.rewire({ rateLimitPerMinute: 1_000_000 });
});
afterAll(() => api.close());

/** A small deterministic generator, so one seed describes a whole catalogue (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';

interface Catalogue {
  readonly size: number;
  readonly seed: number;
  /** Chance that a product's name contains the needle. */
  readonly needleRate: number;
  /** The product with the greatest id has the needle in its name. */
  readonly needleLast: boolean;
  readonly listedRate: number;
  /** none, random (each product with deleteRate), or the first `deletePrefix` in id order. */
  readonly deletes:
    { readonly kind: 'none' } | { readonly kind: 'random'; readonly rate: number } | { readonly kind: 'prefix'; readonly count: number };
  /** Chance that a product is changed after creation (category, listing). */
  readonly changeRate: number;
}

const catalogueArb: fc.Arbitrary<Catalogue> = fc.record({
  size: fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 40 }) },
    { weight: 3, arbitrary: fc.integer({ min: 41, max: 400 }) },
    { weight: 2, arbitrary: fc.integer({ min: 700, max: 1000 }) },
  ),
  seed: fc.integer(),
  needleRate: fc.constantFrom(0, 0.002, 0.02, 0.3, 1),
  needleLast: fc.boolean(),
  listedRate: fc.constantFrom(0, 0.1, 0.5, 1),
  deletes: fc.oneof(
    fc.constant({ kind: 'none' as const }),
    fc.constantFrom(0.2, 0.7, 0.98).map((rate) => ({ kind: 'random' as const, rate })),
    fc.integer({ min: 0, max: 1000 }).map((count) => ({ kind: 'prefix' as const, count })),
  ),
  changeRate: fc.constantFrom(0, 0.1, 0.5),
});

async function runLimited<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** Writes a catalogue into the table (then invalidates the cached lists) and returns its model. */
async function build(tenant: string, c: Catalogue): Promise<ModelProduct[]> {
  const rand = random(c.seed);
  const ids = new Set<string>();
  while (ids.size < c.size) {
    const length = 1 + Math.floor(rand() * 12);
    let id = '';
    for (let i = 0; i < length; i++) id += ID_CHARS.charAt(Math.floor(rand() * ID_CHARS.length));
    ids.add(id);
  }
  const last = [...ids].sort(compare).at(-1);
  const products: ModelProduct[] = [...ids].map((id, i) => ({
    tenantId: tenant,
    id,
    name: `${rand() < c.needleRate || (c.needleLast && id === last) ? ['Needle', 'NEEDLE', 'a needle'][i % 3] : ['Lamp', 'Desk', 'Chair'][i % 3]} ${i}`,
    category: CATEGORIES[Math.floor(rand() * CATEGORIES.length)] as string,
    listed: rand() < c.listedRate,
    deleted: false,
  }));
  const [repo, cache] = await Promise.all([shopRepository(), sharedCache()]);
  await runLimited(products, 8, async (p) => {
    await repo.createProduct(
      tenant,
      { id: p.id, name: p.name, description: '', price: 100, currency: 'EUR', category: p.category, listed: p.listed },
      5,
    );
  });
  for (const p of products) everything.set(`${p.tenantId}#${p.id}`, p);

  const byId = [...products].sort((a, b) => compare(a.id, b.id));
  const doomed = new Set(
    c.deletes.kind === 'prefix'
      ? byId.slice(0, c.deletes.count)
      : c.deletes.kind === 'random'
        ? products.filter(() => rand() < (c.deletes as { rate: number }).rate)
        : [],
  );
  const changed = products.filter((p) => !doomed.has(p) && rand() < c.changeRate);
  const changes = changed.map((p) => ({
    p,
    category: rand() < 0.5 ? (CATEGORIES[Math.floor(rand() * CATEGORIES.length)] as string) : p.category,
    listed: rand() < 0.5 ? !p.listed : p.listed,
  }));
  await runLimited([...doomed], 8, async (p) => {
    await repo.deleteProduct(tenant, p.id);
    p.deleted = true;
  });
  await runLimited(changes, 8, async ({ p, category, listed }) => {
    await repo.updateProduct(tenant, p.id, { category, listed });
    p.category = category;
    p.listed = listed;
  });
  // Written past the catalogue service: drop the cached lists as its writes would have.
  await cache.invalidate([generationKeys.productLists(tenant), generationKeys.marketplace()]);
  return products;
}

/** DynamoDB orders sort keys by their UTF-8 bytes; ids are ASCII, so code units order them alike. */
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

interface Listing {
  readonly label: string;
  readonly path: string;
  readonly token?: string;
  /** The products the listing must return, in order. */
  readonly expected: readonly ModelProduct[];
  /** The sort keys of everything the listing's query reads before filtering, in order. */
  readonly scanned: readonly string[];
  /** The sort key of the position a cursor names. */
  readonly sortKeyOf: (position: readonly string[]) => string;
}

/** The position a cursor resumes after: white-box (the ids in the payload before the signature). */
function cursorPosition(cursor: string): string[] {
  return Buffer.from(cursor.split('.')[0] as string, 'base64url')
    .toString('utf8')
    .split('/');
}

async function follow(listing: Listing, limit: number): Promise<void> {
  const seen: { tenantId: string; id: string }[] = [];
  let cursor: string | null = null;
  let previous: string | undefined;
  let pages = 0;
  do {
    const separator = listing.path.includes('?') ? '&' : '?';
    const path = `${listing.path}${separator}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const response = await api.call('GET', path, listing.token ? { token: listing.token } : {});
    const body = await json(response);
    if (response.status !== 200) throw new Error(`${listing.label}: GET ${path} answered ${response.status}: ${JSON.stringify(body)}`);
    const page = body as { data: { tenantId: string; id: string }[]; nextCursor: string | null };
    seen.push(...page.data.map((p) => ({ tenantId: p.tenantId, id: p.id })));
    const next = page.nextCursor;
    if (next !== null && page.data.length < limit) {
      // A short page with a cursor: only when its read budget ran out before the page filled.
      const to = listing.sortKeyOf(cursorPosition(next));
      const read = listing.scanned.filter((s) => (previous === undefined || s > previous) && s <= to).length;
      expect({ listing: listing.label, page: pages, read: read >= PAGE_READ_BUDGET }).toEqual({
        listing: listing.label,
        page: pages,
        read: true,
      });
    }
    previous = next === null ? undefined : listing.sortKeyOf(cursorPosition(next));
    cursor = next;
    pages++;
    if (pages > listing.scanned.length + 2) throw new Error(`${listing.label}: more pages than items`);
  } while (cursor !== null);
  const key = (p: { tenantId: string; id: string }) => `${p.tenantId}#${p.id}`;
  expect({ listing: listing.label, limit, items: seen.map(key) }).toEqual({
    listing: listing.label,
    limit,
    items: listing.expected.map(key),
  });
}

function limitFor(rand: () => number, expected: number): number {
  const least = Math.min(100, Math.max(1, Math.ceil(expected / MAX_PAGES)));
  return least + Math.floor(rand() * (101 - least));
}

describe('following nextCursor from the first page', () => {
  it('returns exactly the matching products, in order, once each, on every list route', async () => {
    await fc.assert(
      fc.asyncProperty(catalogueArb, fc.constantFrom('needle', 'NEEDLE', 'lamp', 'e', 'zz'), async (catalogue, q) => {
        const tenant = tenantId('pg');
        const token = await api.token(tenant);
        const products = await build(tenant, catalogue);
        const rand = random(catalogue.seed ^ 0x5bd1e995);
        const live = products.filter((p) => !p.deleted).sort((a, b) => compare(a.id, b.id));
        const category = CATEGORIES[Math.floor(rand() * CATEGORIES.length)] as string;
        const matches = (p: ModelProduct) => p.name.toLowerCase().includes(q.toLowerCase());
        const byId = (p: { id: string }) => p.id;
        const first = (position: readonly string[]) => position[0] as string;
        const allIds = products.map(byId).sort(compare);
        const inCategory = live.filter((p) => p.category === category).map(byId);
        const listings: Listing[] = [
          { label: 'all', path: '/api/products', token, expected: live, scanned: allIds, sortKeyOf: first },
          {
            label: `category=${category}`,
            path: `/api/products?category=${category}`,
            token,
            expected: live.filter((p) => p.category === category),
            scanned: inCategory,
            sortKeyOf: first,
          },
          { label: `q=${q}`, path: `/api/products?q=${q}`, token, expected: live.filter(matches), scanned: allIds, sortKeyOf: first },
          {
            label: `category=${category}&q=${q}`,
            path: `/api/products?category=${category}&q=${q}`,
            token,
            expected: live.filter((p) => p.category === category && matches(p)),
            scanned: inCategory,
            sortKeyOf: first,
          },
        ];
        const marketplace = [...everything.values()]
          .filter((p) => p.listed && !p.deleted)
          .sort((a, b) => compare(`${a.tenantId}#${a.id}`, `${b.tenantId}#${b.id}`));
        const sortKey = (p: { tenantId: string; id: string }) => `${p.tenantId}#${p.id}`;
        listings.push({
          label: 'marketplace',
          path: '/api/marketplace/products',
          expected: marketplace,
          // The marketplace index holds listed live products only: it never filters.
          scanned: marketplace.map(sortKey),
          sortKeyOf: (position) => position.join('#'),
        });
        for (const listing of listings) {
          await follow(listing, limitFor(rand, listing.expected.length));
        }
      }),
      {
        ...fcOptions(10),
        examples: [
          // The issue's cases: one match at the end of 300 products; the first 300 of 301 deleted.
          [{ size: 300, seed: 7, needleRate: 0, needleLast: true, listedRate: 0, deletes: { kind: 'none' }, changeRate: 0 }, 'needle'],
          [
            {
              size: 301,
              seed: 11,
              needleRate: 0,
              needleLast: false,
              listedRate: 0.5,
              deletes: { kind: 'prefix', count: 300 },
              changeRate: 0,
            },
            'needle',
          ],
          // Sparse matches in a large catalogue: pages cut short by the read budget, with cursors.
          [
            {
              size: 1000,
              seed: 13,
              needleRate: 0.002,
              needleLast: true,
              listedRate: 0.1,
              deletes: { kind: 'random', rate: 0.7 },
              changeRate: 0.1,
            },
            'needle',
          ],
        ],
      },
    );
  });
});

describe('any schema-valid list query', () => {
  it('is answered 200, or 400 for a cursor not issued for this listing: never a 5xx', async () => {
    const tenant = tenantId('pgv');
    const token = await api.token(tenant);
    await build(tenant, {
      size: 60,
      seed: 5,
      needleRate: 0.3,
      needleLast: false,
      listedRate: 0.5,
      deletes: { kind: 'random', rate: 0.3 },
      changeRate: 0.2,
    });
    // Cursors this deployment issued, for either listing, some with filters.
    const issued = { tenant: [] as string[], marketplace: [] as string[] };
    for (const [key, path] of [
      ['tenant', '/api/products?limit=3'],
      ['tenant', '/api/products?limit=2&category=c1'],
      ['tenant', '/api/products?limit=1&q=needle'],
      ['marketplace', '/api/marketplace/products?limit=2'],
    ] as const) {
      const body = (await json(await api.call('GET', path, key === 'tenant' ? { token } : {}))) as { nextCursor: string | null };
      if (body.nextCursor !== null) issued[key].push(body.nextCursor);
    }
    expect([issued.tenant.length, issued.marketplace.length]).toEqual([3, 1]);
    const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 100 }).filter((v) => v.trim().length > 0);
    const madeUp = fc.stringMatching(/^[A-Za-z0-9_-]{2,172}\.[A-Za-z0-9_-]{22}$/);
    const query = fc.record(
      {
        limit: fc.integer({ min: 1, max: 100 }).map(String),
        category: fc.oneof(fc.constantFrom(...CATEGORIES), fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/)),
        q: text,
        cursor: fc.oneof(
          fc.constantFrom(...issued.tenant).map((c) => ({ c, ours: 'tenant' })),
          fc.constantFrom(...issued.marketplace).map((c) => ({ c, ours: 'marketplace' })),
          madeUp.map((c) => ({ c, ours: 'none' })),
        ),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.boolean(), query, async (marketplace, parts) => {
        const params = new URLSearchParams();
        if (parts.limit !== undefined) params.set('limit', parts.limit);
        if (!marketplace && parts.category !== undefined) params.set('category', parts.category);
        if (!marketplace && parts.q !== undefined) params.set('q', parts.q);
        if (parts.cursor !== undefined) params.set('cursor', parts.cursor.c);
        const path = `${marketplace ? '/api/marketplace/products' : '/api/products'}?${params.toString()}`;
        const response = await api.call('GET', path, marketplace ? {} : { token });
        const body = await response.text();
        const ours = parts.cursor === undefined || parts.cursor.ours === (marketplace ? 'marketplace' : 'tenant');
        expect({ path, status: response.status, body: response.status === 200 ? 'page' : body }).toEqual({
          path,
          status: ours ? 200 : 400,
          body: ours ? 'page' : expect.stringContaining('"BAD_REQUEST"'),
        });
      }),
      fcOptions(150),
    );
  });
});
