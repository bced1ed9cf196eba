/**
 * The expired-token CloudFront Function (lib/edge/expired-token.js), run as CloudFront runs it: the
 * code exactly as synthesized (settings written in), in a fresh V8 context with nothing of Node's
 * (no require, no Buffer, no atob), called with a viewer-request event of cloudfront-js-2.0.
 */
import { runInNewContext } from 'node:vm';
import { errorBody } from '../../functions/shared/gateway-errors';
import { expiredTokenFunctionCode } from '../../lib/edge/edge-functions';
import { mintDevToken } from '../../local/tokens';

const ALLOWED = 'https://shop.example.com';
const VIEWER_HEADER = 'x-shop-edge-viewer-address';

interface Header {
  value: string;
}
interface EdgeRequest {
  method: string;
  uri: string;
  querystring: Record<string, Header>;
  headers: Record<string, Header>;
  cookies: Record<string, Header>;
}
interface EdgeResponse {
  statusCode: number;
  statusDescription: string;
  headers: Record<string, Header>;
  body: { encoding: string; data: string };
}

function loadHandler(settings: Parameters<typeof expiredTokenFunctionCode>[0]): (event: unknown) => EdgeRequest | EdgeResponse {
  const code = expiredTokenFunctionCode(settings);
  return runInNewContext(`${code}\n;handler`, {}, { filename: 'expired-token.js' }) as (event: unknown) => EdgeRequest | EdgeResponse;
}

const handler = loadHandler({ viewerAddressHeader: VIEWER_HEADER, allowedOrigins: [ALLOWED] });

function eventFor(headers: Record<string, Header>, uri = '/api/products') {
  return {
    version: '1.0',
    context: {
      distributionDomainName: 'd111111abcdef8.cloudfront.net',
      distributionId: 'EDFDVBD6EXAMPLE',
      eventType: 'viewer-request',
      requestId: 'r-1',
    },
    viewer: { ip: '198.51.100.7' },
    request: { method: 'GET', uri, querystring: { limit: { value: '10' } }, headers, cookies: {} },
  };
}

const bearer = (token: string, origin?: string): Record<string, Header> => ({
  host: { value: 'd111111abcdef8.cloudfront.net' },
  authorization: { value: `Bearer ${token}` },
  ...(origin !== undefined ? { origin: { value: origin } } : {}),
});

/** A JWT with this payload (as JSON text) and a signature nobody checks here. */
const unsigned = (payload: string) =>
  `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from(payload).toString('base64url')}.c2ln`;

const isResponse = (value: EdgeRequest | EdgeResponse): value is EdgeResponse => 'statusCode' in value;

function refusal(result: EdgeRequest | EdgeResponse): EdgeResponse {
  if (!isResponse(result)) throw new Error(`the function let the request through: ${JSON.stringify(result)}`);
  return result;
}

describe('the expired-token CloudFront Function (viewer request of the cached tenant routes)', () => {
  it('lets a token that has not expired through, untouched, and writes the viewer address over what the viewer sent', async () => {
    const token = await mintDevToken({ tenantId: 'shop-1', expiresInSeconds: 3600 });
    const headers = { ...bearer(token), [VIEWER_HEADER]: { value: '10.0.0.1' } };
    const result = handler(eventFor(headers));
    expect(isResponse(result)).toBe(false);
    expect((result as EdgeRequest).headers.authorization).toEqual({ value: `Bearer ${token}` });
    expect((result as EdgeRequest).headers[VIEWER_HEADER]).toEqual({ value: '198.51.100.7' });
    expect((result as EdgeRequest).uri).toBe('/api/products');
  });

  it('refuses a token past its exp with the contract 401: UNAUTHORIZED, never stored, CORS for a listed origin', async () => {
    const token = await mintDevToken({ tenantId: 'shop-1', expiresInSeconds: -120 });
    const response = refusal(handler(eventFor(bearer(token, ALLOWED), '/api/products/p-1')));
    expect(response.statusCode).toBe(401);
    expect(response.body).toEqual({ encoding: 'text', data: errorBody('UNAUTHORIZED', 'Token expired') });
    expect(response.headers).toEqual({
      'content-type': { value: 'application/json' },
      'cache-control': { value: 'no-store' },
      vary: { value: 'Origin' },
      'access-control-allow-origin': { value: ALLOWED },
      'access-control-expose-headers': { value: 'ETag, Location, Retry-After' },
    });
  });

  it('gives an origin that is not listed no CORS headers on the 401 (a browser then reads nothing)', async () => {
    const token = await mintDevToken({ tenantId: 'shop-1', expiresInSeconds: -120 });
    const response = refusal(handler(eventFor(bearer(token, 'https://evil.example.net'))));
    expect(response.statusCode).toBe(401);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    expect(response.headers.vary).toEqual({ value: 'Origin' });
  });

  it.each([
    ['no exp', unsigned('{"sub":"u","tenantId":"shop-1"}')],
    ['exp as a string', unsigned(`{"exp":"${Math.floor(Date.now() / 1000) + 3600}"}`)],
    ['a payload that is not JSON', unsigned('not json')],
    ['a payload that is a JSON number', unsigned('42')],
    ['two segments', 'eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjk5OTk5OTk5OTl9'],
    ['a character outside base64url', `eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjk5OTk5OTk5OTl9+.c2ln`],
    ['an impossible base64 length', `eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjk5OTk5OTk5OTl9a.c2ln`],
  ])('refuses a bearer token with %s (401, invalid token)', (_case, token) => {
    const response = refusal(handler(eventFor(bearer(token))));
    expect(response.statusCode).toBe(401);
    expect(response.body.data).toBe(errorBody('UNAUTHORIZED', 'Missing or invalid bearer token'));
    expect(response.headers['cache-control']).toEqual({ value: 'no-store' });
  });

  it('reads exp from a payload with non-ASCII claims (UTF-8 bytes) and any base64url length', () => {
    const exp = Math.floor(Date.now() / 1000) + 3600;
    for (const name of ['Zoë', 'Zoë 東京', 'Zoë 東京 🛒', '']) {
      expect([name, isResponse(handler(eventFor(bearer(unsigned(JSON.stringify({ name, exp }))))))]).toEqual([name, false]);
      expect([name, refusal(handler(eventFor(bearer(unsigned(JSON.stringify({ name, exp: exp - 7200 })))))).statusCode]).toEqual([
        name,
        401,
      ]);
    }
  });

  it('leaves a request without a bearer token to the authorizer (it answers 401 itself, never cached)', () => {
    const requests: Record<string, Header>[] = [{}, { authorization: { value: 'Basic dXNlcjpwYXNz' } }, { authorization: { value: '' } }];
    for (const headers of requests) {
      expect(isResponse(handler(eventFor(headers)))).toBe(false);
    }
  });

  it('takes the scheme in any case, as the authorizer does', async () => {
    const expired = await mintDevToken({ tenantId: 'shop-1', expiresInSeconds: -120 });
    expect(refusal(handler(eventFor({ authorization: { value: `bearer ${expired}` } }))).statusCode).toBe(401);
  });

  it('writes no viewer address when none is configured, and fits CloudFront Functions (10 KB of code)', async () => {
    const plain = loadHandler({ allowedOrigins: [] });
    const token = await mintDevToken({ tenantId: 'shop-1', expiresInSeconds: 3600 });
    const result = plain(eventFor(bearer(token))) as EdgeRequest;
    expect(Object.keys(result.headers).sort()).toEqual(['authorization', 'host']);
    expect(Buffer.byteLength(expiredTokenFunctionCode({ viewerAddressHeader: VIEWER_HEADER, allowedOrigins: [ALLOWED] }))).toBeLessThan(
      10_240,
    );
  });
});
