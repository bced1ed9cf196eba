/**
 * Page cursors are signed with the deployment's key and bound to the listing's owner (tenant, or
 * the marketplace) and route. A forged, tampered, cross-tenant or cross-route cursor is a 400 in
 * the contract's shape before any Redis command or DynamoDB read; one the API issued goes on.
 * Was a defect: any cursor decoding to ids was taken, so forged marketplace cursors (unauthenticated)
 * each filled a cache entry and ran a DynamoDB query.
 */
import { buildAppServices, setAppServices } from '../../functions/app';
import type { L2Store } from '../../functions/cache/l2-store';
import { RedisL2Store } from '../../functions/cache/l2-store';
import { CursorSigner, type CursorScope } from '../../functions/http/cursors';
import { CURSOR_PATTERN } from '../../functions/shared/ids';
import { countingRepository, json, startApi, tenantId, type Api } from '../api/api-fixtures';
import { expectContractError, settle, watchRedis } from './security-fixtures';

let api: Api;
beforeAll(async () => {
  api = await startApi();
  api.rewire({ rateLimitPerMinute: 1_000_000 });
});
afterAll(() => api.close());

async function create(tenant: string, id: string, listed = true): Promise<void> {
  const response = await api.call('POST', '/api/products', {
    token: await api.token(tenant),
    body: { id, name: `Thing ${id}`, price: 100, category: 'misc', listed },
  });
  expect(response.status).toBe(201);
}

async function page(path: string, token?: string): Promise<{ data: { id: string; tenantId: string }[]; nextCursor: string | null }> {
  const response = await api.call('GET', path, token ? { token } : {});
  expect([path, response.status]).toEqual([path, 200]);
  return json(response);
}

/** Wraps an L2 store and counts every call that reaches it, the per-user rate-limit counter aside. */
function countingL2(inner: L2Store): { l2: L2Store; calls: () => number } {
  let calls = 0;
  const l2 = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || property === 'incrementWindow') return value;
      return (...args: unknown[]) => {
        calls++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { l2, calls: () => calls };
}

/** Runs `work` with the handlers' repository and Redis counted; restores the fixture's services after. */
async function counted(work: () => Promise<void>): Promise<{ repositoryCalls: number; redisCalls: number }> {
  const repo = countingRepository(api.repo);
  const l2 = countingL2(new RedisL2Store(api.redis));
  setAppServices(buildAppServices({ repo: repo.repo, l2: l2.l2 }));
  try {
    await work();
  } finally {
    api.rewire({ rateLimitPerMinute: 1_000_000 });
  }
  return { repositoryCalls: repo.calls(), redisCalls: l2.calls() };
}

const b64 = (text: string) => Buffer.from(text).toString('base64url');

describe('cursors the API issued', () => {
  it('carry a signature and continue their own listing', async () => {
    const tenant = tenantId('sig');
    const token = await api.token(tenant);
    for (const id of ['a1', 'a2', 'a3']) await create(tenant, id);
    const first = await page('/api/products?limit=2', token);
    expect(first.nextCursor).toMatch(CURSOR_PATTERN);
    const second = await page(`/api/products?limit=2&cursor=${first.nextCursor}`, token);
    expect(second).toEqual({ data: [expect.objectContaining({ id: 'a3' })], nextCursor: null });
  });
});

describe('a cursor the API did not issue for this listing', () => {
  it('forged marketplace cursors (unauthenticated) are 400 before any Redis command or table read', async () => {
    const tenant = tenantId('forge');
    await create(tenant, 'listed');
    const forged = [
      // What the cursors used to be: base64url of "<tenant>/<product>", anything of that shape.
      ...Array.from({ length: 40 }, (_, i) => b64(`${tenant}/forged-${i}`)),
      b64(`${tenant}/listed`),
      // The signed shape with a made-up MAC.
      ...Array.from({ length: 40 }, (_, i) => `${b64(`${tenant}/forged-${i}`)}.${'A'.repeat(21)}${'ABCDEFGHIJ'[i % 10] as string}`),
    ];
    const effect = await counted(async () => {
      for (const cursor of forged) {
        const path = `/api/marketplace/products?cursor=${cursor}`;
        await expectContractError(await api.call('GET', path), 400, path);
      }
    });
    expect(effect).toEqual({ repositoryCalls: 0, redisCalls: 0 });
  });

  it("another tenant's cursor is 400, and reads nothing of either tenant", async () => {
    const owner = tenantId('own');
    const other = tenantId('oth');
    for (const id of ['b1', 'b2', 'b3']) await create(owner, id);
    await create(other, 'b1');
    const { nextCursor } = await page('/api/products?limit=1', await api.token(owner));
    expect(nextCursor).not.toBeNull();
    const otherToken = await api.token(other);
    const watch = await watchRedis(api.redis);
    try {
      const effect = await counted(async () => {
        for (const path of [`/api/products?cursor=${nextCursor}`, `/api/products?limit=1&category=misc&cursor=${nextCursor}`]) {
          await expectContractError(await api.call('GET', path, { token: otherToken }), 400, path);
        }
      });
      await settle(api.redis, watch);
      expect({ ...effect, redis: [...watch.tenantLines(other), ...watch.tenantLines(owner)] }).toEqual({
        repositoryCalls: 0,
        redisCalls: 0,
        redis: [],
      });
    } finally {
      watch.stop();
    }
    // The owner's own cursor still works.
    expect((await page(`/api/products?limit=1&cursor=${nextCursor}`, await api.token(owner))).data).toEqual([
      expect.objectContaining({ id: 'b2' }),
    ]);
  });

  it('a tampered cursor is 400: another position under the same signature, a changed, respelled or cut signature', async () => {
    const tenant = tenantId('tamp');
    const token = await api.token(tenant);
    for (const id of ['c1', 'c2', 'c3']) await create(tenant, id);
    const { nextCursor } = await page('/api/products?limit=1', token);
    const [payload, mac] = (nextCursor as string).split('.') as [string, string];
    const flipped = `${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`;
    // The last of the 22 characters carries 2 bits of the MAC: flipping one of its 4 low bits keeps
    // the decoded bytes (another spelling of the same signature), which must be refused too.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = `${mac.slice(0, -1)}${alphabet.charAt(alphabet.indexOf(mac.slice(-1)) ^ 1)}`;
    const tampered = [
      `${b64('c2')}.${mac}`,
      `${b64('zzz')}.${mac}`,
      `${payload}.${flipped}`,
      `${payload}.${respelled}`,
      `${payload}.${mac.slice(1)}`,
      payload,
    ];
    const effect = await counted(async () => {
      for (const cursor of tampered) {
        const path = `/api/products?cursor=${cursor}`;
        await expectContractError(await api.call('GET', path, { token }), 400, path);
      }
    });
    expect(effect).toEqual({ repositoryCalls: 0, redisCalls: 0 });
  });

  it("a cursor of one route is 400 on the other (a tenant's list and the marketplace)", async () => {
    // A tenant named like the marketplace's owner: only the route tells the two listings apart.
    const tenant = 'marketplace';
    const token = await api.token(tenant);
    for (const id of ['d1', 'd2', 'd3']) await create(tenant, id);
    const tenantCursor = (await page('/api/products?limit=1', token)).nextCursor as string;
    const marketCursor = (await page('/api/marketplace/products?limit=1')).nextCursor as string;
    expect([tenantCursor, marketCursor]).toEqual([expect.stringMatching(CURSOR_PATTERN), expect.stringMatching(CURSOR_PATTERN)]);
    const effect = await counted(async () => {
      await expectContractError(await api.call('GET', `/api/marketplace/products?cursor=${tenantCursor}`), 400, 'tenant cursor');
      await expectContractError(await api.call('GET', `/api/products?cursor=${marketCursor}`, { token }), 400, 'marketplace cursor');
    });
    expect(effect).toEqual({ repositoryCalls: 0, redisCalls: 0 });
  });
});

describe('CursorSigner', () => {
  const scope: CursorScope = { route: 'ListProducts', owner: 'acme', parts: 1 };
  const signer = new CursorSigner('k'.repeat(32));

  it('opens what it sealed, and nothing sealed for another route, owner, shape or key', () => {
    const cursor = signer.seal(scope, ['espresso-beans']);
    expect(signer.open(scope, cursor)).toEqual(['espresso-beans']);
    const refused =
      (s: CursorScope, c: string, by = signer) =>
      () =>
        by.open(s, c);
    expect(refused({ ...scope, route: 'ListMarketplace' }, cursor)).toThrow(/cursor/);
    expect(refused({ ...scope, owner: 'globex' }, cursor)).toThrow(/cursor/);
    expect(refused({ ...scope, parts: 2 }, cursor)).toThrow(/cursor/);
    expect(refused(scope, cursor, new CursorSigner('j'.repeat(32)))).toThrow(/cursor/);
  });

  it('refuses keys shorter than 32 characters and positions that are not ids', () => {
    expect(() => new CursorSigner('short')).toThrow(/32/);
    expect(() => signer.seal(scope, ['a/b'])).toThrow();
    expect(() => signer.seal(scope, ['a', 'b'])).toThrow();
  });
});
