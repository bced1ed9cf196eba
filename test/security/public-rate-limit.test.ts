/**
 * The public routes' per-client limit on the local stack (the route table's REST API, the real
 * handlers): one client address gets PUBLIC_CLIENT_LIMIT.requests answers from the marketplace and
 * /health together within the window, then 429 RATE_LIMITED with Retry-After, before any function
 * runs; another address, and the tenant routes (per-user limit), go on. Was a defect: the public
 * routes had no per-client limit at all (2,000 requests in 12 s were all served).
 */
import { request } from 'node:http';
import { PUBLIC_CLIENT_LIMIT } from '../../functions/routes';
import { countingRepository, startApi, tenantId, type Api } from '../api/api-fixtures';

let api: Api;
beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api.close());

function get(
  path: string,
  from: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; retryAfter?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${api.front.url}${path}`, { localAddress: from, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const retryAfter = res.headers['retry-after'];
        resolve({
          status: res.statusCode ?? 0,
          ...(retryAfter !== undefined ? { retryAfter } : {}),
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the public routes, per client', () => {
  it(`serve ${PUBLIC_CLIENT_LIMIT.requests} requests of one address in the window, then 429 with Retry-After, before any function runs`, async () => {
    const client = '127.0.0.5';
    let next = 0;
    const statuses = new Map<number, number>();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < PUBLIC_CLIENT_LIMIT.requests) {
          const path = next++ % 10 === 0 ? '/health' : '/api/marketplace/products?limit=1';
          const { status } = await get(path, client);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }),
    );
    expect(Object.fromEntries(statuses)).toEqual({ 200: PUBLIC_CLIENT_LIMIT.requests });

    const counting = countingRepository(api.repo);
    api.rewire({ repo: counting.repo });
    try {
      for (const path of ['/api/marketplace/products', '/health', `/api/marketplace/products?cursor=${'a'.repeat(30)}.${'b'.repeat(22)}`]) {
        const refused = await get(path, client);
        expect({ path, status: refused.status, body: JSON.parse(refused.body) as unknown }).toEqual({
          path,
          status: 429,
          body: { error: { code: 'RATE_LIMITED', message: 'Too many requests' } },
        });
        expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
        expect(Number(refused.retryAfter)).toBeLessThanOrEqual(PUBLIC_CLIENT_LIMIT.windowSeconds);
      }
      expect(counting.calls()).toBe(0);
    } finally {
      api.restore();
    }

    expect((await get('/api/marketplace/products', '127.0.0.6')).status).toBe(200);
    const token = await api.token(tenantId('rl'));
    expect((await get('/api/products', client, { Authorization: `Bearer ${token}` })).status).toBe(200);
  });
});
