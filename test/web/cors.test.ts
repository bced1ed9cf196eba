/**
 * A frontend on its own origin calls the API from headless Chromium (Debian's chromium, driven by
 * playwright-core): a page served by a second small HTTP server (another port, so another origin,
 * as a dev server is) calls every REST route of the route table with fetch and a bearer token, and
 * the browser lets it read each answer: status, body, and the headers the contract names (ETag,
 * Location, Retry-After). API Gateway's own 401, for a bad token and for none, is readable too;
 * a page on an origin the API does not allow reads nothing.
 */
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REST_ROUTES } from '../../functions/routes';
import { resetConfig } from '../../functions/shared/config';
import { listen, closeServer } from '../../local/rest-front';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { mintDevToken } from '../../local/tokens';
import { tenantId } from '../api/api-fixtures';
import { dynamoDbEndpoint, testTables } from '../support';

jest.setTimeout(120_000);

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

/** What the page saw of one call: what a frontend can read, or the TypeError of a call CORS refused. */
interface Seen {
  readonly route: string;
  readonly status?: number;
  readonly body?: any;
  readonly headers?: Record<string, string | null>;
  readonly error?: string;
}

let stack: LocalStack;
let pageServer: Server;
let pageOrigin: string;
let browser: Browser;
let page: Page;
let token: string;

/** A page server on 127.0.0.1 (another port than the API's: another origin), or on `host`. */
async function startPageServer(host: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html><head><title>frontend</title></head><body>frontend</body></html>');
  });
  await listen(server, 0, host);
  return { server, origin: `http://${host}:${(server.address() as AddressInfo).port}` };
}

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)`);
  stack = await startLocalStack({
    port: 0,
    wsPort: 0,
    dynamoDbEndpoint: dynamoDbEndpoint(),
    redis: 'none',
    tableNames: await testTables('cors'),
    seed: false,
    pollIntervalMs: 100,
  });
  resetConfig();
  ({ server: pageServer, origin: pageOrigin } = await startPageServer('127.0.0.1'));
  expect(new URL(pageOrigin).origin).not.toBe(new URL(stack.restUrl).origin);
  token = await mintDevToken({ tenantId: tenantId('cors') });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  page = await browser.newPage();
  await page.goto(`${pageOrigin}/`);
}, 120_000);

afterAll(async () => {
  await (browser as Browser | undefined)?.close();
  if ((pageServer as Server | undefined) !== undefined) await closeServer(pageServer);
  await (stack as LocalStack | undefined)?.stop();
});

/**
 * Runs in the page: every route of the table once, in an order that gives each the data it needs,
 * with the token in the Authorization header (so each non-simple call is preflighted first).
 */
function callEveryRoute(page: Page, api: string, token: string): Promise<Seen[]> {
  return page.evaluate(
    async ({ api, token }) => {
      const seen: Seen[] = [];
      const call = async (
        route: string,
        method: string,
        path: string,
        options: { body?: unknown; headers?: Record<string, string> } = {},
      ) => {
        try {
          const response = await fetch(`${api}${path}`, {
            method,
            headers: {
              Authorization: `Bearer ${token}`,
              ...(options.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
              ...options.headers,
            },
            ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
          });
          const text = await response.text();
          const entry: Seen = {
            route,
            status: response.status,
            body: text === '' ? '' : JSON.parse(text),
            headers: {
              etag: response.headers.get('ETag'),
              location: response.headers.get('Location'),
              'retry-after': response.headers.get('Retry-After'),
              'cache-control': response.headers.get('Cache-Control'),
            },
          };
          seen.push(entry);
          return entry;
        } catch (error) {
          const entry: Seen = { route, error: String(error) };
          seen.push(entry);
          return entry;
        }
      };
      await call('CreateProduct', 'POST', '/api/products', {
        body: { id: 'cors-lamp', name: 'Desk lamp', price: 2599, category: 'lighting', listed: true },
      });
      await call('ListProducts', 'GET', '/api/products');
      const product = await call('GetProduct', 'GET', '/api/products/cors-lamp');
      await call('GetProductStock', 'GET', '/api/products/cors-lamp/stock');
      await call('UpdateProduct', 'PUT', '/api/products/cors-lamp', {
        body: { price: 2499 },
        headers: { 'If-Match': product.headers?.etag ?? '' },
      });
      await call('AdjustStock', 'POST', '/api/products/cors-lamp/stock-adjustments', { body: { delta: 5, reason: 'delivery' } });
      const order = await call('CreateOrder', 'POST', '/api/orders', { body: { lines: [{ productId: 'cors-lamp', quantity: 1 }] } });
      const orderId = String(order.body?.data?.id);
      await call('GetOrder', 'GET', `/api/orders/${orderId}`);
      await call('UpdateOrder', 'PATCH', `/api/orders/${orderId}`, { body: { status: 'paid' } });
      await call('ListMarketplace', 'GET', '/api/marketplace/products');
      await call('Health', 'GET', '/health');
      await call('DeleteProduct', 'DELETE', '/api/products/cors-lamp');
      return seen;
    },
    { api, token },
  );
}

/** In the page: one GET with the given Authorization (none when null). */
function getFromPage(page: Page, url: string, authorization: string | null): Promise<{ status?: number; body?: any; error?: string }> {
  return page.evaluate(
    async ({ url, authorization }) => {
      try {
        const response = await fetch(url, authorization === null ? {} : { headers: { Authorization: authorization } });
        return { status: response.status, body: await response.json() };
      } catch (error) {
        return { error: String(error) };
      }
    },
    { url, authorization },
  );
}

describe('a frontend on another origin', () => {
  it('calls every REST route from the browser with a bearer token and reads each answer', async () => {
    const seen = await callEveryRoute(page, stack.restUrl, token);
    const byRoute = new Map(seen.map((s) => [s.route, s]));
    // Every route of the table was called (a new route must be added to the page's calls).
    expect([...byRoute.keys()].sort()).toEqual(REST_ROUTES.map((r) => r.name).sort());
    for (const s of seen) expect({ route: s.route, error: s.error }).toEqual({ route: s.route, error: undefined });

    const status = Object.fromEntries(seen.map((s) => [s.route, s.status]));
    expect(status).toEqual({
      CreateProduct: 201,
      ListProducts: 200,
      GetProduct: 200,
      GetProductStock: 200,
      UpdateProduct: 200,
      AdjustStock: 200,
      CreateOrder: 201,
      GetOrder: 200,
      UpdateOrder: 200,
      ListMarketplace: 200,
      // 503 when the machine is too loaded for the health probes' bounds: still an answer the page reads.
      Health: expect.any(Number),
      DeleteProduct: 204,
    });
    const get = (route: string) => byRoute.get(route)!;
    expect(get('CreateProduct').headers?.location).toBe('/api/products/cors-lamp');
    expect(get('ListProducts').body.data.map((p: { id: string }) => p.id)).toContain('cors-lamp');
    expect(get('GetProduct').body.data).toMatchObject({ id: 'cors-lamp', price: 2599 });
    expect(get('GetProduct').headers?.etag).toMatch(/^"/);
    expect(get('GetProductStock').body.data).toMatchObject({ productId: 'cors-lamp' });
    expect(get('UpdateProduct').body.data).toMatchObject({ price: 2499 });
    expect(get('AdjustStock').body.data).toMatchObject({ stock: expect.any(Number) });
    expect(get('CreateOrder').headers?.location).toBe(`/api/orders/${get('CreateOrder').body.data.id}`);
    expect(get('GetOrder').body.data.id).toBe(get('CreateOrder').body.data.id);
    expect(get('GetOrder').headers?.etag).toMatch(/^"/);
    expect(get('UpdateOrder').body.data.status).toBe('paid');
    expect(get('ListMarketplace').body.data).toEqual(expect.any(Array));
    expect(get('ListMarketplace').headers?.['cache-control']).toMatch(/max-age/);
    expect([200, 503]).toContain(get('Health').status);
    expect(get('Health').body.data?.status ?? get('Health').body.error?.code).toMatch(/^(ok|UNAVAILABLE)$/);
    expect(get('DeleteProduct').body).toBe('');
  });

  it("reads API Gateway's own 401, with a bad token (preflighted) and with none", async () => {
    const bad = await getFromPage(page, `${stack.restUrl}/api/products`, 'Bearer not-a-token');
    expect(bad).toEqual({ status: 401, body: { error: { code: 'UNAUTHORIZED', message: expect.any(String) } } });
    const none = await getFromPage(page, `${stack.restUrl}/api/products`, null);
    expect(none).toEqual({ status: 401, body: { error: { code: 'UNAUTHORIZED', message: expect.any(String) } } });
  });

  it('reads nothing from a page on an origin the API does not allow', async () => {
    // Another loopback address (all of 127/8 is loopback on Linux) than the dev-server origins
    // (localhost, 127.0.0.1): an origin the stack does not allow.
    const other = await startPageServer('127.0.0.2');
    try {
      const refused = await browser.newPage();
      try {
        await refused.goto(`${other.origin}/`);
        const answer = await getFromPage(refused, `${stack.restUrl}/api/products/cors-lamp`, `Bearer ${token}`);
        expect(answer.status).toBeUndefined();
        expect(answer.error).toMatch(/TypeError/);
      } finally {
        await refused.close();
      }
    } finally {
      await closeServer(other.server);
    }
  });
});
