/** The pieces without a socket: message typing helpers, version tracking, backoff. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { backoffDelay } from '../../client/src/backoff';
import { channelOf, parseServerMessage, type ServerMessage } from '../../client/src/messages';
import { ChannelVersions } from '../../client/src/versions';

const at = (s: number) => new Date(s * 1000).toISOString();
const stock = (version: number): ServerMessage => ({
  type: 'stock:update',
  productId: 'p1',
  stock: 1,
  availability: 'in_stock',
  version,
  timestamp: at(version),
});
const product = (version: number): ServerMessage => ({
  type: 'product:updated',
  productId: 'p1',
  product: null,
  version,
  timestamp: at(version),
});
const productSnapshot = (stockVersion: number, productVersion: number): ServerMessage => ({
  type: 'subscribed',
  channel: 'product:p1',
  snapshot: {
    productId: 'p1',
    stock: 1,
    availability: 'in_stock',
    version: stockVersion,
    lastUpdated: at(0),
    product: {
      id: 'p1',
      tenantId: 't',
      name: 'n',
      description: '',
      price: 1,
      currency: 'EUR',
      category: 'c',
      listed: true,
      version: productVersion,
      updatedAt: at(0),
    },
  },
});

describe('messages', () => {
  test('channelOf maps every server message to its channel', () => {
    expect(channelOf(stock(1))).toBe('product:p1');
    expect(channelOf(product(1))).toBe('product:p1');
    expect(channelOf({ type: 'order:update', orderId: 'o1', status: 'paid', version: 2, timestamp: at(1) })).toBe('order:o1');
    expect(
      channelOf({
        type: 'dashboard:metric',
        tenantId: 't',
        metrics: { day: '2026-01-01', ordersToday: 1, revenueToday: 1, cancelledToday: 0, lowStockCount: 0 },
        timestamp: at(1),
      }),
    ).toBe('dashboard');
    expect(
      channelOf({
        type: 'subscribed',
        channel: 'dashboard',
        snapshot: {
          tenantId: 't',
          metrics: { day: '2026-01-01', ordersToday: 0, revenueToday: 0, cancelledToday: 0, lowStockCount: 0 },
          timestamp: at(1),
        },
      }),
    ).toBe('dashboard');
    expect(channelOf({ type: 'unsubscribed', channel: 'dashboard' })).toBe('dashboard');
    expect(channelOf({ type: 'refetch', channel: 'product:p1', reason: 'too-large' })).toBe('product:p1');
    expect(channelOf({ type: 'pong' })).toBeUndefined();
    expect(channelOf({ type: 'error', code: 'FORBIDDEN', message: 'no' })).toBeUndefined();
  });

  test('parseServerMessage accepts known types only', () => {
    expect(parseServerMessage('{"type":"pong"}')).toEqual({ type: 'pong' });
    expect(parseServerMessage('{"type":"surprise"}')).toBeUndefined();
    expect(parseServerMessage('not json')).toBeUndefined();
    expect(parseServerMessage('null')).toBeUndefined();
    expect(parseServerMessage(new Uint8Array([1]))).toBeUndefined();
  });

  test('messages.ts imports nothing, so the server can import its types', () => {
    const source = readFileSync(join(__dirname, '../../client/src/messages.ts'), 'utf8');
    expect(source).not.toMatch(/^\s*import\b/m);
    expect(source).not.toMatch(/\brequire\(/);
  });
});

describe('ChannelVersions', () => {
  test('drops updates whose version is not newer, per entity of a product channel', () => {
    // Prepare
    const versions = new ChannelVersions('product:p1');

    // Act
    const accepted = [productSnapshot(3, 7), stock(3), stock(4), stock(2), product(7), product(8), stock(4), product(1)].map((m) =>
      versions.accept(m),
    );

    // Assess
    expect(accepted).toEqual([true, false, true, false, false, true, false, false]);
  });

  test('a later snapshot is delivered only when something in it is newer, and never lowers a version', () => {
    // Prepare
    const versions = new ChannelVersions('product:p1');
    versions.accept(productSnapshot(3, 7));
    versions.accept(stock(5));

    // Act, Assess
    expect(versions.accept(productSnapshot(5, 7))).toBe(false); // nothing new
    expect(versions.accept(productSnapshot(4, 8))).toBe(true); // the product moved on
    expect(versions.accept(stock(5))).toBe(false); // stock 4 in that snapshot did not lower 5
    expect(versions.accept(stock(6))).toBe(true);
  });

  test('replay gives the snapshot and the newer updates since, for a callback that joins later', () => {
    // Prepare
    const versions = new ChannelVersions('product:p1');
    versions.accept(productSnapshot(3, 7));
    versions.accept(stock(4));
    versions.accept(stock(5));
    versions.accept(product(8));

    // Act
    const replay = versions.replay();

    // Assess
    expect(replay).toEqual([productSnapshot(3, 7), stock(5), product(8)]);
    versions.accept(productSnapshot(5, 8)); // a resubscribe's snapshot, covering both updates... not newer: dropped
    expect(versions.replay()).toEqual([productSnapshot(3, 7), stock(5), product(8)]);
    versions.accept(productSnapshot(6, 8));
    expect(versions.replay()).toEqual([productSnapshot(6, 8)]);
  });

  test('order channels track the order version; dashboards order by timestamp', () => {
    const order = new ChannelVersions('order:o1');
    const orderUpdate = (version: number): ServerMessage => ({
      type: 'order:update',
      orderId: 'o1',
      status: 'paid',
      version,
      timestamp: at(version),
    });
    expect([orderUpdate(2), orderUpdate(2), orderUpdate(1), orderUpdate(3)].map((m) => order.accept(m))).toEqual([
      true,
      false,
      false,
      true,
    ]);

    const dashboard = new ChannelVersions('dashboard');
    const figures = (s: number): ServerMessage => ({
      type: 'dashboard:metric',
      tenantId: 't',
      metrics: { day: '2026-01-01', ordersToday: s, revenueToday: 0, cancelledToday: 0, lowStockCount: 0 },
      timestamp: at(s),
    });
    expect([figures(2), figures(1), figures(2), figures(3)].map((m) => dashboard.accept(m))).toEqual([true, false, false, true]);
    const snapshot: ServerMessage = {
      type: 'subscribed',
      channel: 'dashboard',
      snapshot: {
        tenantId: 't',
        metrics: { day: '2026-01-01', ordersToday: 3, revenueToday: 0, cancelledToday: 0, lowStockCount: 0 },
        timestamp: at(1),
      },
    };
    expect(dashboard.accept(snapshot)).toBe(true);
    expect(dashboard.accept(snapshot)).toBe(true); // no version: a dashboard snapshot is always the current figures
  });

  test('messages without a usable version are delivered (nothing to compare)', () => {
    const versions = new ChannelVersions('product:p1');
    const broken = { ...stock(1), version: 'x' } as unknown as ServerMessage;
    expect(versions.accept(broken)).toBe(true);
    expect(versions.accept(broken)).toBe(true);
    expect(versions.accept({ type: 'refetch', channel: 'product:p1', reason: 'too-large' })).toBe(true);
  });
});

describe('backoffDelay', () => {
  const options = { baseMs: 250, capMs: 30_000 };

  test('the ceiling doubles per attempt up to the cap', () => {
    const almostOne = () => 0.999_999; // floor(0.999999 * ceiling) + 1 is the ceiling
    expect([0, 1, 2, 3, 6, 7, 8, 100, 10_000].map((attempt) => backoffDelay(attempt, options, almostOne) + 1)).toEqual([
      250, 500, 1_000, 2_000, 16_000, 30_000, 30_000, 30_000, 30_000,
    ]);
  });

  test('full jitter: anywhere from 0 to the ceiling', () => {
    expect(backoffDelay(5, options, () => 0)).toBe(0);
    expect(backoffDelay(5, options, () => 0.5)).toBe(4_000);
    const draws = Array.from({ length: 1_000 }, () => backoffDelay(3, options));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(2_000);
  });
});
