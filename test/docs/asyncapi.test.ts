/**
 * The AsyncAPI document of the WebSocket API: valid for @asyncapi/parser with no diagnostic of
 * any severity (and the parser does find broken documents), asyncapi.json up to date, generated
 * from the SDK's schemas and the route table, and true to the running server: every message the
 * local stack sends fits exactly one documented message, with no field the document leaves out.
 */
import * as fs from 'node:fs';
import { Parser } from '@asyncapi/parser';
import * as protocol from '../../client/src/messages';
import { MAX_CONNECTIONS_PER_TENANT, MAX_CONNECTIONS_PER_USER } from '../../functions/realtime/realtime-service';
import { WEBSOCKET_ROUTES } from '../../functions/routes';
import { mintDevToken } from '../../local/tokens';
import type { LocalStack } from '../../local/stack';
import { asyncApiDocument } from '../../asyncapi/document';
import { ASYNCAPI_FILE, renderAsyncApi } from '../../asyncapi/write';
import { openSocket, rest, startSourceStack, subscribe, tenantId, token, type Received } from '../realtime/realtime-fixtures';
import { messageValidator, type Json } from './message-validator';

const doc = asyncApiDocument() as Json & {
  channels: { connection: { messages: Record<string, { $ref: string }> } };
  operations: Record<string, { action: string; messages: { $ref: string }[]; reply?: { messages: { $ref: string }[] } }>;
  components: {
    messages: Record<string, { name: string; payload: Json; examples?: { payload: unknown }[] }>;
    schemas: Record<string, Json>;
  };
};
const parser = new Parser();
const validator = messageValidator(doc);

async function diagnosticsOf(document: unknown): Promise<string[]> {
  const { diagnostics } = await parser.parse(JSON.stringify(document));
  return diagnostics.map((d) => `${String(d.severity)} ${String(d.code)}: ${d.message} @ ${d.path.join('/')}`);
}

const messageName = (ref: { $ref: string }) => ref.$ref.split('/').pop() ?? '';

/** Messages the server sends: in a receive operation or in a reply. */
const serverMessageNames = [
  ...new Set(
    Object.values(doc.operations).flatMap((op) => [
      ...(op.action === 'receive' ? op.messages.map(messageName) : []),
      ...(op.reply?.messages ?? []).map(messageName),
    ]),
  ),
];
const clientMessageNames = [
  ...new Set(
    Object.values(doc.operations)
      .filter((op) => op.action === 'send')
      .flatMap((op) => op.messages.map(messageName)),
  ),
];

/** The documented server messages a value fits. */
function fits(value: unknown): string[] {
  return serverMessageNames.filter((name) => validator.problems(name, value).length === 0);
}

describe('the AsyncAPI document', () => {
  it('parses with no error, warning, information or hint', async () => {
    expect(doc.asyncapi).toMatch(/^3\./);
    expect(await diagnosticsOf(doc)).toEqual([]);
  });

  it('is what asyncapi.json holds (npm run asyncapi writes it)', () => {
    expect(fs.readFileSync(ASYNCAPI_FILE, 'utf8')).toBe(renderAsyncApi());
  });

  it('sends one message per action route of the route table, and receives every server message of the SDK', () => {
    const actions = WEBSOCKET_ROUTES.filter((r) => !r.routeKey.startsWith('$')).map((r) => r.routeKey);
    const sent = clientMessageNames.map((name) => doc.components.messages[name]!.payload.properties as Record<string, Json>);
    expect(sent.map((p) => p.action!.const).sort()).toEqual([...actions].sort());
    const documentedTypes = new Set(
      serverMessageNames.map((name) => (doc.components.messages[name]!.payload.properties as Record<string, Json>).type!.const),
    );
    expect([...documentedTypes].sort()).toEqual(
      protocol.serverMessageSchema.oneOf
        .map((s) => s.properties.type.const)
        .filter((t, i, all) => all.indexOf(t) === i)
        .sort(),
    );
    expect(Object.keys(doc.channels.connection.messages).sort()).toEqual([...clientMessageNames, ...serverMessageNames].sort());
  });

  it("carries the SDK's schemas: every message payload is the SDK's, with shared parts as $refs", () => {
    const productSnapshot = doc.components.schemas.ProductSnapshot!;
    expect(productSnapshot.required).toEqual(protocol.productSnapshotSchema.required);
    expect((productSnapshot.properties as Record<string, Json>).product).toEqual({ $ref: '#/components/schemas/Product' });
    const error = doc.components.messages.error!.payload;
    expect(Object.keys(error.properties as Json)).toEqual(Object.keys(protocol.errorMessageSchema.properties));
    expect(JSON.stringify(doc)).not.toContain('x-prefix');
  });

  it('has examples that fit their message, and only that one', () => {
    for (const [name, message] of Object.entries(doc.components.messages)) {
      expect([name, (message.examples ?? []).length > 0]).toEqual([name, true]);
      for (const { payload } of message.examples ?? []) {
        expect([name, validator.problems(name, payload)]).toEqual([name, []]);
        if (serverMessageNames.includes(name)) expect([name, fits(payload)]).toEqual([name, [name]]);
      }
    }
  });

  it('fails to generate when a route has no operation, or an operation no route', () => {
    const extra = { ...WEBSOCKET_ROUTES[0]!, name: 'WsDance', routeKey: 'dance' };
    expect(() => asyncApiDocument({ routes: [...WEBSOCKET_ROUTES, extra] })).toThrow(/routes without an operation .*: dance/);
    expect(() => asyncApiDocument({ routes: WEBSOCKET_ROUTES.filter((r) => r.routeKey !== 'ping') })).toThrow(
      /not in the route table: ping/,
    );
  });
});

describe('the parser bites', () => {
  const broken = (mutate: (d: Json & typeof doc) => void) => {
    const copy = structuredClone(doc);
    mutate(copy);
    return diagnosticsOf(copy);
  };

  it.each([
    ['an unknown version', (d: Json) => (d.asyncapi = '3.9.0'), /asyncapi-is-asyncapi: Version "3\.9\.0" is not supported/],
    ['no info.title', (d: Json) => delete (d.info as Json).title, /"info" property must have required property "title"/],
    [
      'an invalid type in a payload',
      (d: typeof doc) => ((d.components.schemas.Product!.properties as Record<string, Json>).price!.type = 'int'),
      /"type" property must be equal to one of the allowed values.* @ components\/schemas\/Product\/properties\/price\/type/,
    ],
    [
      'required that is not a list',
      (d: typeof doc) => (d.components.schemas.Product!.required = 'id'),
      /"required" property type must be array @ components\/schemas\/Product\/required/,
    ],
    [
      'a dangling $ref',
      (d: typeof doc) => (d.channels.connection.messages.pong = { $ref: '#/components/messages/nope' }),
      /invalid-ref: '#\/components\/messages\/nope' does not exist/,
    ],
    [
      'an operation message that is not in its channel',
      (d: typeof doc) => (d.operations.ping!.messages = [{ $ref: '#/components/messages/ping' }]),
      /asyncapi3-operation-messages-from-referred-channel: .* @ operations\/ping\/messages\/0/,
    ],
    [
      'an operation on a channel outside the root channels',
      (d: typeof doc) => ((d.operations.ping as Json).channel = { $ref: '#/components/channels/connection' }),
      /asyncapi3-required-operation-channel-unambiguity/,
    ],
    [
      'an unknown operation action',
      (d: typeof doc) => (d.operations.ping!.action = 'publish'),
      /"action" property must be equal to one of the allowed values: "send", "receive"/,
    ],
    [
      'a misspelt server field',
      (d: Json) => (((d.servers as Json).local as Json).protocols = 'ws'),
      /Property "protocols" is not expected to be here/,
    ],
  ])('finds %s', async (_what, mutate, expected) => {
    const problems = await broken(mutate);
    expect(problems.filter((p) => p.startsWith('0 ')).join('\n')).toMatch(expected);
  });
});

describe('the document and what the server sends', () => {
  let stack: LocalStack;
  const sockets: Received[] = [];

  beforeAll(async () => {
    stack = await startSourceStack();
  }, 60_000);
  afterAll(async () => {
    for (const socket of sockets) await socket.close();
    await stack.stop();
  });

  const open = async (bearer: string) => {
    const socket = await openSocket(stack, bearer);
    sockets.push(socket);
    return socket;
  };
  const reply = async (socket: Received, message: unknown, match: (m: Record<string, any>) => boolean) => {
    const from = socket.messages.length;
    socket.send(message);
    return socket.next(match, 5000, from);
  };

  it('sends only documented messages, each fitting exactly one, with no undocumented field', async () => {
    // Prepare: a product with stock and an order, then one socket on all three kinds of channel.
    const tenant = tenantId('aa');
    const bearer = await token(tenant);
    expect((await rest(stack, 'POST', '/api/products', bearer, { id: 'lamp', name: 'Lamp', price: 1500, category: 'home' })).status).toBe(
      201,
    );
    await rest(stack, 'POST', '/api/products/lamp/stock-adjustments', bearer, { delta: 10, reason: 'delivery' });
    const order = await rest(stack, 'POST', '/api/orders', bearer, { lines: [{ productId: 'lamp', quantity: 1 }] });
    const orderId = String(order.body.data.id);
    const socket = await open(bearer);
    for (const channel of ['product:lamp', `order:${orderId}`, 'dashboard'])
      expect((await subscribe(socket, channel)).type).toBe('subscribed');

    // Act: every kind of change, every action, and refused ones.
    await rest(stack, 'POST', '/api/products/lamp/stock-adjustments', bearer, { delta: -2, reason: 'sale' });
    await socket.next((m) => m.type === 'stock:update' && m.stock === 7);
    await rest(stack, 'PUT', '/api/products/lamp', bearer, { price: 1600 });
    await socket.next((m) => m.type === 'product:updated' && m.product?.price === 1600);
    await rest(stack, 'PATCH', `/api/orders/${orderId}`, bearer, { status: 'paid' });
    await socket.next((m) => m.type === 'order:update' && m.status === 'paid');
    await rest(stack, 'POST', '/api/orders', bearer, { lines: [{ productId: 'lamp', quantity: 1 }] });
    await socket.next((m) => m.type === 'dashboard:metric' && m.metrics.ordersToday === 2);
    await rest(stack, 'DELETE', '/api/products/lamp', bearer);
    await socket.next((m) => m.type === 'product:updated' && m.product === null);
    await reply(socket, { action: 'ping' }, (m) => m.type === 'pong');
    await reply(socket, { action: 'unsubscribe', channel: 'product:lamp' }, (m) => m.type === 'unsubscribed');
    const malformed = await reply(socket, { action: 'subscribe', channel: 'lamp' }, (m) => m.type === 'error');
    await reply(socket, { action: 'dance' }, (m) => m.type === 'error');
    const limited = await open(await token(tenant, ['products:read']));
    const forbidden = await reply(limited, { action: 'subscribe', channel: 'dashboard' }, (m) => m.type === 'error');

    // Assess
    expect([malformed.channel, forbidden.channel, forbidden.code]).toEqual(['lamp', 'dashboard', 'FORBIDDEN']);
    const received = sockets.flatMap((s) => s.messages);
    for (const message of received) {
      const fitting = fits(message);
      if (fitting.length !== 1) {
        const nearest = serverMessageNames.map((name) => `${name}: ${validator.problems(name, message).join('; ')}`);
        throw new Error(`${JSON.stringify(message)} fits ${fitting.length} documented messages:\n${nearest.join('\n')}`);
      }
    }
    const seen = new Set(received.map((m) => fits(m)[0]));
    // refetch needs an update over 128 KB, which no entity of the shop can reach.
    expect(serverMessageNames.filter((name) => !seen.has(name))).toEqual(['refetch']);
  }, 60_000);

  it("documents the session's end as the server ends it: error UNAUTHORIZED, then a normal close", async () => {
    const tenant = tenantId('se');
    const short = await mintDevToken({ tenantId: tenant, expiresInSeconds: 3 }); // more than 2 s of life: exp counts whole seconds
    const socket = await open(short);
    const exp = JSON.parse(Buffer.from(short.split('.')[1] ?? '', 'base64url').toString()).exp as number;
    await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 50));
    const closed = new Promise<number>((resolve) => socket.socket.once('close', (code) => resolve(code)));

    const ended = await reply(socket, { action: 'ping' }, (m) => m.type === 'error');

    expect(fits(ended)).toEqual(['error']);
    expect(ended.code).toBe('UNAUTHORIZED');
    expect(await closed).toBe(1000);
    const description = (doc.info as Json).description as string;
    expect(description).toContain('UNAUTHORIZED and the server closes the connection');
    expect(description).toContain('closes it with 1000');
    expect(description).toContain(`${MAX_CONNECTIONS_PER_USER} connections per user (then 429`);
    expect(description).toContain(`${MAX_CONNECTIONS_PER_TENANT.toLocaleString('en-US')} per tenant (then 429`);
  });

  it('the check finds a message with a field the document does not describe', () => {
    const pong = { type: 'pong' };
    expect(fits(pong)).toEqual(['pong']);
    expect(fits({ ...pong, extra: 1 })).toEqual([]);
    expect(fits({ type: 'error', code: 'FORBIDDEN', message: 'no', channel: 'dashboard', tenant: 't' })).toEqual([]);
    expect(
      fits({ type: 'stock:update', productId: 'p', stock: -1, availability: 'in_stock', version: 1, timestamp: '2026-01-01T00:00:00Z' }),
    ).toEqual([]);
  });
});
