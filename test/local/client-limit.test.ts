/**
 * The per-client limit of the public routes in the local REST front, as the WAF rate-based rule
 * applies it in AWS: the route table's public methods carry PUBLIC_CLIENT_LIMIT; the requests of
 * one source address to them count together; past the limit the answer is API Gateway's THROTTLED
 * (429, the contract's error body, no-store) with Retry-After the seconds left in the window; other
 * addresses and authenticated routes are not counted.
 */
import { request } from 'node:http';
import { PUBLIC_CLIENT_LIMIT, REST_ROUTES, type RestRoute } from '../../functions/routes';
import { ClientLimiter } from '../../local/client-limiter';
import { restApiFromRouteTable } from '../../local/rest-api';
import { startRestFront, type RestFront } from '../../local/rest-front';
import { mintDevToken } from '../../local/tokens';

const FIXTURE = 'test/local/fixtures/rest.ts';
const needs = { redis: false, tables: [] };
const ROUTES: RestRoute[] = [
  { name: 'PublicOne', method: 'GET', path: '/one', entry: FIXTURE, cacheClass: 'no-store', needs, summary: '' },
  { name: 'PublicTwo', method: 'GET', path: '/two', entry: FIXTURE, cacheClass: 'no-store', needs, summary: '' },
  {
    name: 'Private',
    method: 'GET',
    path: '/private',
    entry: FIXTURE,
    permission: 'products:read',
    cacheClass: 'no-store',
    needs,
    summary: '',
  },
];
const AUTHORIZER = { name: 'FixtureAuthorizer', entry: 'test/local/fixtures/authorizer.ts', resultCacheTtlSeconds: 300 };
const LIMIT = 5;

let front: RestFront;

beforeAll(async () => {
  front = await startRestFront({
    api: restApiFromRouteTable({ routes: ROUTES, authorizer: AUTHORIZER, publicClientLimit: { requests: LIMIT, windowSeconds: 60 } }),
  });
});
afterAll(() => front.close());

/** A GET from a chosen local address (127.0.0.0/8 is all loopback on Linux). */
function get(
  path: string,
  from: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${front.url}${path}`, { localAddress: from, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the per-client limit of the public routes', () => {
  it("is the route table's, counting exactly the paths of the routes without a permission", () => {
    const api = restApiFromRouteTable();
    expect(api.clientLimits?.map(({ name, requests, windowSeconds }) => ({ name, requests, windowSeconds }))).toEqual([
      { name: 'public', ...PUBLIC_CLIENT_LIMIT },
    ]);
    const [limit] = api.clientLimits ?? [];
    for (const route of REST_ROUTES) {
      // A path parameter stands for an id here.
      const path = route.path.replaceAll(/\{[^}]+\}/g, 'some-id');
      for (const form of [path, `${path}/`]) {
        expect([route.name, form, limit?.counts?.({ path: form, headers: {}, sourceIp: '127.0.0.1' })]).toEqual([
          route.name,
          form,
          route.permission === undefined,
        ]);
      }
    }
  });

  it('counts one address over every public route, then answers 429 THROTTLED with Retry-After; other addresses and authenticated routes go on', async () => {
    const client = '127.0.0.3';
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT; i++) statuses.push((await get(i % 2 ? '/one' : '/two', client)).status);
    expect(statuses).toEqual(Array.from({ length: LIMIT }, () => 200));

    for (const path of ['/one', '/two']) {
      const refused = await get(path, client);
      expect({ path, status: refused.status, body: JSON.parse(refused.body) as unknown }).toEqual({
        path,
        status: 429,
        body: { error: { code: 'RATE_LIMITED', message: 'Too many requests' } },
      });
      expect(refused.headers['cache-control']).toBe('no-store');
      const retryAfter = Number(refused.headers['retry-after']);
      expect(retryAfter >= 1 && retryAfter <= 60).toBe(true);
    }

    expect((await get('/one', '127.0.0.4')).status).toBe(200);
    const token = await mintDevToken({ tenantId: 'tenant-a', userId: 'user-1', permissions: ['products:read'] });
    expect((await get('/private', client, { Authorization: `Bearer ${token}` })).status).toBe(200);
  });
});

describe('ClientLimiter', () => {
  const limit = { name: 'public', requests: 2, windowSeconds: 60 };

  it("starts a client's window with its first request and forgives it when the window ends", () => {
    let now = 1_000_000;
    const limiter = new ClientLimiter(() => now);
    expect([limiter.take(limit, 'a').allowed, limiter.take(limit, 'a').allowed]).toEqual([true, true]);
    now += 15_000;
    expect(limiter.take(limit, 'a')).toEqual({ allowed: false, retryAfterSeconds: 45 });
    expect(limiter.take({ ...limit, name: 'other' }, 'a').allowed).toBe(true);
    now += 45_000;
    expect(limiter.take(limit, 'a')).toEqual({ allowed: true, retryAfterSeconds: 60 });
  });

  it('tracks at most maxClients clients per limit', () => {
    const limiter = new ClientLimiter(() => 0, 3);
    for (const c of ['a', 'b', 'c', 'd']) limiter.take({ ...limit, requests: 1 }, c);
    // "a" was forgotten: its next request starts a new window.
    expect(limiter.take({ ...limit, requests: 1 }, 'a').allowed).toBe(true);
    expect(limiter.take({ ...limit, requests: 1 }, 'd').allowed).toBe(false);
  });
});
