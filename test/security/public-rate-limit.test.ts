/**
 * The public routes' per-client limit, on the stack under test of this project's mode (from source:
 * the route table's limit; as deployed: the stage's WAF web ACL, read from the template): one client address gets PUBLIC_CLIENT_LIMIT.requests answers from the marketplace and
 * /health together within the window, then 429 RATE_LIMITED with Retry-After, before any function
 * runs; another address, and the tenant routes (per-user limit), go on. Was a defect: the public
 * routes had no per-client limit at all (2,000 requests in 12 s were all served).
 */
import { request } from 'node:http';
import { PUBLIC_CLIENT_LIMIT } from '../../functions/routes';
import { tenantId } from '../api/api-fixtures';
import { startStackUnderTest, type StackUnderTest } from '../support/stack-under-test';

let api: StackUnderTest;
beforeAll(async () => {
  api = await startStackUnderTest({ name: 'public-limit' });
});
afterAll(() => api.stop());

async function get(
  path: string,
  from: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; retryAfter?: string; body: string }> {
  // Under the stage's throttle (as deployed, dev: 50 requests/s): what is counted here is the client limit.
  await api.pace();
  return new Promise((resolve, reject) => {
    const req = request(`${api.restUrl}${path}`, { localAddress: from, headers }, (res) => {
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
    const unexpected: { path: string; status: number; body: string }[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < PUBLIC_CLIENT_LIMIT.requests) {
          const path = next++ % 10 === 0 ? '/health' : '/api/marketplace/products?limit=1';
          const { status, body } = await get(path, client);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status !== 200) unexpected.push({ path, status, body: body.slice(0, 300) });
        }
      }),
    );
    // Every one reached its function. /health is the function's own report of its probes: on a
    // loaded machine one may outlast its budget and say so (503 UNAVAILABLE, "... unavailable"),
    // which is the health route at work, not the limit (that would be a 429 before the function).
    const healthReport = (u: { path: string; status: number; body: string }) =>
      u.path === '/health' && u.status === 503 && /"code":"UNAVAILABLE".*unavailable \(redis: /.test(u.body);
    expect(unexpected.filter((u) => !healthReport(u))).toEqual([]);
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(PUBLIC_CLIENT_LIMIT.requests);

    const since = Date.now();
    {
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
      // No function ran: no DynamoDB request at all since the first refusal.
      expect(api.dataCalls().filter((c) => c.api === 'dynamodb' && c.at >= since)).toEqual([]);
    }

    expect((await get('/api/marketplace/products', '127.0.0.6')).status).toBe(200);
    const token = await api.token(tenantId('rl'));
    expect((await get('/api/products', client, { Authorization: `Bearer ${token}` })).status).toBe(200);
  });
});
