/**
 * The live page in headless Chromium (Debian's chromium, driven by playwright-core) against the
 * whole local stack with the demo data: it loads with no console error; a stock adjustment made
 * through REST shows on the badge within a second; an order placed through REST shows in the
 * figures and, once watched, in the feed with live status, and one placed from the page shows in
 * both; when the WebSocket front stops the page says "reconnecting" and recovers, with what
 * changed meanwhile, when it is back. Production mode (no dev tokens: the user pastes a token)
 * too. Saves test/artifacts/dashboard.png.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { resetConfig } from '../../functions/shared/config';
import { DEMO_TENANTS } from '../../local/seed';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { dynamoDbEndpoint, testTables } from '../support';

jest.setTimeout(120_000);

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
const ARTIFACTS = path.join(__dirname, '..', 'artifacts');
const ACME = DEMO_TENANTS.find((t) => t.tenantId === 'acme')!;
/** What Chromium logs for a WebSocket it cannot open (expected while the front is down). */
const WS_CONNECT_FAILURE = /WebSocket connection to '.*' failed/;

let stack: LocalStack;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

function collectErrors(p: Page, into: string[]): void {
  p.on('console', (message: ConsoleMessage) => {
    if (message.type() === 'error') into.push(`console: ${message.text()}`);
  });
  p.on('pageerror', (error) => into.push(`page error: ${error.message}`));
  p.on('requestfailed', (request) => into.push(`request failed: ${request.url()} (${request.failure()?.errorText})`));
}

async function rest(method: string, urlPath: string, body?: unknown): Promise<Record<string, any>> {
  const response = await fetch(`${stack.restUrl}${urlPath}`, {
    method,
    headers: { Authorization: `Bearer ${stack.tokens.acme}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${urlPath}: ${response.status} ${JSON.stringify(json)}`);
  return json.data;
}

const adjust = (productId: string, delta: number) =>
  rest('POST', `/api/products/${productId}/stock-adjustments`, { delta, reason: 'browser test' });

async function shownStock(productId: string): Promise<number> {
  return Number(await page.getAttribute(`.product[data-id="${productId}"] .badge`, 'data-stock'));
}

async function figure(id: 'orders-today' | 'revenue-today' | 'low-stock'): Promise<number> {
  return Number(await page.getAttribute(`#${id}`, 'data-value'));
}

/**
 * How long a test waits for the page to show a change: a bound that only ends a failed wait. How
 * fast a change reaches a screen is a benchmark's figure (the smoke check's write-to-WebSocket
 * line), not a test's, on a machine whose load no test controls.
 */
const SHOWS_WITHIN_MS = 10_000;

/** Resolves with the milliseconds it took for the badge to show `stock`. */
async function badgeShows(productId: string, stock: number, timeoutMs = SHOWS_WITHIN_MS): Promise<number> {
  const started = Date.now();
  await page.waitForFunction(
    ([id, want]) => document.querySelector<HTMLElement>(`.product[data-id="${id}"] .badge`)?.dataset.stock === want,
    [productId, String(stock)] as const,
    { timeout: timeoutMs, polling: 'raf' },
  );
  return Date.now() - started;
}

async function figureIs(id: string, value: number, timeoutMs = SHOWS_WITHIN_MS): Promise<void> {
  await page.waitForFunction(([sel, want]) => document.getElementById(sel)?.dataset.value === want, [id, String(value)] as const, {
    timeout: timeoutMs,
  });
}

async function stateIs(state: string, timeoutMs: number): Promise<void> {
  await page.waitForSelector(`#connection[data-state="${state}"]`, { timeout: timeoutMs });
}

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)`);
  stack = await startLocalStack({
    port: 0,
    wsPort: 0,
    dynamoDbEndpoint: dynamoDbEndpoint(),
    // No shared Redis: the demo tenants' cache keys would meet other test files' acme.
    redis: 'none',
    tableNames: await testTables('web'),
    seed: true,
    pollIntervalMs: 100,
  });
  resetConfig();
  expect(stack.seedError).toBeUndefined();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  collectErrors(page, consoleErrors);
}, 120_000);

afterAll(async () => {
  // undefined when beforeAll failed
  await (browser as Browser | undefined)?.close();
  await (stack as LocalStack | undefined)?.stop();
});

describe('the live page', () => {
  it('loads with no console error: connected, every product with its live stock, the figures', async () => {
    const response = await page.goto(`${stack.restUrl}/#acme`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain(`connect-src 'self' ${stack.wsUrl}`);
    expect(response?.headers()['cache-control']).toBe('no-cache');

    await stateIs('connected', 10_000);
    const expected = Math.min(ACME.products.length, 30);
    await page.waitForFunction((n) => document.querySelectorAll('.product .badge[data-stock]').length === n, expected, { timeout: 10_000 });
    expect(await shownStock('espresso-beans')).toBe((await rest('GET', '/api/products/espresso-beans/stock')).stock);
    expect(await page.textContent('.product[data-id="single-origin-colombia"] .badge')).toBe('out of stock');
    await page.waitForSelector('#orders-today[data-value]', { timeout: SHOWS_WITHIN_MS });
    expect(await figure('orders-today')).toBeGreaterThanOrEqual(ACME.orders.length);
    expect(await page.textContent('#connection')).toContain('connected');
    expect(await page.inputValue('#tenant')).toBe('acme');

    // Hashed assets, immutable; the page's own script and stylesheet.
    const script = await page.getAttribute('script[type="module"]', 'src');
    expect(script).toMatch(/^\/assets\/app-[A-Z0-9]+\.js$/);
    const asset = await fetch(`${stack.restUrl}${script}`);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');

    await page.waitForTimeout(500); // late errors (a failed subscribe, a 404) would show by now
    expect(consoleErrors).toEqual([]);
  });

  it('shows a stock adjustment made through REST on the badge, live', async () => {
    const before = await shownStock('espresso-beans');
    const level = await adjust('espresso-beans', -3);
    expect(level.stock).toBe(before - 3);
    await badgeShows('espresso-beans', level.stock);

    // Into low stock: the badge says so, and so does the low-stock figure.
    const lowBefore = await figure('low-stock');
    const kettle = await shownStock('kettle');
    const low = await adjust('kettle', -(kettle - 2));
    await badgeShows('kettle', low.stock);
    expect(await page.getAttribute('.product[data-id="kettle"] .badge', 'data-availability')).toBe('low_stock');
    await figureIs('low-stock', lowBefore + 1);
  });

  it('shows an order placed through REST in the figures, and in the feed with live status once watched', async () => {
    const orders = await figure('orders-today');
    const revenue = await figure('revenue-today');
    const order = await rest('POST', '/api/orders', { lines: [{ productId: 'filter-beans', quantity: 2 }] });
    expect(order.total).toBe(2 * 1390);
    await figureIs('orders-today', orders + 1);
    await figureIs('revenue-today', revenue + (order.total as number));
    await badgeShows('filter-beans', (await rest('GET', '/api/products/filter-beans/stock')).stock);

    // The contract has no channel of all orders: the feed learns this one's id when it is watched.
    await page.fill('#watch input', order.id);
    await page.click('#watch button');
    const row = `.order[data-id="${order.id}"]`;
    await page.waitForSelector(`${row}[data-status="placed"]`, { timeout: SHOWS_WITHIN_MS });
    expect(await page.textContent(`${row} .summary`)).toContain('2 × Filter beans');

    await rest('PATCH', `/api/orders/${order.id}`, { status: 'paid' });
    await page.waitForSelector(`${row}[data-status="paid"]`, { timeout: SHOWS_WITHIN_MS });
  });

  it('places a demo order from the page (through REST): it shows in the feed and the figures, and its status moves', async () => {
    const orders = await figure('orders-today');
    const stock = await shownStock('milk-jug');
    await page.click('.product[data-id="milk-jug"] [data-action="order"]');
    const row = page.locator('.order', { hasText: 'Milk jug' }).first();
    await row.waitFor({ timeout: SHOWS_WITHIN_MS });
    expect(await row.getAttribute('data-status')).toBe('placed');
    await figureIs('orders-today', orders + 1);
    await badgeShows('milk-jug', stock - 1);

    await row.locator('[data-action="advance"]').click(); // → paid
    await page.waitForFunction(
      (id) => document.querySelector(`.order[data-id="${id}"]`)?.getAttribute('data-status') === 'paid',
      await row.getAttribute('data-id'),
      {
        timeout: SHOWS_WITHIN_MS,
      },
    );

    // Adjusting stock from the page.
    const jug = await shownStock('milk-jug');
    await page.click('.product[data-id="milk-jug"] [data-action="stock"][data-delta="10"]');
    await badgeShows('milk-jug', jug + 10);
    expect(consoleErrors).toEqual([]);
  });

  it('says "reconnecting" while the WebSocket front is down, and recovers with what changed meanwhile', async () => {
    const errorsBefore = consoleErrors.length;
    const grinder = await shownStock('grinder');

    await stack.stopWebSocketFront();
    await stateIs('reconnecting', SHOWS_WITHIN_MS);
    expect(await page.textContent('#connection')).toContain('reconnecting');

    const during = await adjust('grinder', -2); // nobody can tell the page now
    await page.waitForTimeout(1500);
    expect(await shownStock('grinder')).toBe(grinder);
    expect(await page.getAttribute('#connection', 'data-state')).toBe('reconnecting');

    await stack.startWebSocketFront();
    await stateIs('connected', 20_000);
    await badgeShows('grinder', during.stock); // from the snapshot of the resubscribe
    const after = await adjust('grinder', 5);
    await badgeShows('grinder', after.stock); // live again

    // The only errors meanwhile: Chromium reporting the WebSocket it could not open.
    expect(consoleErrors.slice(errorsBefore).filter((e) => !WS_CONNECT_FAILURE.test(e))).toEqual([]);
    consoleErrors.length = errorsBefore;
  });

  it('clears the error banner and the bad input when switching tenant, and shows no late error of the tenant it left', async () => {
    const notice = async () => ({ hidden: await page.isHidden('#notice'), text: await page.textContent('#notice') });
    const switchTo = async (tenant: string, products: number) => {
      await page.selectOption('#tenant', tenant);
      await page.waitForFunction(
        ([t, n]) => document.title.startsWith(`${t} `) && document.querySelectorAll('.product .badge[data-stock]').length === n,
        [tenant, products] as const,
        { timeout: 10_000 },
      );
      await stateIs('connected', 10_000);
    };
    const globex = DEMO_TENANTS.find((t) => t.tenantId === 'globex')!;

    await page.fill('#watch input', 'not an id!');
    await page.click('#watch button');
    await page.waitForSelector('#notice[data-kind="error"]:not([hidden])');
    await switchTo('globex', globex.products.length);
    expect(await notice()).toEqual({ hidden: true, text: '' });
    expect(await page.inputValue('#watch input')).toBe('');

    // An answer for the tenant left behind arrives after the switch: it says nothing about this one.
    await page.route('**/api/orders/no-such-order', async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await route.continue();
    });
    const lookedUp = page.waitForResponse('**/api/orders/no-such-order');
    await page.fill('#watch input', 'no-such-order');
    await page.click('#watch button');
    await switchTo('acme', Math.min(ACME.products.length, 30));
    expect((await lookedUp).status()).toBe(404);
    await page.waitForTimeout(200);
    expect(await notice()).toEqual({ hidden: true, text: '' });
    expect(await page.inputValue('#watch input')).toBe('');
    await page.unroute('**/api/orders/no-such-order');
  });

  it('saves a screenshot under test/artifacts/', async () => {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.mouse.move(1, 1); // no hover highlight
    await page.waitForTimeout(1000); // the highlight animations end
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, 'dashboard.png');
    await page.screenshot({ path: file });
    expect(fs.statSync(file).size).toBeGreaterThan(10_000);
  });
});

describe('the page in production mode (no dev tokens)', () => {
  it('asks for a token, refuses one without a tenant, and goes live with a valid one', async () => {
    const errors: string[] = [];
    const prod = await browser.newPage();
    collectErrors(prod, errors);
    try {
      // As the BucketDeployment writes it: no devTokensUrl.
      await prod.route('**/assets/config.json', (route) => route.fulfill({ json: { apiBaseUrl: '', wsUrl: stack.wsUrl } }));
      await prod.goto(`${stack.restUrl}/assets/index.html`);
      await prod.waitForSelector('#token', { state: 'visible' });
      expect(await prod.isHidden('#tenant-field')).toBe(true);

      await prod.fill('#token', 'not-a-token');
      await prod.click('#connect');
      await prod.waitForSelector('#notice:not([hidden])');
      expect(await prod.textContent('#notice')).toContain('no tenantId claim');

      await prod.fill('#token', stack.tokens.globex!);
      await prod.click('#connect');
      await prod.waitForSelector('#connection[data-state="connected"]', { timeout: 10_000 });
      const globex = DEMO_TENANTS.find((t) => t.tenantId === 'globex')!;
      await prod.waitForFunction((n) => document.querySelectorAll('.product .badge[data-stock]').length === n, globex.products.length, {
        timeout: 10_000,
      });
      expect(await prod.inputValue('#token')).toBe(''); // not left in the form
      expect(errors).toEqual([]);
    } finally {
      await prod.close();
    }
  });
});
