/**
 * The live dashboard: products with live stock badges, an order feed with live status, today's
 * figures and the connection state, over the client SDK (client/src); writes go through REST.
 * No framework: the DOM of index.html, <template>s, textContent only (no HTML from data).
 *
 * The order feed: the WebSocket contract has `order:<id>` channels only (no channel of all a
 * tenant's orders, no list-orders route), so the feed holds the orders this page placed and the
 * ones watched by id, each on its own channel. Today's figures (the `dashboard` channel) count
 * every order of the tenant.
 */
import './style.css';
import {
  connect,
  type ConnectionState,
  type DashboardMetrics,
  type Order,
  type OrderStatus,
  type Product,
  type ShopEdgeClient,
} from '../../client/src';
import type { PageConfig } from '../config';
import { Api, ApiError, devTokens, expired, tenantOf, type StockLevel } from './api';

/** The server's limit per connection (functions/realtime/connection-store.ts). */
const MAX_SUBSCRIPTIONS = 50;
const GRID_SIZE = 30;
const FEED_ROWS = 40;
const ID = /^[A-Za-z0-9_-]{1,64}$/;

const NEXT: Partial<Record<OrderStatus, OrderStatus>> = { placed: 'paid', paid: 'packed', packed: 'shipped', shipped: 'delivered' };
const CANCELLABLE: ReadonlySet<OrderStatus> = new Set(['placed', 'paid', 'packed']);
const STATE_TEXT: Record<ConnectionState | 'idle', string> = {
  idle: 'not connected',
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'reconnecting',
  offline: 'offline',
};

/** The element of that id, checked to be of that type: index.html and this file must agree. */
function byId(id: string): HTMLElement;
function byId<T extends HTMLElement>(id: string, type: new () => T): T;
function byId(id: string, type: new () => HTMLElement = HTMLElement): HTMLElement {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`#${id} missing from index.html (or not a ${type.name})`);
  return element;
}
/** The first element under root that matches, checked to be of that type. */
function part(root: ParentNode, selector: string): HTMLElement;
function part<T extends HTMLElement>(root: ParentNode, selector: string, type: new () => T): T;
function part(root: ParentNode, selector: string, type: new () => HTMLElement = HTMLElement): HTMLElement {
  const element = root.querySelector(selector);
  if (!(element instanceof type)) throw new Error(`${selector} missing from its template (or not a ${type.name})`);
  return element;
}
const clone = (templateId: string): HTMLElement => {
  const element = byId(templateId, HTMLTemplateElement).content.firstElementChild?.cloneNode(true);
  if (!(element instanceof HTMLElement)) throw new Error(`template #${templateId} is empty`);
  return element;
};

interface ProductView {
  product: Product;
  readonly card: HTMLElement;
  stockVersion: number;
  stop?: () => void;
}

interface OrderView {
  readonly id: string;
  readonly row: HTMLElement;
  version: number;
  status?: OrderStatus;
  stop?: () => void;
}

interface Session {
  readonly tenant: string;
  readonly api: Api;
  readonly client: ShopEdgeClient;
  readonly products: Map<string, ProductView>;
  /** Oldest first. */
  readonly orders: Map<string, OrderView>;
  currency: string;
  metrics?: DashboardMetrics;
  ended: boolean;
}

let session: Session | undefined;
let connectionState: ConnectionState | 'idle' = 'idle';

// ---------------------------------------------------------------------------------------------
// Formatting and small DOM helpers

function money(minor: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(minor / 100);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

function flash(element: HTMLElement): void {
  element.classList.remove('flash');
  element.getBoundingClientRect(); // a reflow between the two restarts the animation
  element.classList.add('flash');
}

let noticeTimer: ReturnType<typeof setTimeout> | undefined;
function notice(text: string, kind: 'info' | 'error' = 'info'): void {
  const element = byId('notice');
  element.textContent = text;
  element.dataset.kind = kind;
  element.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (element.hidden = true), 6000);
}

/** Puts away the banner, whatever it said. */
function clearNotice(): void {
  clearTimeout(noticeTimer);
  const element = byId('notice');
  element.hidden = true;
  element.textContent = '';
  delete element.dataset.kind;
}

/** An error of a session: shown only while that session is the page's (not after a switch of tenant). */
function sessionError(s: Session, text: string): void {
  if (!s.ended) notice(text, 'error');
}

function describe(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === 'CONFLICT') return `Refused: ${error.message}`;
    if (error.status === 401) return 'The token was refused (expired?)';
    return `${error.code}: ${error.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}

async function busy(s: Session, button: HTMLButtonElement, work: () => Promise<void>): Promise<void> {
  button.disabled = true;
  try {
    await work();
  } catch (error) {
    sessionError(s, describe(error));
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Connection state

function renderState(): void {
  // The client keeps retrying while the browser is offline; say why.
  const state = connectionState === 'reconnecting' && !navigator.onLine ? 'offline' : connectionState;
  const element = byId('connection');
  element.dataset.state = state;
  byId('connection-text').textContent = STATE_TEXT[state];
  document.body.dataset.live = state;
}

// ---------------------------------------------------------------------------------------------
// Figures

function renderFigures(s: Session): void {
  const m = s.metrics;
  const set = (id: string, value: number | undefined, text: string) => {
    const element = byId(id);
    const shown = value === undefined ? '–' : text;
    if (element.textContent === shown) return;
    if (value === undefined) delete element.dataset.value;
    else element.dataset.value = String(value);
    element.textContent = shown;
    flash(element);
  };
  set('orders-today', m?.ordersToday, String(m?.ordersToday));
  set('revenue-today', m?.revenueToday, money(m?.revenueToday ?? 0, s.currency));
  set('low-stock', m?.lowStockCount, String(m?.lowStockCount));
}

// ---------------------------------------------------------------------------------------------
// Products

function renderProduct(view: ProductView, currency: string): void {
  const { card, product } = view;
  card.dataset.id = product.id;
  part(card, '.name').textContent = product.name;
  part(card, '.price').textContent = money(product.price, product.currency || currency);
  part(card, '.category').textContent = product.category;
}

function applyStock(s: Session, productId: string, level: Pick<StockLevel, 'stock' | 'availability' | 'version'>): void {
  const view = s.products.get(productId);
  if (!view || level.version <= view.stockVersion) return; // an older value than the one shown
  view.stockVersion = level.version;
  const badge = part(view.card, '.badge');
  badge.dataset.availability = level.availability;
  badge.dataset.stock = String(level.stock);
  badge.textContent =
    level.availability === 'out_of_stock'
      ? 'out of stock'
      : level.availability === 'low_stock'
        ? `${level.stock} left · low`
        : `${level.stock} in stock`;
  flash(badge);
}

function applyProduct(s: Session, product: Product): void {
  const view = s.products.get(product.id);
  if (!view || product.version <= view.product.version) return;
  view.product = product;
  renderProduct(view, s.currency);
  flash(view.card);
}

function removeProduct(s: Session, productId: string): void {
  const view = s.products.get(productId);
  if (!view) return;
  view.stop?.();
  view.card.remove();
  s.products.delete(productId);
}

function watchProduct(s: Session, view: ProductView): void {
  const id = view.product.id;
  view.stop = s.client.subscribe(`product:${id}`, (message) => {
    switch (message.type) {
      case 'subscribed':
        applyProduct(s, message.snapshot.product);
        applyStock(s, id, message.snapshot);
        break;
      case 'stock:update':
        applyStock(s, id, message);
        break;
      case 'product:updated':
        if (message.product) applyProduct(s, message.product);
        else removeProduct(s, id);
        break;
      case 'refetch':
        s.api.productWithStock(id).then(
          (p) => {
            applyProduct(s, p);
            applyStock(s, id, { stock: p.stock, availability: p.availability, version: p.stockVersion });
          },
          (error: unknown) => sessionError(s, describe(error)),
        );
        break;
    }
  });
}

async function loadProducts(s: Session): Promise<void> {
  const products = await s.api.products(GRID_SIZE);
  if (s.ended) return;
  s.currency = products[0]?.currency ?? s.currency;
  const grid = byId('grid');
  for (const product of products) {
    const view: ProductView = { product, card: clone('product-card'), stockVersion: 0 };
    renderProduct(view, s.currency);
    s.products.set(product.id, view);
    grid.append(view.card);
    watchProduct(s, view);
  }
  byId('products-count').textContent = String(products.length);
  renderFigures(s);
  keepWithinBudget(s);
}

// ---------------------------------------------------------------------------------------------
// Orders

function applyOrder(s: Session, view: OrderView, status: OrderStatus, version: number, order?: Order): void {
  if (version <= view.version) return;
  view.version = version;
  view.status = status;
  const { row } = view;
  row.dataset.status = status;
  const badge = part(row, '.status');
  badge.dataset.status = status;
  badge.textContent = status;
  if (order) {
    const units = order.lines.reduce((sum, line) => sum + line.quantity, 0);
    const first = s.products.get(order.lines[0]?.productId ?? '')?.product.name ?? order.lines[0]?.productId ?? '';
    part(row, '.summary').textContent = order.lines.length === 1 ? `${units} × ${first}` : `${order.lines.length} lines, ${units} units`;
    part(row, '.total').textContent = money(order.total, order.currency);
  }
  const advance = part(row, '[data-action="advance"]', HTMLButtonElement);
  const next = NEXT[status];
  advance.hidden = next === undefined || row.dataset.live === 'false';
  advance.textContent = next ? `→ ${next}` : '';
  part(row, '[data-action="cancel"]', HTMLButtonElement).hidden = !CANCELLABLE.has(status) || row.dataset.live === 'false';
  flash(badge);
}

function trackOrder(s: Session, id: string, order?: Order): OrderView {
  let view = s.orders.get(id);
  if (!view) {
    const row = clone('order-row');
    row.dataset.id = id;
    const code = part(row, '.id');
    code.textContent = id;
    code.title = id;
    view = { id, row, version: 0 };
    s.orders.set(id, view);
    byId('feed').prepend(row);
    const tracked = view;
    view.stop = s.client.subscribe(`order:${id}`, (message) => {
      switch (message.type) {
        case 'subscribed':
          applyOrder(s, tracked, message.snapshot.status, message.snapshot.version, message.snapshot.order);
          return;
        case 'order:update':
          applyOrder(s, tracked, message.status, message.version);
          return;
        case 'refetch':
          s.api.order(id).then(
            (o) => applyOrder(s, tracked, o.status, o.version, o),
            () => undefined,
          );
      }
    });
    keepWithinBudget(s);
  }
  if (order) applyOrder(s, view, order.status, order.version, order);
  return view;
}

/** One connection carries at most 50 subscriptions: the oldest orders stop being live first. */
function keepWithinBudget(s: Session): void {
  let live = 1 + s.products.size + [...s.orders.values()].filter((o) => o.stop).length;
  for (const view of s.orders.values()) {
    if (live <= MAX_SUBSCRIPTIONS) break;
    if (!view.stop) continue;
    view.stop();
    view.stop = undefined;
    view.row.dataset.live = 'false';
    part(view.row, '.status').title = 'no longer live (one connection carries at most 50 channels)';
    view.row.querySelectorAll<HTMLButtonElement>('button').forEach((button) => (button.hidden = true));
    live--;
  }
  const rows = [...s.orders.values()];
  for (const view of rows.slice(0, Math.max(0, rows.length - FEED_ROWS))) {
    view.stop?.();
    view.row.remove();
    s.orders.delete(view.id);
  }
}

// ---------------------------------------------------------------------------------------------
// Sessions: one tenant, one token, one client

function end(s: Session | undefined): void {
  // What the user saw or typed for the previous tenant (an error, an order id) is not this one's.
  clearNotice();
  byId('watch', HTMLFormElement).reset();
  if (!s) return;
  s.ended = true;
  s.client.close();
  byId('grid').replaceChildren();
  byId('feed').replaceChildren();
  byId('products-count').textContent = '';
  for (const id of ['orders-today', 'revenue-today', 'low-stock']) {
    const element = byId(id);
    element.textContent = '–';
    delete element.dataset.value;
  }
}

function start(config: PageConfig, tenant: string, token: string, refreshToken?: () => Promise<string | undefined>): void {
  end(session);
  let current = token;
  const client = connect(
    config.wsUrl,
    async ({ reason }) => {
      if (refreshToken && (reason === 'refused' || expired(current))) current = (await refreshToken()) ?? current;
      // An expired token would only be refused: go offline and ask for a new one.
      return expired(current) ? null : current;
    },
    { backoffCapMs: 10_000 },
  );
  const s: Session = { tenant, api: new Api(config, token), client, products: new Map(), orders: new Map(), currency: 'EUR', ended: false };
  session = s;
  byId('dashboard').hidden = false;
  document.title = `${tenant} · shop-edge live`;

  client.on('state', (state, info) => {
    if (s.ended) return;
    connectionState = state;
    renderState();
    if (state === 'offline' && info.reason === 'unauthorized')
      sessionError(s, 'The token was refused or has expired: connect with a new one.');
  });
  client.on('error', (error) => sessionError(s, `${error.code}: ${error.message}`));
  client.subscribe('dashboard', (message) => {
    if (message.type === 'refetch') return;
    s.metrics = message.type === 'subscribed' ? message.snapshot.metrics : message.metrics;
    renderFigures(s);
  });
  loadProducts(s).catch((error: unknown) => sessionError(s, `Products: ${describe(error)}`));
}

// ---------------------------------------------------------------------------------------------
// Wiring

function wire(): void {
  byId('grid').addEventListener('click', (event) => {
    const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-action]');
    const id = button?.closest<HTMLElement>('.product')?.dataset.id;
    const s = session;
    if (!button || !id || !s) return;
    if (button.dataset.action === 'stock') {
      void busy(s, button, async () => applyStock(s, id, await s.api.adjustStock(id, Number(button.dataset.delta))));
    } else if (button.dataset.action === 'order') {
      void busy(s, button, async () => {
        const order = await s.api.placeOrder([{ productId: id, quantity: 1 }]);
        if (!s.ended) flash(trackOrder(s, order.id, order).row);
      });
    }
  });

  byId('feed').addEventListener('click', (event) => {
    const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-action]');
    const id = button?.closest<HTMLElement>('.order')?.dataset.id;
    const s = session;
    const view = id ? s?.orders.get(id) : undefined;
    if (!button || !s || !view?.status) return;
    const status = button.dataset.action === 'cancel' ? 'cancelled' : NEXT[view.status];
    if (!status) return;
    void busy(s, button, async () => {
      const order = await s.api.setStatus(view.id, status);
      applyOrder(s, view, order.status, order.version, order);
    });
  });

  byId('watch', HTMLFormElement).addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const input = form.elements.namedItem('orderId') as HTMLInputElement;
    const id = input.value.trim();
    const s = session;
    if (!s) return;
    if (!ID.test(id)) {
      notice('An order id is 1 to 64 letters, digits, _ or -.', 'error');
      return;
    }
    const known = s.orders.get(id);
    if (known) {
      flash(known.row);
      return;
    }
    void busy(s, part(form, 'button', HTMLButtonElement), async () => {
      try {
        const order = await s.api.order(id);
        if (s.ended) return; // the tenant changed meanwhile: so did the form
        trackOrder(s, id, order);
        input.value = '';
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) throw new Error(`No order ${id} in tenant ${s.tenant}.`);
        throw error;
      }
    });
  });

  window.addEventListener('online', renderState);
  window.addEventListener('offline', renderState);
}

async function main(): Promise<void> {
  wire();
  const config = (await (await fetch('/assets/config.json', { cache: 'no-cache' })).json()) as PageConfig;
  const tokens = await devTokens(config);
  const login = byId('login', HTMLFormElement);

  if (tokens) {
    // Local stack: pick a demo tenant; tokens come from /dev/tokens (never in production).
    const select = byId('tenant', HTMLSelectElement);
    for (const tenant of Object.keys(tokens)) select.append(new Option(tenant, tenant));
    const wanted = decodeURIComponent(location.hash.slice(1));
    select.value = wanted in tokens ? wanted : (Object.keys(tokens)[0] ?? '');
    byId('tenant-field').hidden = false;
    const refresh = async () => (await devTokens(config))?.[select.value];
    const choose = () => {
      const token = tokens[select.value];
      if (!token) return;
      history.replaceState(null, '', `#${encodeURIComponent(select.value)}`);
      start(config, select.value, token, refresh);
    };
    select.addEventListener('change', choose);
    login.addEventListener('submit', (event) => event.preventDefault());
    choose();
    return;
  }

  // Production: the user supplies a token (kept in memory only).
  const input = byId('token', HTMLInputElement);
  byId('token-field').hidden = false;
  byId('connect').hidden = false;
  login.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    const tenant = tenantOf(token);
    if (!tenant) {
      notice('That is not a shop-edge token (no tenantId claim).', 'error');
      return;
    }
    if (expired(token)) {
      notice('That token has expired.', 'error');
      return;
    }
    input.value = '';
    start(config, tenant, token);
  });
}

main().catch((error: unknown) => notice(`The page could not start: ${describe(error)}`, 'error'));
