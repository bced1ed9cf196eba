/**
 * Tenancy end to end, through the stack under test of this project's mode (from source, or the
 * synthesized dev app as deployed, where the cache is a cluster and MONITOR watches every node):
 *  - another tenant's ids answer 404 on every route, and no Redis key of that tenant is read or
 *    written (MONITOR on the single node: no command names {t:<B>});
 *  - ids that could break out of a key ({ } * ? [ ] : and the like, 65+ characters, non-ASCII) are
 *    400 before any Redis or DynamoDB call;
 *  - invalidating tenant A leaves tenants whose ids merely start with A (A2, A_) cached.
 */
import { Redis } from 'ioredis';
import { generationKeys } from '../../functions/cache/keys';
import { RedisL2Store } from '../../functions/cache/l2-store';
import { TwoTierCache } from '../../functions/cache/two-tier-cache';
import { testSettings } from '../cache/cache-fixtures';
import { redisSingleUrl } from '../support';
import { countingRepository, json, tenantId } from '../api/api-fixtures';
import { itInSource, startStackUnderTest, type StackUnderTest } from '../support/stack-under-test';
import { authenticatedRequests, encodePathSegment, expectContractError } from './security-fixtures';

let api: StackUnderTest;
beforeAll(async () => {
  api = await startStackUnderTest({ name: 'tenancy' });
});
afterAll(() => api.stop());

async function createProduct(tenant: string, product: Record<string, unknown>) {
  const response = await api.call('POST', '/api/products', {
    token: await api.token(tenant),
    body: { category: 'misc', price: 1000, name: 'Thing', ...product },
  });
  expect(response.status).toBe(201);
  return (await json(response)).data;
}

async function stateOf(tenant: string, productId: string, orderId: string) {
  const [product, stock, order] = await Promise.all([
    api.repo.getProduct(tenant, productId),
    api.repo.getStock(tenant, productId),
    api.repo.getOrder(tenant, orderId),
  ]);
  return { product, stock, order };
}

describe("another tenant's resources", () => {
  it("answer 404 on every route with tenant B's ids, and no key of B is read or written", async () => {
    const owner = tenantId('B');
    const ownerToken = await api.token(owner);
    const intruder = tenantId('A');
    const intruderToken = await api.token(intruder);
    await createProduct(owner, { id: 'secret', listed: true, price: 4200 });
    expect(
      (await api.call('POST', '/api/products/secret/stock-adjustments', { token: ownerToken, body: { delta: 3, reason: 'restock' } }))
        .status,
    ).toBe(200);
    const placed = await api.call('POST', '/api/orders', { token: ownerToken, body: { lines: [{ productId: 'secret', quantity: 1 }] } });
    const order = (await json(placed)).data ?? (await Promise.reject(new Error(`order: ${placed.status}`)));
    // B's own reads fill the cache: an isolation bug would find these entries.
    const etag = (await api.call('GET', '/api/products/secret', { token: ownerToken })).headers.get('etag') as string;
    await api.call('GET', '/api/products', { token: ownerToken });
    const before = await stateOf(owner, 'secret', order.id);
    // B's writes have gone through the stream consumers (their invalidations name B's keys too).
    await api.streamsCaughtUp();

    const watch = await api.watchCache();
    try {
      const requests = authenticatedRequests({ productId: 'secret', orderId: order.id });
      const byName = (name: string) => requests.filter((r) => r.name === name);
      for (const request of requests.filter((r) => r.name !== 'ListProducts' && r.name !== 'CreateProduct')) {
        const response = await api.call(request.method, request.path, {
          token: intruderToken,
          ...(request.body !== undefined ? { body: request.body } : {}),
        });
        await expectContractError(response, 404, `${request.method} ${request.path}`);
      }
      // A matching If-None-Match must not reveal that the product exists (304).
      const conditional = await api.call('GET', '/api/products/secret', { token: intruderToken, headers: { 'If-None-Match': etag } });
      await expectContractError(conditional, 404, 'If-None-Match with B’s ETag');
      // The list is A's own: empty, nothing of B.
      for (const request of byName('ListProducts')) {
        const list = await api.call(request.method, request.path, { token: intruderToken });
        expect(list.status).toBe(200);
        expect((await json(list)).data).toEqual([]);
      }
      // Creating "secret" makes A's own product; B's is not touched.
      for (const request of byName('CreateProduct')) {
        const created = await api.call(request.method, request.path, { token: intruderToken, body: request.body });
        expect(created.status).toBe(201);
        expect((await json(created)).data).toMatchObject({ id: 'secret', tenantId: intruder });
      }
      await watch.settle();
      expect(watch.lines().filter((l) => l.includes(`{t:${owner}}`))).toEqual([]);

      // Control: B's own read of something not yet in L1 names B's keys, so the check above could see them.
      expect((await api.call('GET', '/api/products?limit=7', { token: ownerToken })).status).toBe(200);
      await watch.settle();
      expect(watch.lines().some((l) => l.includes(`{t:${owner}}`))).toBe(true);
    } finally {
      watch.stop();
    }
    expect(await stateOf(owner, 'secret', order.id)).toEqual(before);
    const read = await json(await api.call('GET', '/api/products/secret', { token: ownerToken }));
    expect(read.data).toMatchObject({ tenantId: owner, name: 'Thing', price: 4200 });
  });
});

describe('ids that could escape a key', () => {
  const BAD_IDS = [
    '{',
    '}',
    'a{t:victim}b',
    'a}b',
    '*',
    'a*',
    'a?b',
    '[a]',
    'a[0-9]',
    'a:b',
    ':',
    'x'.repeat(65),
    'y'.repeat(300),
    'ünïcödé',
    '产品',
    'emoji😀',
    'rtl\u202Eevil',
    'nul\u0000byte',
    'has space',
    'tab\tx',
    'new\nline',
    'slash/inside',
    'back\\slash',
    'per%cent',
    "quo'te",
    'dou"ble',
    'a.b',
    '#hash',
    'a,b',
    'a;b',
  ];

  it('are refused with 400 on every id-taking route, before any Redis or DynamoDB call', async () => {
    const tenant = tenantId('ids');
    const since = Date.now();
    const watch = await api.watchCache();
    try {
      const idRoutes = authenticatedRequests({ productId: '@@ID@@', orderId: '@@ID@@' }).filter((r) => r.path.includes('@@ID@@'));
      expect(idRoutes.length).toBeGreaterThanOrEqual(8);
      for (const [i, bad] of BAD_IDS.entries()) {
        // A user per id: the ~16 requests of one id stay well under the per-user rate limit.
        const token = await api.mint({ tenantId: tenant, userId: `ids-${i}` });
        const segment = encodePathSegment(bad);
        for (const request of idRoutes) {
          const path = request.path.replace('@@ID@@', segment);
          const body = request.body === undefined ? undefined : JSON.parse(JSON.stringify(request.body).replaceAll('@@ID@@', ''));
          const response = await api.call(request.method, path, { token, ...(body !== undefined ? { body } : {}) });
          await expectContractError(response, 400, `${request.method} ${JSON.stringify(bad)}`);
        }
        // Ids inside bodies and queries.
        const inBodies: [string, string, unknown][] = [
          ['POST', '/api/products', { id: bad, name: 'x', price: 1, category: 'c' }],
          ['POST', '/api/products', { name: 'x', price: 1, category: bad }],
          ['PUT', '/api/products/fine', { category: bad }],
          ['POST', '/api/orders', { lines: [{ productId: bad, quantity: 1 }] }],
          [
            'POST',
            '/api/orders',
            {
              lines: [
                { productId: 'fine', quantity: 1 },
                { productId: bad, quantity: 1 },
              ],
            },
          ],
        ];
        for (const [method, path, body] of inBodies) {
          await expectContractError(await api.call(method, path, { token, body }), 400, `${method} ${path} ${JSON.stringify(body)}`);
        }
        await expectContractError(
          await api.call('GET', `/api/products?category=${encodePathSegment(bad)}`, { token }),
          400,
          `category=${JSON.stringify(bad)}`,
        );
      }
      await watch.settle();
      expect(api.dataCallsNaming(tenant, since)).toEqual([]);
      expect(watch.tenantLines(tenant)).toEqual([]);

      // Control: a well-formed id does reach DynamoDB and Redis.
      expect((await api.call('GET', '/api/products/fine', { token: await api.token(tenant) })).status).toBe(404);
      await watch.settle();
      expect(api.dataCallsNaming(tenant, since).length).toBeGreaterThan(0);
      expect(watch.tenantLines(tenant).length).toBeGreaterThan(0);
    } finally {
      watch.stop();
    }
  });
});

describe('invalidation stays within the tenant', () => {
  // Drives the cache's invalidation and a fresh set of services in this process: from source only.
  itInSource('updating and dropping tenant A leaves the cached entries of tenants A2 and A_ hitting in L2', async () => {
    const a = tenantId('pfx');
    const tenants = [a, `${a}2`, `${a}_`];
    for (const t of tenants) await createProduct(t, { id: 'p', name: `Lamp of ${t.slice(-8)}`, price: 500 });
    // The creations' own invalidations (the stream consumer) are done before the cache is filled.
    await api.streamsCaughtUp();
    for (const t of tenants) {
      // Fill L2 (product and list) through the API.
      expect((await api.call('GET', '/api/products/p', { token: await api.token(t) })).status).toBe(200);
      expect((await api.call('GET', '/api/products', { token: await api.token(t) })).status).toBe(200);
    }
    const source = api.source as NonNullable<StackUnderTest['source']>;
    const redis = new Redis(redisSingleUrl());
    const watch = await api.watchCache();
    try {
      // A write of A through the API, then a tenant-wide drop of A (every generation of A).
      expect((await api.call('PUT', '/api/products/p', { token: await api.token(a), body: { price: 777 } })).status).toBe(200);
      const cache = new TwoTierCache({ settings: testSettings, l2: new RedisL2Store(redis) });
      expect(await cache.invalidate([generationKeys.tenant(a), generationKeys.productLists(a)])).toBe(true);
      await watch.settle();
      for (const other of tenants.slice(1)) expect(watch.lines().filter((l) => l.includes(`{t:${other}}`))).toEqual([]);
      expect(watch.lines().some((l) => l.includes(`{t:${a}}`))).toBe(true);
    } finally {
      watch.stop();
      await redis.quit();
    }

    // Fresh services (an empty L1, as in a new container): what still hits comes from L2.
    const counting = countingRepository(api.repo);
    source.rewire({ repo: counting.repo });
    try {
      for (const other of tenants.slice(1)) {
        const token = await api.token(other);
        const product = await api.call('GET', '/api/products/p', { token });
        expect((await json(product)).data).toMatchObject({ tenantId: other, price: 500 });
        const list = await api.call('GET', '/api/products', { token });
        expect((await json(list)).data.map((p: { tenantId: string }) => p.tenantId)).toEqual([other]);
      }
      expect(counting.calls()).toBe(0);
      // A's own entries are gone: the next read goes to DynamoDB and shows the update.
      const mine = await api.call('GET', '/api/products/p', { token: await api.token(a) });
      expect((await json(mine)).data).toMatchObject({ tenantId: a, price: 777 });
      expect(counting.calls()).toBeGreaterThan(0);
    } finally {
      source.restore();
    }
  });
});
