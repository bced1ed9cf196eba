/**
 * CORS through the REST front of the stack under test (from source: the route table; as deployed:
 * the synthesized template's OPTIONS methods, gateway responses and function environments): a
 * preflight from an allowed origin is answered 204 with the path's methods and the allowed
 * headers; a disallowed origin gets no Access-Control-Allow-Origin anywhere; the functions' answers
 * (200 and errors) and API Gateway's own (401) carry the headers a page needs to read them.
 * Both modes allow a dev server on any localhost or 127.0.0.1 port (cdk.json's dev profile, the
 * local stack's default).
 */
import { corsPaths } from '../../functions/shared/cors';
import { startStackUnderTest, type StackUnderTest } from '../support/stack-under-test';
import { json, tenantId } from './api-fixtures';

const ALLOWED = 'http://localhost:5173';
const ALSO_ALLOWED = 'http://127.0.0.1:4200';
const REFUSED = 'https://evil.example.com';

let api: StackUnderTest;

beforeAll(async () => {
  api = await startStackUnderTest({ name: 'cors' });
});
afterAll(() => api.stop());

/** A preflight as a browser sends it (no Authorization). */
async function preflight(path: string, origin: string, method: string): Promise<Response> {
  await api.pace();
  return fetch(`${api.restUrl}${path}`, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'authorization,content-type' },
  });
}

const samplePath = (path: string) => path.replace(/\{[^}]+\}/g, 'sample-1');

describe('preflights', () => {
  it.each([...corsPaths()].map(([path, methods]) => ({ path, methods })))(
    'OPTIONS $path from an allowed origin: 204 with its methods, the allowed headers and the origin',
    async ({ path, methods }) => {
      for (const origin of [ALLOWED, ALSO_ALLOWED]) {
        const response = await preflight(samplePath(path), origin, methods[0]!);
        expect(response.status).toBe(204);
        expect(response.headers.get('access-control-allow-origin')).toBe(origin);
        expect(response.headers.get('access-control-allow-methods')?.split(', ')).toEqual([...methods, 'OPTIONS']);
        expect(response.headers.get('access-control-allow-headers')?.toLowerCase().split(', ')).toEqual(
          expect.arrayContaining(['authorization', 'content-type', 'if-match', 'if-none-match']),
        );
        expect(Number(response.headers.get('access-control-max-age'))).toBeGreaterThan(0);
        expect(response.headers.get('access-control-allow-credentials')).toBeNull();
        expect(response.headers.get('vary')).toMatch(/\bOrigin\b/);
      }
    },
  );

  it('gives a disallowed origin no Access-Control-Allow-Origin (the browser refuses the call)', async () => {
    for (const origin of [REFUSED, 'http://localhost.evil.example.com:5173', 'https://localhost:5173']) {
      const response = await preflight('/api/products', origin, 'POST');
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
    }
  });
});

describe('answers', () => {
  it("echoes an allowed origin on a function's answer, with the headers a page may read, and Vary: Origin", async () => {
    const token = await api.token(tenantId());
    const response = await api.call('GET', '/api/products', { token, headers: { Origin: ALLOWED } });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(response.headers.get('access-control-expose-headers')?.split(', ')).toEqual(
      expect.arrayContaining(['ETag', 'Retry-After', 'Location']),
    );
    // The route's own Vary stays (the contract's), with Origin added.
    expect(response.headers.get('vary')).toBe('Authorization, Accept-Encoding, Origin');
  });

  it("carries the CORS headers on a function's error (404) too", async () => {
    const token = await api.token(tenantId());
    const response = await api.call('GET', '/api/products/no-such-product', { token, headers: { Origin: ALLOWED } });
    expect(response.status).toBe(404);
    expect(response.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect((await json(response)).error.code).toBe('NOT_FOUND');
  });

  it('gives a disallowed origin the answer without Access-Control-Allow-Origin, Vary: Origin kept', async () => {
    const token = await api.token(tenantId());
    const response = await api.call('GET', '/api/products', { token, headers: { Origin: REFUSED } });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('vary')).toMatch(/\bOrigin\b/);
  });

  it("carries the CORS headers on API Gateway's own 401, so a page can read it and refresh its token", async () => {
    const response = await api.call('GET', '/api/products', { headers: { Origin: ALLOWED } });
    expect(response.status).toBe(401);
    expect(response.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(response.headers.get('access-control-expose-headers')).toMatch(/Retry-After/);
    expect(response.headers.get('vary')).toMatch(/\bOrigin\b/);
    expect((await json(response)).error.code).toBe('UNAUTHORIZED');
  });

  it('sets no CORS header on an answer to a request without Origin (same-origin and server calls)', async () => {
    const response = await api.call('GET', '/health');
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });
});
