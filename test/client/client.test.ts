/**
 * The client SDK against a real WebSocket server on a free port (test/client/fake-server.ts),
 * through the `ws` package's WebSocket. Intervals are milliseconds here; every assertion waits
 * for a condition rather than for a fixed time.
 */
import { WebSocket } from 'ws';
import {
  connect,
  limitedDelay,
  type ClientOptions,
  type LimitedInfo,
  type ConnectionState,
  type ProductSnapshot,
  type ServerMessage,
  type ShopEdgeClient,
  type StateInfo,
} from '../../client/src';
import { FakeServer, sleep, waitFor } from './fake-server';

const FAST: ClientOptions = {
  WebSocket,
  backoffBaseMs: 10,
  backoffCapMs: 100,
  stableAfterMs: 50,
  connectTimeoutMs: 2_000,
  handoverLingerMs: 50,
  unsubscribeDelayMs: 20,
};

/** The live stock of the fake shop: snapshots read it, updates write it and push. */
class Stock {
  private readonly levels = new Map<string, { stock: number; version: number }>();
  constructor(private readonly server: FakeServer) {}

  snapshot(channel: string): ProductSnapshot | null {
    const productId = channel.slice('product:'.length);
    const level = this.levels.get(productId);
    if (!level) return null;
    const product = {
      id: productId,
      tenantId: 't1',
      name: productId,
      description: '',
      price: 100,
      currency: 'EUR',
      category: 'c',
      listed: true,
      version: 1,
      updatedAt: new Date(0).toISOString(),
    };
    return {
      productId,
      stock: level.stock,
      availability: level.stock > 0 ? 'in_stock' : 'out_of_stock',
      version: level.version,
      lastUpdated: new Date().toISOString(),
      product,
    };
  }

  /** Commits a change and pushes it (to nobody when the client is not connected). */
  set(productId: string, stock: number, version: number): number {
    this.levels.set(productId, { stock, version });
    return this.server.push(`product:${productId}`, stockUpdate(productId, stock, version));
  }
}

const stockUpdate = (productId: string, stock: number, version: number) => ({
  type: 'stock:update',
  productId,
  stock,
  availability: stock > 0 ? 'in_stock' : 'out_of_stock',
  version,
  timestamp: new Date().toISOString(),
});

/** The versions of stock messages (snapshot versions included) a callback received. */
function stockVersions(messages: ServerMessage[]): number[] {
  return messages.flatMap((m) =>
    m.type === 'stock:update' ? [m.version] : m.type === 'subscribed' && 'stock' in m.snapshot ? [m.snapshot.version] : [],
  );
}

function recordStates(client: ShopEdgeClient): Array<[ConnectionState, StateInfo]> {
  const states: Array<[ConnectionState, StateInfo]> = [];
  client.on('state', (state, info) => states.push([state, info]));
  return states;
}

let server: FakeServer;
let stock: Stock;
const clients: ShopEdgeClient[] = [];

function open(options: ClientOptions = {}, token: Parameters<typeof connect>[1] = 'good-token'): ShopEdgeClient {
  const client = connect(server.url, token, { ...FAST, ...options });
  clients.push(client);
  return client;
}

beforeEach(async () => {
  server = await FakeServer.start();
  stock = new Stock(server);
  server.snapshot = (channel) => stock.snapshot(channel);
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await server.stop();
});

describe('connection', () => {
  test('connects with the token as the token query parameter and reports connected', async () => {
    // Prepare
    const client = open();
    const states = recordStates(client);

    // Act
    await waitFor('connected', () => client.state === 'connected');

    // Assess
    expect(server.connections).toHaveLength(1);
    expect(server.connections[0]?.token).toBe('good-token');
    expect(states.map(([s]) => s)).toEqual(['connected']);
  });

  test('misuse throws at once: a malformed URL, an interval that is not a positive number', () => {
    expect(() => connect('not a url', 't', { WebSocket })).toThrow(/Invalid URL/);
    expect(() => connect(server.url, 't', { WebSocket, pingIntervalMs: -1 })).toThrow(
      'option pingIntervalMs must be a positive number of milliseconds, not -1',
    );
    expect(() => connect(server.url, 't', { WebSocket, backoffCapMs: Number.NaN })).toThrow(/backoffCapMs/);
    expect(() => connect(server.url, 't', { WebSocket, ...({ pingMs: 5 } as ClientOptions) })).toThrow('unknown option pingMs');
  });

  test('close() closes the socket, goes offline for good and never reconnects', async () => {
    // Prepare
    const client = open();
    const states = recordStates(client);
    await waitFor('connected', () => client.state === 'connected');

    // Act
    client.close();

    // Assess
    await waitFor('server saw the close', () => server.connections[0]?.closedAt !== undefined);
    expect(server.connections[0]?.closeCode).toBe(1000);
    expect(client.state).toBe('offline');
    expect(states.at(-1)).toEqual(['offline', { reason: 'closed' }]);
    await sleep(300); // many backoff periods (10 to 100 ms)
    expect(server.connections).toHaveLength(1);
  });

  test('close() while the server is unreachable stops the retries', async () => {
    // Prepare
    server.refuse = { status: 503 };
    const client = open();
    await waitFor('a few refused attempts', () => server.refusals.length >= 3);

    // Act
    client.close();
    const attempts = server.refusals.length;
    await sleep(300);

    // Assess
    expect(server.refusals.length).toBeLessThanOrEqual(attempts + 1); // one may be in flight
    expect(client.state).toBe('offline');
  });
});

describe('subscriptions', () => {
  test('two callbacks on one channel send one subscribe; the last unsubscribe sends unsubscribe', async () => {
    // Prepare
    stock.set('p1', 5, 1);
    const client = open();
    await waitFor('connected', () => client.state === 'connected');
    const first: ServerMessage[] = [];
    const second: ServerMessage[] = [];

    // Act
    const stopFirst = client.subscribe('product:p1', (m) => first.push(m));
    const stopSecond = client.subscribe('product:p1', (m) => second.push(m));
    await waitFor('snapshot delivered', () => first.length === 1 && second.length === 1);
    stopFirst();
    stock.set('p1', 4, 2);
    await waitFor('update to the second callback', () => second.length === 2);
    stopSecond();
    stopSecond(); // twice is harmless

    // Assess
    await waitFor('unsubscribe received', () => server.sent('unsubscribe').length === 1);
    expect(server.sent('subscribe', 'product:p1')).toHaveLength(1);
    expect(server.sent('unsubscribe', 'product:p1')).toHaveLength(1);
    expect(first).toHaveLength(1);
    expect(stockVersions(second)).toEqual([1, 2]);
  });

  test('a callback leaving and another joining at once keep the subscription (a component remounting)', async () => {
    // Prepare
    stock.set('p1', 5, 1);
    const client = open({ unsubscribeDelayMs: 200 });
    const first: ServerMessage[] = [];
    const stopFirst = client.subscribe('product:p1', (m) => first.push(m));
    await waitFor('snapshot', () => first.length === 1);

    // Act: unmount and mount again in one go, as React's StrictMode does.
    stopFirst();
    const again: ServerMessage[] = [];
    const stopAgain = client.subscribe('product:p1', (m) => again.push(m));

    // Assess
    await waitFor('current state replayed', () => again.length === 1);
    await sleep(300); // past the delay: no unsubscribe went out
    expect(server.sent('unsubscribe')).toEqual([]);
    expect(server.sent('subscribe')).toHaveLength(1);
    stopAgain();
    await waitFor('unsubscribe after the delay', () => server.sent('unsubscribe').length === 1);
    client.subscribe('product:p1', () => undefined);
    await waitFor('a new subscribe', () => server.sent('subscribe').length === 2);
  });

  test('subscribing before the connection is open sends the subscribe once it is', async () => {
    // Prepare
    stock.set('p1', 5, 1);
    const client = open();
    const received: ServerMessage[] = [];

    // Act
    client.subscribe('product:p1', (m) => received.push(m));

    // Assess
    await waitFor('snapshot', () => received.length === 1);
    expect(server.sent('subscribe')).toEqual([{ action: 'subscribe', channel: 'product:p1', seq: 1 }]);
  });

  test('the subscribed snapshot is delivered as a message and its version recorded', async () => {
    // Prepare
    stock.set('p1', 7, 3);
    const client = open();
    const received: ServerMessage[] = [];

    // Act
    client.subscribe('product:p1', (m) => received.push(m));
    await waitFor('snapshot', () => received.length === 1);
    server.push('product:p1', stockUpdate('p1', 8, 3)); // not newer than the snapshot
    server.push('product:p1', stockUpdate('p1', 6, 4));
    await waitFor('update', () => received.length >= 2);

    // Assess
    expect(received[0]).toMatchObject({ type: 'subscribed', channel: 'product:p1', snapshot: { productId: 'p1', stock: 7, version: 3 } });
    expect(received.slice(1)).toEqual([expect.objectContaining({ type: 'stock:update', stock: 6, version: 4 })]);
  });

  test('a callback joining a subscribed channel starts from the current state', async () => {
    // Prepare
    stock.set('p1', 5, 1);
    const client = open();
    const first: ServerMessage[] = [];
    client.subscribe('product:p1', (m) => first.push(m));
    await waitFor('snapshot', () => first.length === 1);
    stock.set('p1', 4, 2);
    await waitFor('update', () => first.length === 2);

    // Act
    const late: ServerMessage[] = [];
    client.subscribe('product:p1', (m) => late.push(m));

    // Assess
    await waitFor('replayed', () => late.length === 2);
    expect(stockVersions(late)).toEqual([1, 2]);
    expect(server.sent('subscribe')).toHaveLength(1);
  });

  test('out-of-order and duplicate versions are dropped, per entity', async () => {
    // Prepare
    stock.set('p1', 10, 1);
    const client = open();
    const received: ServerMessage[] = [];
    client.subscribe('product:p1', (m) => received.push(m));
    await waitFor('snapshot', () => received.length === 1);

    // Act
    for (const version of [3, 2, 3, 1, 5, 4, 5]) server.push('product:p1', stockUpdate('p1', 10 - version, version));
    // The product is another entity with its own counter (the snapshot's product.version is 1).
    server.push('product:p1', { type: 'product:updated', productId: 'p1', product: null, version: 2, timestamp: new Date().toISOString() });
    server.push('product:p1', { type: 'product:updated', productId: 'p1', product: null, version: 1, timestamp: new Date().toISOString() });
    server.push('product:p1', stockUpdate('p1', 4, 6));
    await waitFor('last update', () => received.some((m) => m.type === 'stock:update' && m.version === 6));

    // Assess
    expect(
      received.map(
        (m) => `${m.type}:${'version' in m ? m.version : m.type === 'subscribed' ? (m.snapshot as ProductSnapshot).version : ''}`,
      ),
    ).toEqual(['subscribed:1', 'stock:update:3', 'stock:update:5', 'product:updated:2', 'stock:update:6']);
  });

  test('dashboard figures, which have no version, are ordered by timestamp', async () => {
    // Prepare
    server.snapshot = () => ({ tenantId: 't1', metrics: { ordersToday: 0, revenueToday: 0, lowStockCount: 0 } });
    const client = open();
    const received: ServerMessage[] = [];
    client.subscribe('dashboard', (m) => received.push(m));
    await waitFor('snapshot', () => received.length === 1);
    const metric = (ordersToday: number, at: number) => ({
      type: 'dashboard:metric',
      tenantId: 't1',
      metrics: { ordersToday, revenueToday: 0, lowStockCount: 0 },
      timestamp: new Date(at).toISOString(),
    });

    // Act
    server.push('dashboard', metric(2, 2_000));
    server.push('dashboard', metric(1, 1_000));
    server.push('dashboard', metric(2, 2_000));
    server.push('dashboard', metric(3, 3_000));
    await waitFor('newest figures', () => received.length >= 3);
    await sleep(20);

    // Assess
    expect(received.map((m) => (m.type === 'dashboard:metric' ? m.metrics.ordersToday : m.type))).toEqual(['subscribed', 2, 3]);
  });

  test('messages of channels without subscribers are ignored; refetch notices are delivered', async () => {
    // Prepare
    stock.set('p1', 5, 1);
    const client = open();
    const received: ServerMessage[] = [];
    client.subscribe('product:p1', (m) => received.push(m));
    await waitFor('snapshot', () => received.length === 1);
    const connection = server.live[0];
    if (!connection) throw new Error('no connection');

    // Act
    server.send(connection, stockUpdate('p2', 1, 9));
    server.send(connection, { type: 'refetch', channel: 'product:p1', reason: 'too-large' });

    // Assess
    await waitFor('refetch', () => received.length === 2);
    expect(received[1]).toEqual({ type: 'refetch', channel: 'product:p1', reason: 'too-large' });
  });

  test('server error messages reach on("error") listeners', async () => {
    // Prepare
    const client = open();
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    await waitFor('connected', () => client.state === 'connected');
    const connection = server.live[0];
    if (!connection) throw new Error('no connection');

    // Act
    server.send(connection, { type: 'error', code: 'FORBIDDEN', message: 'not allowed to subscribe to order:o1' });

    // Assess
    await waitFor('error delivered', () => errors.length === 1);
    expect(errors[0]).toEqual({ type: 'error', code: 'FORBIDDEN', message: 'not allowed to subscribe to order:o1' });
    expect(client.state).toBe('connected');
  });
});

describe('reconnection', () => {
  test('a dropped connection is reopened with backoff, resubscribed, and ends with the latest state', async () => {
    // Prepare
    stock.set('p1', 10, 1);
    server.snapshot = (channel) => stock.snapshot(channel);
    const client = open();
    const states = recordStates(client);
    const received: ServerMessage[] = [];
    client.subscribe('product:p1', (m) => received.push(m));
    client.subscribe('order:o1', () => undefined);
    await waitFor('snapshot', () => received.length === 1);

    // Act: the server goes away, the stock changes meanwhile, then it accepts again.
    server.refuse = { status: 503 };
    server.dropAll();
    await waitFor('three refused attempts', () => server.refusals.length >= 3);
    expect(stock.set('p1', 7, 2)).toBe(0); // nobody is connected to hear it
    stock.set('p1', 6, 3);
    server.refuse = undefined;

    // Assess
    await waitFor('back with the latest state', () => stockVersions(received).includes(3));
    expect(received.at(-1)).toMatchObject({ type: 'subscribed', snapshot: { stock: 6, version: 3 } });
    expect(server.live).toHaveLength(1);
    expect(server.live[0]?.received).toEqual(
      expect.arrayContaining([
        { action: 'subscribe', channel: 'product:p1', seq: expect.any(Number) },
        { action: 'subscribe', channel: 'order:o1', seq: expect.any(Number) },
      ]),
    );
    expect(states.map(([s]) => s)).toEqual(['connected', 'reconnecting', 'connected']);
    expect(states[1]?.[1].cause).toEqual(expect.any(String));
    stock.set('p1', 5, 4);
    await waitFor('live updates again', () => stockVersions(received).includes(4));
  });

  test('keeps trying without giving up, then recovers', async () => {
    // Prepare
    const client = open({ backoffCapMs: 20 });
    await waitFor('connected', () => client.state === 'connected');

    // Act
    server.refuse = { status: 502 };
    server.dropAll();
    await waitFor('twenty refused attempts', () => server.refusals.length >= 20);
    server.refuse = undefined;

    // Assess
    await waitFor('connected again', () => client.state === 'connected' && server.live.length === 1);
  });

  test('a snapshot with nothing newer than what the subscribers have is not delivered again', async () => {
    // Prepare
    stock.set('p1', 10, 4);
    const client = open();
    const received: ServerMessage[] = [];
    client.subscribe('product:p1', (m) => received.push(m));
    await waitFor('snapshot', () => received.length === 1);

    // Act
    server.dropAll();
    await waitFor('resubscribed', () => server.sent('subscribe').length === 2 && server.live.length === 1);
    stock.set('p1', 9, 5);

    // Assess
    await waitFor('next update', () => received.length === 2);
    expect(stockVersions(received)).toEqual([4, 5]);
  });

  test('a server UNAUTHORIZED error (connection unknown to it) makes the client reconnect', async () => {
    // Prepare
    const client = open();
    await waitFor('connected', () => client.state === 'connected');
    const first = server.live[0];
    if (!first) throw new Error('no connection');

    // Act
    server.send(first, { type: 'error', code: 'UNAUTHORIZED', message: 'connection unknown or expired; reconnect' });

    // Assess
    await waitFor('a second connection', () => server.live.length === 1 && server.live[0] !== first && client.state === 'connected');
    expect(first.closedAt).toBeDefined();
  });
});

describe('keeping the connection alive', () => {
  test('pings on the interval', async () => {
    // Prepare, Act
    const client = open({ pingIntervalMs: 30 });
    await waitFor('connected', () => client.state === 'connected');

    // Assess
    await waitFor('three pings', () => server.sent('ping').length >= 3);
    expect(server.connections).toHaveLength(1);
  });

  test('a connection that answers nothing to a ping is taken for dead and replaced', async () => {
    // Prepare
    const client = open({ pingIntervalMs: 30, pongTimeoutMs: 60 });
    const states = recordStates(client);
    await waitFor('connected', () => client.state === 'connected');

    // Act
    server.answerPings = false;

    // Assess
    await waitFor('a second connection', () => server.connections.length >= 2);
    server.answerPings = true;
    await waitFor('connected', () => client.state === 'connected');
    expect(states.map(([s]) => s).slice(0, 2)).toEqual(['connected', 'reconnecting']);
    expect(states[1]?.[1].cause).toBe('no reply to ping');
  });

  test('replaces the connection before its maximum age without losing or repeating a message', async () => {
    // Prepare
    stock.set('p1', 1_000, 1);
    const client = open({ maxConnectionAgeMs: 150 });
    const states = recordStates(client);
    const received: ServerMessage[] = [];
    client.subscribe('product:p1', (m) => received.push(m));
    await waitFor('snapshot', () => received.length === 1);

    // Act: a change every 2 ms, pushed to every connection subscribed at that moment.
    let version = 1;
    const writer = setInterval(() => {
      version += 1;
      stock.set('p1', 1_000 - version, version);
    }, 2);
    try {
      await waitFor('three handovers', () => server.connections.length >= 4);
    } finally {
      clearInterval(writer);
    }
    const last = version;

    // Assess
    await waitFor('the last update', () => stockVersions(received).includes(last));
    const versions = stockVersions(received);
    expect(versions).toEqual(Array.from({ length: last }, (_, i) => i + 1)); // every version once, in order
    expect(states.filter(([s]) => s !== 'connected')).toEqual([]);
    // Each old connection was closed by the client, and only after its replacement was subscribed.
    const [a, b] = server.connections;
    expect(a?.closeCode).toBe(1000);
    expect(b?.received[0]).toEqual({ action: 'subscribe', channel: 'product:p1', seq: expect.any(Number) });
    await waitFor('old connections closed', () => server.live.length === 1);
  });
});

describe('handover before the maximum connection age', () => {
  test('the old connection stays until every subscription of the new one is answered', async () => {
    // Prepare
    stock.set('p1', 100, 1);
    server.holdSubscribes = (connection) => connection.id === 2;
    const client = open({ maxConnectionAgeMs: 100, handoverTimeoutMs: 10_000 });
    const states = recordStates(client);
    const received: ServerMessage[] = [];
    client.subscribe('product:p1', (m) => received.push(m));
    client.subscribe('dashboard', () => undefined);
    await waitFor('snapshot', () => received.length === 1);

    // Act
    await waitFor('the replacement subscribing', () => server.heldSubscribes === 2);
    stock.set('p1', 99, 2); // only the old connection is registered

    // Assess
    await waitFor('update through the old connection', () => stockVersions(received).includes(2));
    await sleep(300); // several times the linger (50 ms) a replaced connection would get
    const [old, replacement] = server.connections;
    expect(old?.closedAt).toBeUndefined();
    server.releaseSubscribes();
    await waitFor('the old connection closed', () => old?.closedAt !== undefined);
    expect(replacement?.closedAt).toBeUndefined();
    expect(old?.closeCode).toBe(1000);
    stock.set('p1', 98, 3);
    await waitFor('update through the new connection', () => stockVersions(received).includes(3));
    expect(stockVersions(received)).toEqual([1, 2, 3]);
    expect(states).toEqual([['connected', {}]]);
  });

  test('a replacement not answered in time is abandoned and retried while the old connection carries on', async () => {
    // Prepare
    server.holdSubscribes = (connection) => connection.id === 2;
    const client = open({ maxConnectionAgeMs: 100, handoverTimeoutMs: 100 });
    const states = recordStates(client);
    client.subscribe('order:o1', () => undefined);
    await waitFor('connected', () => client.state === 'connected');

    // Act
    await waitFor('a third connection, subscribed', () => server.connections[2]?.subscriptions.has('order:o1') === true);

    // Assess
    const [first, second, third] = server.connections;
    await waitFor('the first closed after the third took over', () => first?.closedAt !== undefined);
    expect(second?.closedAt).toBeDefined(); // abandoned by the client
    expect(third?.closedAt).toBeUndefined();
    expect(states).toEqual([['connected', {}]]);
  });

  test('the old connection lost during a handover: the replacement takes over at once', async () => {
    // Prepare
    stock.set('p1', 100, 1);
    server.holdSubscribes = (connection) => connection.id === 2;
    const client = open({ maxConnectionAgeMs: 100, handoverTimeoutMs: 10_000 });
    const states = recordStates(client);
    const received: ServerMessage[] = [];
    client.subscribe('product:p1', (m) => received.push(m));
    await waitFor('the replacement subscribing', () => server.heldSubscribes === 1);

    // Act
    server.connections[0]?.ws.terminate();
    await waitFor('the old one gone', () => server.connections[0]?.closedAt !== undefined);
    stock.set('p1', 99, 2); // registered nowhere: the snapshot brings it
    server.releaseSubscribes();

    // Assess
    await waitFor('up to date', () => stockVersions(received).includes(2));
    expect(server.connections).toHaveLength(2);
    expect(states.map(([s]) => s)).not.toContain('reconnecting');
  });

  test('a static token refused on the handover leaves the working connection in place', async () => {
    // Prepare
    const client = open({ maxConnectionAgeMs: 50 });
    await waitFor('connected', () => client.state === 'connected');

    // Act
    server.refuse = { status: 401 };
    await waitFor('the handover refused', () => server.refusals.length === 1);
    await sleep(200);

    // Assess
    expect(server.refusals).toHaveLength(1); // no more handovers with a token that is refused
    expect(client.state).toBe('connected');
    expect(server.live).toHaveLength(1);
    server.dropAll();
    await waitFor('offline once the connection ends', () => client.state === 'offline');
  });
});

describe('backoff', () => {
  test('a stable connection resets the backoff', async () => {
    // Prepare: many failed attempts drawn at 0 ms, so the next ceiling is the cap (10 s).
    let draw = 0;
    server.refuse = { status: 503 };
    const client = open({ backoffBaseMs: 5, backoffCapMs: 10_000, stableAfterMs: 50, random: () => draw });
    await waitFor('twelve refused attempts', () => server.refusals.length >= 12);
    server.refuse = undefined;
    await waitFor('connected', () => client.state === 'connected');
    await sleep(150); // stable for longer than stableAfterMs
    draw = 0.999; // from now on each wait is (almost) its ceiling

    // Act
    server.dropAll();

    // Assess: the ceiling is back to 5 ms; without the reset the wait would be 10 s.
    await waitFor('dropped', () => client.state === 'reconnecting');
    await waitFor('reconnected', () => server.connections.length === 2 && client.state === 'connected', 3_000);
  });
});

describe('refused tokens', () => {
  test('a refused static token: offline with reason unauthorized, no retry', async () => {
    // Prepare
    server.refuse = { status: 401 };

    // Act
    const client = open();
    const states = recordStates(client);

    // Assess
    await waitFor('offline', () => client.state === 'offline');
    expect(states).toEqual([['offline', { reason: 'unauthorized' }]]);
    await sleep(200);
    expect(server.refusals).toHaveLength(1);
  });

  test('a token provider is asked again after a refusal and its fresh token is used', async () => {
    // Prepare
    server.refuse = { status: 401, when: (token) => token === 'expired' };
    const requests: unknown[] = [];
    const tokens = ['expired', 'fresh'];

    // Act
    const client = open({}, (request) => {
      requests.push(request);
      return tokens.shift() ?? 'fresh';
    });

    // Assess
    await waitFor('connected', () => client.state === 'connected');
    expect(requests).toEqual([{ reason: 'connect' }, { reason: 'refused', status: 401 }]);
    expect(server.live[0]?.token).toBe('fresh');
  });

  test('a token provider asked again on reconnect; returning null gives up', async () => {
    // Prepare
    const requests: Array<{ reason: string }> = [];
    const client = open({}, (request) => {
      requests.push(request);
      return Promise.resolve(request.reason === 'connect' ? 'good-token' : null);
    });
    await waitFor('connected', () => client.state === 'connected');

    // Act
    server.dropAll();

    // Assess
    await waitFor('offline', () => client.state === 'offline');
    expect(requests.map((r) => r.reason)).toEqual(['connect', 'reconnect']);
    expect(server.connections).toHaveLength(1);
  });

  test('a failing token provider is retried with backoff', async () => {
    // Prepare
    let calls = 0;

    // Act
    const client = open({}, () => {
      calls += 1;
      if (calls < 3) throw new Error('identity provider unreachable');
      return 'good-token';
    });

    // Assess
    await waitFor('connected', () => client.state === 'connected');
    expect(calls).toBe(3);
  });
});

/** A JWT-shaped token expiring at `exp` (seconds); the fake server does not verify it. */
function jwt(exp: number, id: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub: id, exp })}.signature`;
}

describe('the order of subscribe and unsubscribe', () => {
  test('every subscribe and unsubscribe carries a seq that grows, across connections', async () => {
    // Prepare
    stock.set('p1', 5, 1);
    const client = open();
    const stop = client.subscribe('product:p1', () => undefined);
    await waitFor('subscribed', () => server.live[0]?.subscriptions.has('product:p1') === true);

    // Act
    stop();
    await waitFor('unsubscribe', () => server.sent('unsubscribe').length === 1);
    client.subscribe('product:p1', () => undefined);
    await waitFor('subscribe again', () => server.sent('subscribe').length === 2);
    server.dropAll();
    await waitFor('resubscribed', () => server.sent('subscribe').length === 3);

    // Assess
    const numbered = server.connections.flatMap((c) => c.received).filter((m) => m.action !== 'ping');
    const seqs = numbered.map((m) => m.seq);
    expect(seqs.every((seq) => typeof seq === 'number')).toBe(true);
    expect(seqs).toEqual([...seqs].sort((a, b) => Number(a) - Number(b)));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  test('a replacement whose subscribe is answered unsubscribed (overtaken) still takes over', async () => {
    // Prepare
    server.overtakeSubscribes = (connection) => connection.id === 2;
    const client = open({ maxConnectionAgeMs: 100, handoverTimeoutMs: 10_000 });
    const states = recordStates(client);
    client.subscribe('order:o1', () => undefined);
    await waitFor('connected', () => client.state === 'connected');

    // Act, Assess: every subscribe of the replacement was answered, so the old one is retired.
    await waitFor('the first closed', () => server.connections[0]?.closedAt !== undefined, 5_000);
    expect(server.connections[1]?.closedAt).toBeUndefined();
    expect(states).toEqual([['connected', {}]]);
  });
});

describe('the end of a session', () => {
  test('the server ending the session (UNAUTHORIZED, then a close): a fresh token is asked for, reason expired', async () => {
    // Prepare
    stock.set('p1', 5, 1);
    const requests: string[] = [];
    let issued = 0;
    const client = open({}, (request) => {
      requests.push(request.reason);
      return `token-${++issued}`;
    });
    const received: ServerMessage[] = [];
    client.subscribe('product:p1', (m) => received.push(m));
    await waitFor('snapshot', () => received.length === 1);
    const first = server.live[0];
    if (!first) throw new Error('no connection');

    // Act
    server.endSession(first);
    stock.set('p1', 4, 2);

    // Assess
    await waitFor('back with the latest state', () => stockVersions(received).includes(2));
    expect(requests).toEqual(['connect', 'expired']);
    expect(server.live.map((c) => c.token)).toEqual(['token-2']);
  });

  test('with a token provider, the connection is replaced with a fresh token before the token expires', async () => {
    // Prepare: tokens valid for 3 to 4 seconds (exp counts whole seconds), replaced 2 seconds before their exp.
    const requests: string[] = [];
    let issued = 0;
    const provider = (request: { reason: string }) => {
      requests.push(request.reason);
      return jwt(Math.floor(Date.now() / 1000) + 4, `user-${++issued}`);
    };
    const client = open({ tokenRefreshLeadMs: 2_000 }, provider);
    const states = recordStates(client);
    client.subscribe('order:o1', () => undefined);
    await waitFor('connected', () => client.state === 'connected');
    const firstToken = server.connections[0]?.token ?? '';
    const firstExp = JSON.parse(Buffer.from(firstToken.split('.')[1] ?? '', 'base64url').toString()).exp as number;

    // Act
    await waitFor('a replacement', () => server.connections.length >= 2, 5_000);

    // Assess
    expect(Date.now()).toBeLessThan(firstExp * 1000);
    expect(requests.slice(0, 2)).toEqual(['connect', 'handover']);
    expect(server.connections[1]?.token).not.toBe(firstToken);
    await waitFor('the old one closed', () => server.connections[0]?.closedAt !== undefined);
    expect(server.connections[0]?.closeCode).toBe(1000);
    expect(states).toEqual([['connected', {}]]);
  });

  test('a provider that returns the same token again: one handover at most, no loop', async () => {
    // Prepare
    const token = jwt(Math.floor(Date.now() / 1000) + 3, 'same');
    const client = open({ tokenRefreshLeadMs: 2_000 }, () => token);
    await waitFor('connected', () => client.state === 'connected');

    // Act: past the token's exp (the fake server does not end the session).
    await sleep(3_200);

    // Assess
    expect(server.connections.length).toBeLessThanOrEqual(2);
    expect(client.state).toBe('connected');
  });
});

describe('too many connections', () => {
  test('a handshake refused with 429 backs off exponentially with jitter, from its own base to the cap, and tells the app', async () => {
    // Prepare: draws of 0 take the shortest wait, half the ceiling (full jitter would retry at once).
    server.refuse = { status: 429 };
    const client = open({ backoffBaseMs: 5, limitedBackoffBaseMs: 20, backoffCapMs: 80, random: () => 0 });
    const limited: LimitedInfo[] = [];
    client.on('limited', (info) => limited.push(info));

    // Act
    await waitFor('five refusals', () => limited.length >= 5, 5_000);
    server.refuse = undefined;
    await waitFor('connected once a slot is free', () => client.state === 'connected', 5_000);

    // Assess: ceilings 20, 40, 80, then the cap; each refusal answered by exactly one wait, then one attempt.
    expect(limited.slice(0, 5)).toEqual(
      [10, 20, 40, 40, 40].map((retryInMs, i) => ({
        status: 429,
        reason: 'too-many-connections',
        refusals: i + 1,
        retryInMs,
        handover: false,
      })),
    );
    expect(server.refusals).toHaveLength(limited.length);
    expect(server.connections).toHaveLength(1);
  });

  test('the wait is drawn within [ceiling / 2, ceiling), never at once, and starts over once a connection opened', async () => {
    server.refuse = { status: 429 };
    const client = open({ limitedBackoffBaseMs: 20, backoffCapMs: 80, random: () => 0.999 });
    const limited: LimitedInfo[] = [];
    client.on('limited', (info) => limited.push(info));
    await waitFor('two refusals', () => limited.length >= 2, 5_000);
    server.refuse = undefined;
    await waitFor('connected', () => client.state === 'connected', 5_000);
    const before = limited.length;

    server.refuse = { status: 429 };
    server.dropAll();
    await waitFor('refused again', () => limited.length > before, 5_000);

    expect(limited.map((l) => l.retryInMs).slice(0, 2)).toEqual([19, 39]);
    expect(limited[before]).toMatchObject({ refusals: 1, retryInMs: 19 });
    for (const info of limited) expect(info.retryInMs).toBeGreaterThanOrEqual(10);
  });

  test('limitedDelay: equal jitter between half the ceiling and the ceiling, doubling to the cap', () => {
    const options = { baseMs: 1_000, capMs: 30_000 };
    expect([0, 1, 2, 3, 4, 5, 6].map((attempt) => limitedDelay(attempt, options, () => 0))).toEqual([
      500, 1_000, 2_000, 4_000, 8_000, 15_000, 15_000,
    ]);
    expect(limitedDelay(10, options, () => 0.999_999)).toBe(29_999);
  });
});
