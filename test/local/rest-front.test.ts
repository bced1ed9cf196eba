/**
 * The REST front behaves like API Gateway (REST API, Lambda proxy integration) in front of fixture
 * handlers: routing answers, the REQUEST authorizer and its cache, the v1 event, the result
 * written back, and API Gateway's own errors in the contract's body.
 */
import { request } from 'node:http';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { RestRoute } from '../../functions/routes';
import { startRestFront, type RestFront } from '../../local/rest-front';
import { mintDevToken } from '../../local/tokens';
import { calls as authorizerCalls } from './fixtures/authorizer';

const FIXTURE = 'test/local/fixtures/rest.ts';
const needs = { redis: false, tables: [] };
const ROUTES: RestRoute[] = [
  {
    name: 'GetThing',
    method: 'GET',
    path: '/api/things/{id}',
    entry: FIXTURE,
    permission: 'products:read',
    cacheClass: 'no-store',
    needs,
    summary: '',
  },
  {
    name: 'CreateThing',
    method: 'POST',
    path: '/api/things',
    entry: FIXTURE,
    permission: 'products:write',
    cacheClass: 'no-store',
    needs,
    summary: '',
  },
  { name: 'PublicThing', method: 'GET', path: '/public', entry: FIXTURE, cacheClass: 'no-store', needs, summary: '' },
];
const AUTHORIZER = { name: 'FixtureAuthorizer', entry: 'test/local/fixtures/authorizer.ts', resultCacheTtlSeconds: 300 };

interface Echo {
  event: APIGatewayProxyEvent;
  context: {
    awsRequestId: string;
    functionName: string;
    invokedFunctionArn: string;
    memoryLimitInMB: string;
    remainingTimeInMillis: number;
  };
}

let front: RestFront;
let token: string;

beforeAll(async () => {
  front = await startRestFront({ routes: ROUTES, authorizer: AUTHORIZER, timeoutMs: 2000 });
  token = await mintDevToken({ tenantId: 'tenant-a', userId: 'user-1', permissions: ['products:read', 'products:write'] });
});

afterAll(async () => {
  await front.close();
});

beforeEach(() => {
  front.flushAuthorizerCache();
  authorizerCalls.length = 0;
});

/** A GET with raw header lines (fetch would fold repeated headers into one line). */
function rawGet(url: string, headers: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${front.url}${path}`, { headers });
const authorized = (path: string, extra: Record<string, string> = {}) => get(path, { Authorization: `Bearer ${token}`, ...extra });

describe('routing like API Gateway', () => {
  it('answers an unknown path with 404 in the contract error body', async () => {
    const response = await get('/api/nothing-here');
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: { code: 'NOT_FOUND', message: expect.any(String) } });
  });

  it('answers a known path with the wrong method with 403 "Missing Authentication Token"', async () => {
    const response = await fetch(`${front.url}/api/things/1`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ error: { code: 'FORBIDDEN', message: 'Missing Authentication Token' } });
  });

  it('serves a public route without calling the authorizer', async () => {
    const response = await get('/public');
    expect(response.status).toBe(200);
    const { event } = (await response.json()) as Echo;
    expect(event.requestContext.authorizer).toBeUndefined();
    expect(authorizerCalls).toHaveLength(0);
  });
});

describe('the authorizer', () => {
  it('answers 401 without calling the authorizer when Authorization is missing', async () => {
    const response = await get('/api/things/1');
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: 'Unauthorized' } });
    expect(authorizerCalls).toHaveLength(0);
  });

  it.each([
    ['a garbage token', () => Promise.resolve('not-a-jwt')],
    [
      'a token signed with another secret',
      async () => mintDevToken({ tenantId: 't', secret: 'another-secret-that-is-long-enough-0123456789' }),
    ],
    ['an expired token', async () => mintDevToken({ tenantId: 't', expiresInSeconds: -60 })],
    ['a token for another audience', async () => mintDevToken({ tenantId: 't', audience: 'someone-else' })],
  ])('refuses %s with 401 (Error("Unauthorized"))', async (_label, mint) => {
    const response = await get('/api/things/1', { Authorization: `Bearer ${await mint()}` });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: 'Unauthorized' } });
  });

  it('answers 403 when the policy denies', async () => {
    const denied = await mintDevToken({ tenantId: 'deny' });
    const response = await get('/api/things/1', { Authorization: `Bearer ${denied}` });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ error: { code: 'FORBIDDEN', message: 'User is not authorized to access this resource' } });
  });

  it('passes its context to the handler as requestContext.authorizer', async () => {
    const response = await authorized('/api/things/1');
    expect(response.status).toBe(200);
    const { event } = (await response.json()) as Echo;
    expect(event.requestContext.authorizer).toMatchObject({
      principalId: 'user-1',
      tenantId: 'tenant-a',
      userId: 'user-1',
      permissions: 'products:read products:write',
    });
  });

  it('calls the authorizer with a REQUEST event and the method ARN', async () => {
    await authorized('/api/things/42?x=1');
    expect(authorizerCalls).toHaveLength(1);
    expect(authorizerCalls[0]).toMatchObject({
      type: 'REQUEST',
      methodArn: expect.stringMatching(/^arn:aws:execute-api:[a-z0-9-]+:\d{12}:[^/]+\/local\/GET\/api\/things\/42$/),
      resource: '/api/things/{id}',
      path: '/api/things/42',
      httpMethod: 'GET',
      pathParameters: { id: '42' },
      queryStringParameters: { x: '1' },
    });
  });

  it('caches the result by the Authorization value for the TTL, across routes of the stage', async () => {
    await authorized('/api/things/1');
    await authorized('/api/things/2');
    await fetch(`${front.url}/api/things`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: '{}' });
    expect(authorizerCalls).toHaveLength(1);

    const other = await mintDevToken({ tenantId: 'tenant-b' });
    await get('/api/things/1', { Authorization: `Bearer ${other}` });
    expect(authorizerCalls).toHaveLength(2);
  });

  it('does not cache refusals', async () => {
    await get('/api/things/1', { Authorization: 'Bearer nope' });
    await get('/api/things/1', { Authorization: 'Bearer nope' });
    expect(authorizerCalls).toHaveLength(2);
  });
});

describe('the proxy event', () => {
  it('carries path and query parameters, multi-value headers and the request context', async () => {
    const { status, body } = await rawGet(`${front.url}/api/things/caf%C3%A9?tag=a&tag=b&one=1`, [
      'Host',
      `127.0.0.1:${front.port}`,
      'Authorization',
      `Bearer ${token}`,
      'X-Repeated',
      'first',
      'X-Repeated',
      'second',
      'User-Agent',
      'local-test',
    ]);
    expect(status).toBe(200);
    const { event } = JSON.parse(body) as Echo;
    expect(event).toMatchObject({
      resource: '/api/things/{id}',
      path: '/api/things/caf%C3%A9',
      httpMethod: 'GET',
      pathParameters: { id: 'café' },
      queryStringParameters: { tag: 'b', one: '1' },
      multiValueQueryStringParameters: { tag: ['a', 'b'], one: ['1'] },
      stageVariables: null,
      body: null,
      isBase64Encoded: false,
    });
    // Header names as sent; `headers` keeps the last value, multiValueHeaders all of them.
    expect(event.multiValueHeaders['X-Repeated']).toEqual(['first', 'second']);
    expect(event.headers['X-Repeated']).toBe('second');
    expect(event.headers['User-Agent']).toBe('local-test');
    expect(event.headers['X-Forwarded-For']).toBe('127.0.0.1');
    expect(event.headers['X-Forwarded-Proto']).toBe('http');
    expect(event.requestContext).toMatchObject({
      stage: 'local',
      httpMethod: 'GET',
      resourcePath: '/api/things/{id}',
      path: '/local/api/things/caf%C3%A9',
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      identity: expect.objectContaining({ sourceIp: '127.0.0.1', userAgent: 'local-test' }),
      requestTimeEpoch: expect.any(Number),
    });
  });

  it('passes the body as a string', async () => {
    const response = await fetch(`${front.url}/api/things`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'thing' }),
    });
    const { event } = (await response.json()) as Echo;
    expect(event.body).toBe('{"name":"thing"}');
    expect(event.httpMethod).toBe('POST');
    expect(event.pathParameters).toBeNull();
  });

  it('gives the handler a Lambda-like context', async () => {
    const response = await get('/public');
    const { context } = (await response.json()) as Echo;
    expect(context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(context.functionName).toBe('shop-edge-local-PublicThing');
    expect(context.invokedFunctionArn).toMatch(/^arn:aws:lambda:.+:function:shop-edge-local-PublicThing$/);
    expect(context.remainingTimeInMillis).toBeGreaterThan(0);
    expect(context.remainingTimeInMillis).toBeLessThanOrEqual(2000);
  });
});

describe('the result written back', () => {
  it('keeps the status code, headers and multi-value headers', async () => {
    const response = await get('/public?mode=headers&status=418');
    expect(response.status).toBe(418);
    expect(response.headers.get('x-single')).toBe('one');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    expect(response.headers.get('x-multi')).toBe('x, y');
    expect(response.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect((await response.json()) as Echo).toHaveProperty('event');
  });

  it('decodes an isBase64Encoded body', async () => {
    const response = await get('/public?mode=binary');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect([...new Uint8Array(await response.arrayBuffer())]).toEqual([0, 1, 2, 255]);
  });

  it('sends 204 without a body', async () => {
    const response = await get('/public?mode=empty');
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
  });
});

describe("API Gateway's own errors", () => {
  it('answers 502 with the contract body, never the error text, when the handler throws', async () => {
    const response = await get('/public?mode=throw');
    expect(response.status).toBe(502);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ error: { code: 'INTERNAL', message: 'Internal server error' } });
    expect(text).not.toContain('hunter2');
  });

  it('answers 502 to a malformed proxy result', async () => {
    const response = await get('/public?mode=malformed');
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({ error: { code: 'INTERNAL', message: 'Internal server error' } });
  });

  it('answers 504 when the function runs past its timeout', async () => {
    const quick = await startRestFront({ routes: ROUTES, authorizer: AUTHORIZER, timeoutMs: 100 });
    try {
      const response = await fetch(`${quick.url}/public?mode=slow`);
      expect(response.status).toBe(504);
      expect(await response.json()).toEqual({ error: { code: 'UNAVAILABLE', message: 'Endpoint request timed out' } });
    } finally {
      await quick.close();
    }
  });

  it('answers 413 to a request body over 10 MB', async () => {
    const response = await fetch(`${front.url}/api/things`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      body: Buffer.alloc(10 * 1024 * 1024 + 1, 0x61),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'Request Too Long' } });
  });

  it('accepts a body of exactly 10 MB', async () => {
    const response = await fetch(`${front.url}/api/things?mode=length`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      body: Buffer.alloc(10 * 1024 * 1024, 0x61),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ length: 10 * 1024 * 1024 });
  });

  it("answers 502 to a response over Lambda's 6 MB limit", async () => {
    const response = await get('/public?mode=huge');
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({ error: { code: 'INTERNAL', message: 'Internal server error' } });
  });
});
