/**
 * Page cursors are signed with the deployment's key and bound to the listing's owner (tenant, or
 * the marketplace) and route. A forged, tampered, cross-tenant or cross-route cursor is a 400 in
 * the contract's shape before any Redis command or DynamoDB read; one the API issued goes on.
 * Was a defect: any cursor decoding to ids was taken, so forged marketplace cursors (unauthenticated)
 * each filled a cache entry and ran a DynamoDB query.
 *
 * Through the stack under test of this project's mode. "Before any Redis command or DynamoDB
 * read" is observed where the functions' requests arrive (the DynamoDB endpoint, MONITOR on every
 * cache node), so it holds as deployed too, where the functions run in containers of their own.
 */
import { CursorSigner, type CursorScope } from '../../functions/http/cursors';
import { CURSOR_PATTERN } from '../../functions/shared/ids';
import { json, tenantId } from '../api/api-fixtures';
import { startStackUnderTest, type StackUnderTest } from '../support/stack-under-test';
import { expectContractError } from './security-fixtures';

let api: StackUnderTest;
beforeAll(async () => {
  api = await startStackUnderTest({ name: 'cursors' });
});
afterAll(() => api.stop());

/** A user per request sequence: the suite's requests stay under the per-user rate limit of the deployment. */
let users = 0;
const tokenOf = (tenant: string) => api.mint({ tenantId: tenant, userId: `cursors-${++users}` });

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

/** Cache commands of the API's reads (rate-limit counters, the watch's own markers and the cluster client's housekeeping aside). */
const isReadOfData = (line: string) =>
  !line.includes('{rl:') && !line.includes('settle-') && !/^(cluster|info|ping|echo|auth|hello|readonly)\b/i.test(line);

/**
 * Runs `work` and says what it made the functions send: DynamoDB requests (streams aside) and
 * cache commands naming one of `needles` (a tenant id, the marketplace's {m} tag), as the
 * endpoints saw them, in both modes.
 */
async function effectOf(work: () => Promise<void>, needles: readonly string[]): Promise<{ dynamodb: string[]; redis: string[] }> {
  // The fixtures' own writes have gone through the stream consumers first.
  await api.streamsCaughtUp();
  const since = Date.now();
  const watch = await api.watchCache();
  try {
    await work();
    await watch.settle();
    const names = (line: string) => needles.some((needle) => line.includes(needle));
    return {
      dynamodb: api
        .dataCalls()
        .filter((c) => c.api === 'dynamodb' && c.at >= since)
        .map((c) => `${c.operation} ${c.text.slice(0, 200)}`),
      redis: watch.lines().filter((line) => isReadOfData(line) && names(line)),
    };
  } finally {
    watch.stop();
  }
}

/** The hash tag of the marketplace's cache keys (functions/cache/keys.ts). */
const MARKETPLACE_KEYS = '{m}';

const b64 = (text: string) => Buffer.from(text).toString('base64url');

describe('cursors the API issued', () => {
  it('carry a signature and continue their own listing', async () => {
    const tenant = tenantId('sig');
    const token = await tokenOf(tenant);
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
    const effect = await effectOf(async () => {
      for (const cursor of forged) {
        const path = `/api/marketplace/products?cursor=${cursor}`;
        await expectContractError(await api.call('GET', path), 400, path);
      }
    }, [MARKETPLACE_KEYS, tenant]);
    expect(effect).toEqual({ dynamodb: [], redis: [] });
    // Control: the marketplace's first page, not read before in this stack, shows in both places.
    const control = await effectOf(async () => {
      await page('/api/marketplace/products?limit=3');
    }, [MARKETPLACE_KEYS]);
    expect([control.dynamodb.length > 0, control.redis.length > 0]).toEqual([true, true]);
  });

  it("another tenant's cursor is 400, and reads nothing of either tenant", async () => {
    const owner = tenantId('own');
    const other = tenantId('oth');
    for (const id of ['b1', 'b2', 'b3']) await create(owner, id);
    await create(other, 'b1');
    const { nextCursor } = await page('/api/products?limit=1', await tokenOf(owner));
    expect(nextCursor).not.toBeNull();
    const otherToken = await tokenOf(other);
    const effect = await effectOf(async () => {
      for (const path of [`/api/products?cursor=${nextCursor}`, `/api/products?limit=1&category=misc&cursor=${nextCursor}`]) {
        await expectContractError(await api.call('GET', path, { token: otherToken }), 400, path);
      }
    }, [owner, other]);
    expect(effect).toEqual({ dynamodb: [], redis: [] });
    // The owner's own cursor still works.
    expect((await page(`/api/products?limit=1&cursor=${nextCursor}`, await tokenOf(owner))).data).toEqual([
      expect.objectContaining({ id: 'b2' }),
    ]);
  });

  it('a tampered cursor is 400: another position under the same signature, a changed, respelled or cut signature', async () => {
    const tenant = tenantId('tamp');
    const token = await tokenOf(tenant);
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
    const effect = await effectOf(async () => {
      for (const cursor of tampered) {
        const path = `/api/products?cursor=${cursor}`;
        await expectContractError(await api.call('GET', path, { token }), 400, path);
      }
    }, [tenant]);
    expect(effect).toEqual({ dynamodb: [], redis: [] });
  });

  it("a cursor of one route is 400 on the other (a tenant's list and the marketplace)", async () => {
    // A tenant named like the marketplace's owner: only the route tells the two listings apart.
    const tenant = 'marketplace';
    const token = await tokenOf(tenant);
    for (const id of ['d1', 'd2', 'd3']) await create(tenant, id);
    const tenantCursor = (await page('/api/products?limit=1', token)).nextCursor as string;
    const marketCursor = (await page('/api/marketplace/products?limit=1')).nextCursor as string;
    expect([tenantCursor, marketCursor]).toEqual([expect.stringMatching(CURSOR_PATTERN), expect.stringMatching(CURSOR_PATTERN)]);
    const effect = await effectOf(async () => {
      await expectContractError(await api.call('GET', `/api/marketplace/products?cursor=${tenantCursor}`), 400, 'tenant cursor');
      await expectContractError(await api.call('GET', `/api/products?cursor=${marketCursor}`, { token }), 400, 'marketplace cursor');
    }, [MARKETPLACE_KEYS, tenant]);
    expect(effect).toEqual({ dynamodb: [], redis: [] });
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
