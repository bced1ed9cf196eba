/**
 * The AsyncAPI 3 document of the WebSocket API, generated from the SDK's message schemas
 * (client/src/messages.ts: the SDK's types are inferred from the same schemas), the WebSocket
 * routes of the route table (functions/routes.ts) and the server's limits.
 *
 * Every client message needs a route and an operation here, and every message of the SDK's
 * ServerMessage union a place in MESSAGES; a message or route without one makes generation fail,
 * so the document cannot silently lag behind the SDK.
 *
 * Written to asyncapi.json by `npm run asyncapi`; checked by test/docs/asyncapi.test.ts with
 * @asyncapi/parser.
 */
import * as protocol from '../client/src/messages';
import type { Schema } from '../client/src/messages';
import { MAX_SUBSCRIPTIONS_PER_CONNECTION } from '../functions/realtime/connection-store';
import { MAX_CONNECTIONS_PER_TENANT, MAX_CONNECTIONS_PER_USER, MESSAGES_PER_MINUTE } from '../functions/realtime/realtime-service';
import { WEBSOCKET_ROUTES, type WebSocketRoute } from '../functions/routes';

/** 3.1.0 is the latest AsyncAPI 3 (the parser notes any older version). */
export const ASYNCAPI_VERSION = '3.1.0';
export const DEFAULT_SERVER_HOST = '127.0.0.1:3001';

type Json = Record<string, unknown>;

/** Named schemas: components/schemas/<name>; where a message nests one, it becomes a $ref. */
const SCHEMAS: Readonly<Record<string, Schema>> = {
  Channel: protocol.channelSchema,
  ProductChannel: protocol.productChannelSchema,
  OrderChannel: protocol.orderChannelSchema,
  DashboardChannel: protocol.dashboardChannelSchema,
  Availability: protocol.availabilitySchema,
  OrderStatus: protocol.orderStatusSchema,
  Product: protocol.productSchema,
  OrderLine: protocol.orderLineSchema,
  Order: protocol.orderSchema,
  DashboardMetrics: protocol.dashboardMetricsSchema,
  ErrorCode: protocol.errorCodeSchema,
  ProductSnapshot: protocol.productSnapshotSchema,
  OrderSnapshot: protocol.orderSnapshotSchema,
  DashboardSnapshot: protocol.dashboardSnapshotSchema,
};

type Topic = 'connection' | 'product' | 'order' | 'dashboard';

const TAGS: Readonly<Record<Topic, string>> = {
  connection: 'Subscribing, keep-alive and errors',
  product: 'Channel product:<id>: live stock and product changes',
  order: 'Channel order:<id>: order status',
  dashboard: "Channel dashboard: today's figures of the tenant",
};

interface MessageSpec {
  readonly schema: Schema;
  /** The value of `type` (server) or `action` (client). */
  readonly name: string;
  readonly summary: string;
  readonly topics: readonly Topic[];
}

/** Client to server: one per WebSocket route that takes an action. */
const CLIENT_MESSAGES = {
  subscribe: { schema: protocol.subscribeMessageSchema, name: 'subscribe', summary: 'Subscribe to a channel', topics: ['connection'] },
  unsubscribe: {
    schema: protocol.unsubscribeMessageSchema,
    name: 'unsubscribe',
    summary: 'Unsubscribe from a channel',
    topics: ['connection'],
  },
  ping: { schema: protocol.pingMessageSchema, name: 'ping', summary: 'Keep the connection alive', topics: ['connection'] },
} as const satisfies Record<string, MessageSpec>;

/** Server to client: every member of the SDK's ServerMessage union. */
const SERVER_MESSAGES = {
  productSubscribed: {
    schema: protocol.productSubscribedMessageSchema,
    name: 'subscribed',
    summary: 'The current stock and product, in reply to a subscribe to product:<id>',
    topics: ['product'],
  },
  orderSubscribed: {
    schema: protocol.orderSubscribedMessageSchema,
    name: 'subscribed',
    summary: 'The current order, in reply to a subscribe to order:<id>',
    topics: ['order'],
  },
  dashboardSubscribed: {
    schema: protocol.dashboardSubscribedMessageSchema,
    name: 'subscribed',
    summary: "Today's figures, in reply to a subscribe to dashboard",
    topics: ['dashboard'],
  },
  unsubscribed: {
    schema: protocol.unsubscribedMessageSchema,
    name: 'unsubscribed',
    summary: 'In reply to an unsubscribe',
    topics: ['connection'],
  },
  stockUpdate: { schema: protocol.stockUpdateMessageSchema, name: 'stock:update', summary: 'The stock changed', topics: ['product'] },
  productUpdated: {
    schema: protocol.productUpdatedMessageSchema,
    name: 'product:updated',
    summary: 'The product changed or was deleted',
    topics: ['product'],
  },
  orderUpdate: { schema: protocol.orderUpdateMessageSchema, name: 'order:update', summary: 'The order changed status', topics: ['order'] },
  dashboardMetric: {
    schema: protocol.dashboardMetricMessageSchema,
    name: 'dashboard:metric',
    summary: "Today's figures changed",
    topics: ['dashboard'],
  },
  pong: { schema: protocol.pongMessageSchema, name: 'pong', summary: 'In reply to a ping', topics: ['connection'] },
  error: { schema: protocol.errorMessageSchema, name: 'error', summary: 'A message was refused', topics: ['connection'] },
  refetch: {
    schema: protocol.refetchMessageSchema,
    name: 'refetch',
    summary: 'An update too large to push: read it over REST',
    topics: ['product', 'order', 'dashboard'],
  },
} as const satisfies Record<string, MessageSpec>;

type ClientMessageName = keyof typeof CLIENT_MESSAGES;
type ServerMessageName = keyof typeof SERVER_MESSAGES;

interface OperationSpec {
  readonly action: 'send' | 'receive';
  readonly title: string;
  readonly summary: string;
  readonly description: string;
  readonly messages: readonly (ClientMessageName | ServerMessageName)[];
  readonly reply?: readonly ServerMessageName[];
  readonly topics: readonly Topic[];
  /** send: the WebSocket route (route table routeKey) that handles it. */
  readonly routeKey?: string;
}

const OPERATIONS: Readonly<Record<string, OperationSpec>> = {
  subscribe: {
    action: 'send',
    routeKey: 'subscribe',
    title: 'Subscribe',
    summary: 'Subscribe to product:<id>, order:<id> or dashboard',
    description: `Needs the channel's permission (products:read, orders:read, dashboard:read). The reply is \`subscribed\` with a snapshot of the current state, or \`error\` naming the channel: FORBIDDEN without the permission or for an entity that is not in the caller's tenant (a missing one looks the same), BAD_REQUEST for a malformed channel or seq, or past ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions on the connection. A subscribe overtaken by an unsubscribe of the channel sent after it is answered \`unsubscribed\`.`,
    messages: ['subscribe'],
    reply: ['productSubscribed', 'orderSubscribed', 'dashboardSubscribed', 'unsubscribed', 'error'],
    topics: ['connection', 'product', 'order', 'dashboard'],
  },
  unsubscribe: {
    action: 'send',
    routeKey: 'unsubscribe',
    title: 'Unsubscribe',
    summary: 'Stop receiving a channel',
    description:
      'The reply is `unsubscribed` (also for a channel that was not subscribed), or `error` for a malformed channel or seq. A subscribe of the channel sent after it wins, whichever the server finishes first.',
    messages: ['unsubscribe'],
    reply: ['unsubscribed', 'error'],
    topics: ['connection'],
  },
  ping: {
    action: 'send',
    routeKey: 'ping',
    title: 'Ping',
    summary: 'Keep the connection alive',
    description: 'API Gateway closes a connection idle for 10 minutes: ping every few minutes. The reply is `pong`.',
    messages: ['ping'],
    reply: ['pong', 'error'],
    topics: ['connection'],
  },
  receiveStockUpdate: {
    action: 'receive',
    title: 'Stock updates',
    summary: 'Every committed stock change of a subscribed product',
    description: 'In version order per product; a replayed or duplicated message carries a version already seen: drop it.',
    messages: ['stockUpdate'],
    topics: ['product'],
  },
  receiveProductUpdated: {
    action: 'receive',
    title: 'Product changes',
    summary: 'Every committed change of a subscribed product, deletion included',
    description: 'In version order per product. After a deletion, re-creating the product with the same id continues its version.',
    messages: ['productUpdated'],
    topics: ['product'],
  },
  receiveOrderUpdate: {
    action: 'receive',
    title: 'Order status',
    summary: 'Every committed status change of a subscribed order',
    description: 'In version order per order.',
    messages: ['orderUpdate'],
    topics: ['order'],
  },
  receiveDashboardMetric: {
    action: 'receive',
    title: 'Dashboard figures',
    summary: "Today's figures after orders and stock changed",
    description: 'At most one per tenant per batch of changes. The figures have no version: keep the newest timestamp.',
    messages: ['dashboardMetric'],
    topics: ['dashboard'],
  },
  receiveRefetch: {
    action: 'receive',
    title: 'Refetch notices',
    summary: 'An update that was too large to push',
    description: "Sent instead of an update that would exceed API Gateway's 128 KB: read the entity over REST.",
    messages: ['refetch'],
    topics: ['product', 'order', 'dashboard'],
  },
};

const DESCRIPTION = `The live part of shop-edge: stock, product changes, order status and dashboard figures, pushed over one WebSocket connection. The REST API, headers and caching are in docs/contract.md (and openapi.json) in the repository; this document is generated from the client SDK's message schemas (client/src/messages.ts) by \`npm run asyncapi\`.

- **Connect** with \`?token=<JWT>\`, the same token as REST's \`Authorization: Bearer\` (browsers cannot set headers on a WebSocket). An invalid or expired token refuses the handshake with 401; a user (tenant and sub) who has ${MAX_CONNECTIONS_PER_USER} connections open already, or a tenant with ${MAX_CONNECTIONS_PER_TENANT.toLocaleString('en-US')} (by default), is refused with 429: back off exponentially with jitter (1 s doubling to 30 s), do not retry at once; a slot frees when another connection closes.
- **The session ends with the token**: after the token's \`exp\`, the next message of the client, or the next update for it, is answered with \`error\` UNAUTHORIZED and the server closes the connection. API Gateway closes it with 1000 (it cannot send an application code such as 4401), so recognise the end by that error: reconnect with a fresh token and resubscribe. Replacing the connection before \`exp\` avoids the gap (the SDK does).
- **Frames** are JSON text. The client's \`action\` selects the route (subscribe, unsubscribe, ping); anything else, or a frame that is not JSON, is answered with \`error\` BAD_REQUEST.
- **Channels** are logical, on the one connection: \`product:<id>\`, \`order:<id>\`, \`dashboard\` (the tenant is always the token's). Messages name their channel: \`channel\`, or the \`productId\` / \`orderId\` of an update.
- **Order**: the server handles a connection's messages concurrently. Of a subscribe and an unsubscribe of one channel, the one sent last decides the state, by when API Gateway received them (ms), then by the optional \`seq\` the client numbers its messages with (it orders two sent in the same millisecond). Replies can arrive in any order.
- **Snapshots**: every subscribe is answered with the channel's current state, so a client that reconnects and resubscribes is up to date at once.
- **Versions**: every message about a product, its stock or an order carries that entity's \`version\`, which grows with each committed change (stock and product have separate counters). Updates of one entity are sent in version order, but a retried batch can repeat them: show a message only when its version is newer than the one shown. Dashboard figures have no version: order them by \`timestamp\`.
- **Timestamps** of updates are the instant the change was committed, the same instant REST reports as \`updatedAt\` (products, orders) or \`lastUpdated\` (stock).
- **Limits**: ${MAX_CONNECTIONS_PER_USER} connections per user (then 429 at the handshake; WS_MAX_CONNECTIONS_PER_USER), ${MAX_CONNECTIONS_PER_TENANT.toLocaleString('en-US')} per tenant (then 429 at the handshake; WS_MAX_CONNECTIONS_PER_TENANT), ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions per connection, ${MESSAGES_PER_MINUTE} client messages a minute per connection (then \`error\` RATE_LIMITED), 128 KB per message, 10 minutes idle and 2 hours per connection (API Gateway's limits: reconnect and resubscribe), and the token's lifetime.`;

/** The document's JSON Schema for a schema of the SDK: named ones become $refs, SDK-only keywords go. */
function toDocumentSchema(schema: Schema, names: ReadonlyMap<Schema, string>, options: { top: boolean; dropExamples: boolean }): Json {
  const name = names.get(schema);
  if (!options.top && name !== undefined) return { $ref: `#/components/schemas/${name}` };
  const nested = { top: false, dropExamples: false };
  const out: Json = {};
  for (const [key, value] of Object.entries(schema) as [keyof Schema, unknown][]) {
    if (key === 'x-prefix' || (key === 'examples' && options.dropExamples)) continue;
    if (key === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, Schema>).map(([property, child]) => [property, toDocumentSchema(child, names, nested)]),
      );
    } else if (key === 'items') {
      out.items = toDocumentSchema(value as Schema, names, nested);
    } else if (key === 'oneOf') {
      out.oneOf = (value as readonly Schema[]).map((member) => toDocumentSchema(member, names, nested));
    } else {
      out[key] = value;
    }
  }
  return out;
}

function message(spec: MessageSpec, names: ReadonlyMap<Schema, string>): Json {
  const examples = (spec.schema.examples ?? []).map((payload, i) => ({ name: `${spec.name}${i === 0 ? '' : `-${i + 1}`}`, payload }));
  return {
    name: spec.name,
    title: spec.schema.title ?? spec.name,
    summary: spec.summary,
    ...(spec.schema.description !== undefined ? { description: spec.schema.description } : {}),
    contentType: 'application/json',
    tags: spec.topics.map((topic) => ({ $ref: `#/components/tags/${topic}` })),
    payload: toDocumentSchema(spec.schema, names, { top: true, dropExamples: true }),
    ...(examples.length > 0 ? { examples } : {}),
  };
}

export interface AsyncApiOptions {
  /** host[:port] of the local stack's WebSocket front. @default 127.0.0.1:3001 */
  readonly localHost?: string;
  /** @default WEBSOCKET_ROUTES */
  readonly routes?: readonly WebSocketRoute[];
}

export function asyncApiDocument(options: AsyncApiOptions = {}): Json {
  const routes = options.routes ?? WEBSOCKET_ROUTES;
  const names = new Map<Schema, string>(Object.entries(SCHEMAS).map(([name, schema]) => [schema, name]));

  // Every message of the SDK has its place, every action route its operation, and back.
  const placed = new Set<Schema>([...Object.values(CLIENT_MESSAGES), ...Object.values(SERVER_MESSAGES)].map((m) => m.schema));
  const unplaced = [...protocol.clientMessageSchema.oneOf, ...protocol.serverMessageSchema.oneOf].filter((s) => !placed.has(s));
  if (unplaced.length > 0) {
    throw new Error(`messages of client/src/messages.ts missing from asyncapi/document.ts: ${unplaced.map((s) => s.title).join(', ')}`);
  }
  const actionRoutes = routes.filter((r) => !r.routeKey.startsWith('$')).map((r) => r.routeKey);
  const sent = Object.values(OPERATIONS).flatMap((op) => (op.routeKey === undefined ? [] : [op.routeKey]));
  const withoutOperation = actionRoutes.filter((key) => !sent.includes(key));
  if (withoutOperation.length > 0) {
    throw new Error(`WebSocket routes without an operation in asyncapi/document.ts: ${withoutOperation.join(', ')}`);
  }
  const withoutRoute = sent.filter((key) => !actionRoutes.includes(key));
  if (withoutRoute.length > 0)
    throw new Error(`operations of asyncapi/document.ts for routes not in the route table: ${withoutRoute.join(', ')}`);
  for (const route of routes.filter((r) => !r.routeKey.startsWith('$'))) {
    if (!(route.routeKey in CLIENT_MESSAGES))
      throw new Error(`WebSocket route ${route.routeKey} has no client message in client/src/messages.ts`);
  }

  const channelRef = { $ref: '#/channels/connection' };
  const messageRef = (name: string) => ({ $ref: `#/channels/connection/messages/${name}` });
  const allMessages: Record<string, MessageSpec> = { ...CLIENT_MESSAGES, ...SERVER_MESSAGES };

  const operations: Record<string, Json> = {};
  for (const [id, op] of Object.entries(OPERATIONS)) {
    operations[id] = {
      action: op.action,
      channel: channelRef,
      title: op.title,
      summary: op.summary,
      description: op.description,
      tags: op.topics.map((topic) => ({ $ref: `#/components/tags/${topic}` })),
      messages: op.messages.map(messageRef),
      ...(op.reply ? { reply: { channel: channelRef, messages: op.reply.map(messageRef) } } : {}),
    };
  }

  const security = [{ $ref: '#/components/securitySchemes/token' }];
  return {
    asyncapi: ASYNCAPI_VERSION,
    id: 'urn:shop-edge:websocket',
    info: {
      title: 'shop-edge WebSocket API',
      version: '0.1.0',
      description: DESCRIPTION,
      license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
      tags: Object.keys(TAGS).map((topic) => ({ $ref: `#/components/tags/${topic}` })),
    },
    defaultContentType: 'application/json',
    servers: {
      local: {
        host: options.localHost ?? DEFAULT_SERVER_HOST,
        protocol: 'ws',
        title: 'The local stack',
        description: '`npm start` (WS_PORT, default 3001)',
        security,
      },
      aws: {
        host: '{apiId}.execute-api.{region}.amazonaws.com',
        pathname: '/{stage}',
        protocol: 'wss',
        title: 'API Gateway',
        description: 'The WebSocket API of the Realtime stack (its stage URL is a stack output)',
        variables: {
          apiId: { description: 'The id of the WebSocket API' },
          region: { description: 'The AWS region of the deployment', default: 'eu-central-1' },
          stage: { description: 'The environment (cdk -c env=...)', enum: ['dev', 'prod'], default: 'dev' },
        },
        security,
      },
    },
    channels: {
      connection: {
        address: '/',
        title: 'The WebSocket connection',
        description:
          'One connection carries every subscription; its frames are JSON text. The handshake takes the token in the query string.',
        messages: Object.fromEntries(Object.keys(allMessages).map((name) => [name, { $ref: `#/components/messages/${name}` }])),
        bindings: {
          ws: {
            method: 'GET',
            query: {
              type: 'object',
              properties: { token: { type: 'string', description: 'The JWT (the same as REST takes as a Bearer token)' } },
              required: ['token'],
            },
            bindingVersion: '0.1.0',
          },
        },
      },
    },
    operations,
    components: {
      schemas: Object.fromEntries(
        Object.entries(SCHEMAS).map(([name, schema]) => [name, toDocumentSchema(schema, names, { top: true, dropExamples: false })]),
      ),
      messages: Object.fromEntries(Object.entries(allMessages).map(([name, spec]) => [name, message(spec, names)])),
      securitySchemes: {
        token: {
          type: 'httpApiKey',
          name: 'token',
          in: 'query',
          description:
            'A JWT: HS256 with the dev secret on the local stack, RS256/ES256 from the identity provider in AWS. Claims: sub, tenantId, permissions (products:read, orders:read, dashboard:read for the channels); iss, aud and exp are checked.',
        },
      },
      tags: Object.fromEntries(Object.entries(TAGS).map(([name, description]) => [name, { name, description }])),
    },
  };
}
