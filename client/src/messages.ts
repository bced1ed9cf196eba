/**
 * The WebSocket protocol of shop-edge (docs/contract.md, "WebSocket"): every message as a JSON
 * Schema, and the TypeScript types inferred from those schemas.
 *
 * The schemas are the one description of the protocol: the SDK's types come from them (`Infer`),
 * and `npm run asyncapi` writes them into the AsyncAPI document (asyncapi.json), so the types and
 * the published document cannot disagree. They are plain objects (the JSON Schema subset that
 * AsyncAPI's Schema Object accepts), so the SDK stays free of dependencies; the client imports
 * only types and two functions from this file, so the schemas stay out of its bundle.
 *
 * This file imports nothing, so the server can `import type` from it and both sides compile
 * against one definition.
 */

// ---------------------------------------------------------------------------------------------
// The schema subset, and the type a schema describes

export interface Schema {
  readonly type?: 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array' | 'null';
  readonly title?: string;
  readonly description?: string;
  readonly const?: string;
  readonly enum?: readonly string[];
  readonly pattern?: string;
  readonly format?: 'date-time' | 'date';
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  readonly items?: Schema;
  readonly oneOf?: readonly Schema[];
  readonly examples?: readonly unknown[];
  /**
   * A string that starts with this prefix: the type is the template literal `${prefix}${string}`
   * (`pattern` says the rest). Not JSON Schema: the AsyncAPI generator leaves it out.
   */
  readonly 'x-prefix'?: string;
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type ObjectOf<P, R> = Simplify<{ readonly [K in keyof P & R]: Infer<P[K]> } & { readonly [K in Exclude<keyof P, R>]?: Infer<P[K]> }>;

/** The TypeScript type of the values a schema accepts (readonly, like the SDK's types always were). */
export type Infer<S> = S extends { readonly oneOf: readonly (infer Member)[] }
  ? Infer<Member>
  : S extends { readonly const: infer C }
    ? C
    : S extends { readonly enum: readonly (infer E)[] }
      ? E
      : S extends { readonly type: 'string' }
        ? S extends { readonly 'x-prefix': infer P extends string }
          ? `${P}${string}`
          : string
        : S extends { readonly type: 'integer' | 'number' }
          ? number
          : S extends { readonly type: 'boolean' }
            ? boolean
            : S extends { readonly type: 'null' }
              ? null
              : S extends { readonly type: 'array'; readonly items: infer I }
                ? readonly Infer<I>[]
                : S extends { readonly type: 'object'; readonly properties: infer P }
                  ? ObjectOf<P, S extends { readonly required: readonly (infer R)[] } ? R : never>
                  : unknown;

// ---------------------------------------------------------------------------------------------
// Fields

// Literal strings throughout (no template literals, no spreads): a bundler drops what it can prove
// unused, and that keeps these schemas out of the client's bundle.
const id = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', description: '1 to 64 of A-Z a-z 0-9 _ -' } as const satisfies Schema;
const dateTime = { type: 'string', format: 'date-time', description: 'ISO 8601, UTC' } as const satisfies Schema;
const count = { type: 'integer', minimum: 0 } as const satisfies Schema;
const currency = { type: 'string', pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' } as const satisfies Schema;
const version = {
  type: 'integer',
  minimum: 1,
  description: 'Grows with every committed change of the entity: a message whose version is not newer than the one shown is old news',
} as const satisfies Schema;
const figuresReadAt = {
  type: 'string',
  format: 'date-time',
  description: 'When the figures were read (ISO 8601, UTC)',
} as const satisfies Schema;
const timestamp = {
  type: 'string',
  format: 'date-time',
  description: 'ISO 8601, UTC: when the change was committed (the same instant REST reports as updatedAt or lastUpdated)',
} as const satisfies Schema;

// ---------------------------------------------------------------------------------------------
// Channels

export const productChannelSchema = {
  type: 'string',
  title: 'product:<id>',
  description: "A product of the caller's tenant: its live stock and its changes (needs products:read)",
  pattern: '^product:[A-Za-z0-9_-]{1,64}$',
  'x-prefix': 'product:',
  examples: ['product:espresso-beans'],
} as const satisfies Schema;

export const orderChannelSchema = {
  type: 'string',
  title: 'order:<id>',
  description: "An order of the caller's tenant: its status (needs orders:read)",
  pattern: '^order:[A-Za-z0-9_-]{1,64}$',
  'x-prefix': 'order:',
  examples: ['order:7d5c7a1e-2f7e-4c55-9d0b-3b1f0c2a9e11'],
} as const satisfies Schema;

export const dashboardChannelSchema = {
  const: 'dashboard',
  title: 'dashboard',
  description: "Today's figures of the caller's tenant (the tenant comes from the token; needs dashboard:read)",
} as const satisfies Schema;

export const channelSchema = {
  title: 'Channel',
  description: 'What a subscription names: product:<id>, order:<id> or dashboard',
  oneOf: [productChannelSchema, orderChannelSchema, dashboardChannelSchema],
} as const satisfies Schema;

export type ProductChannel = Infer<typeof productChannelSchema>;
export type OrderChannel = Infer<typeof orderChannelSchema>;
/** The caller's tenant dashboard (the tenant comes from the token). */
export type DashboardChannel = Infer<typeof dashboardChannelSchema>;
export type Channel = Infer<typeof channelSchema>;

// ---------------------------------------------------------------------------------------------
// Client to server (route selection is `$request.body.action`)

/**
 * The server handles a connection's messages concurrently (as API Gateway invokes its routes), so
 * it orders a subscribe and an unsubscribe of one channel by when API Gateway received them (ms);
 * `seq` orders two received in the same millisecond. The SDK sends it on every message.
 */
export const sequenceSchema = {
  type: 'integer',
  minimum: 0,
  maximum: 9007199254740991,
  description:
    'Optional: a number that grows with every message the client sends on the connection. It orders two subscribe/unsubscribe messages of one channel that API Gateway received in the same millisecond (without it, their order is arbitrary).',
} as const satisfies Schema;

export const subscribeMessageSchema = {
  type: 'object',
  title: 'subscribe',
  description:
    'Start receiving a channel. Answered with `subscribed` (the current state) or `error` (with the channel). Subscribing again to a channel already subscribed answers with a fresh snapshot. Of a subscribe and an unsubscribe of one channel, the one sent last decides, whatever order the server finishes them in; a subscribe overtaken that way is answered `unsubscribed`.',
  properties: { action: { const: 'subscribe' }, channel: channelSchema, seq: sequenceSchema },
  required: ['action', 'channel'],
  examples: [{ action: 'subscribe', channel: 'product:espresso-beans', seq: 1 }],
} as const satisfies Schema;

export const unsubscribeMessageSchema = {
  type: 'object',
  title: 'unsubscribe',
  description:
    'Stop receiving a channel. Answered with `unsubscribed`, also when the channel was not subscribed. A subscribe of the channel sent after it wins, even when the server finishes it first.',
  properties: { action: { const: 'unsubscribe' }, channel: channelSchema, seq: sequenceSchema },
  required: ['action', 'channel'],
  examples: [{ action: 'unsubscribe', channel: 'product:espresso-beans', seq: 2 }],
} as const satisfies Schema;

export const pingMessageSchema = {
  type: 'object',
  title: 'ping',
  description: 'Keep-alive (API Gateway closes a connection idle for 10 minutes). Answered with `pong`.',
  properties: { action: { const: 'ping' } },
  required: ['action'],
  examples: [{ action: 'ping' }],
} as const satisfies Schema;

export const clientMessageSchema = {
  title: 'ClientMessage',
  oneOf: [subscribeMessageSchema, unsubscribeMessageSchema, pingMessageSchema],
} as const satisfies Schema;

export type ClientMessage = Infer<typeof clientMessageSchema>;

// ---------------------------------------------------------------------------------------------
// Entities carried by the messages

export const availabilitySchema = {
  title: 'Availability',
  description: 'in_stock above the low-stock threshold, low_stock at or below it, out_of_stock at 0',
  enum: ['in_stock', 'low_stock', 'out_of_stock'],
} as const satisfies Schema;

export const orderStatusSchema = {
  title: 'OrderStatus',
  enum: ['placed', 'paid', 'packed', 'shipped', 'delivered', 'cancelled'],
} as const satisfies Schema;

export const productSchema = {
  type: 'object',
  title: 'Product',
  description: 'A product as GET /api/products/{id} answers it (without stock)',
  properties: {
    id,
    tenantId: id,
    name: { type: 'string', minLength: 1, maxLength: 200 },
    description: { type: 'string', maxLength: 5000 },
    price: { type: 'integer', minimum: 0, maximum: 100000000000, description: 'Integer minor units (cents), at most 10^11' },
    currency,
    category: id,
    listed: { type: 'boolean', description: 'Listed on the public marketplace' },
    version: { type: 'integer', minimum: 1, description: "The product's version (its stock has its own); moves with product:updated" },
    updatedAt: dateTime,
  },
  required: ['id', 'tenantId', 'name', 'description', 'price', 'currency', 'category', 'listed', 'version', 'updatedAt'],
} as const satisfies Schema;

export const orderLineSchema = {
  type: 'object',
  title: 'OrderLine',
  properties: {
    productId: id,
    quantity: { type: 'integer', minimum: 1, maximum: 10000 },
    unitPrice: {
      type: 'integer',
      minimum: 0,
      maximum: 100000000000,
      description: 'Integer minor units, the price when the order was placed',
    },
  },
  required: ['productId', 'quantity', 'unitPrice'],
} as const satisfies Schema;

export const orderSchema = {
  type: 'object',
  title: 'Order',
  description: 'An order as GET /api/orders/{id} answers it',
  properties: {
    id,
    tenantId: id,
    userId: { type: 'string', minLength: 1, description: 'The sub of the token that placed it' },
    lines: { type: 'array', items: orderLineSchema, minItems: 1, maxItems: 40 },
    total: {
      type: 'integer',
      minimum: 0,
      maximum: 1000000000000,
      description: 'Integer minor units, at most 10^12 (a larger order is refused)',
    },
    currency,
    status: orderStatusSchema,
    version,
    createdAt: dateTime,
    updatedAt: dateTime,
  },
  required: ['id', 'tenantId', 'userId', 'lines', 'total', 'currency', 'status', 'version', 'createdAt', 'updatedAt'],
} as const satisfies Schema;

export const dashboardMetricsSchema = {
  type: 'object',
  title: 'DashboardMetrics',
  description: "Today's figures of the caller's tenant (UTC day), kept atomically as orders and stock change",
  properties: {
    day: { type: 'string', format: 'date', description: 'The UTC day the figures are for (YYYY-MM-DD)' },
    ordersToday: count,
    revenueToday: {
      type: 'integer',
      minimum: 0,
      maximum: 9007199254740991,
      description:
        "Integer minor units: the total of today's orders, less those cancelled; exact up to 2^53 - 1 (Number.MAX_SAFE_INTEGER), which it reads past that",
    },
    cancelledToday: count,
    lowStockCount: { type: 'integer', minimum: 0, description: 'Products at or below their low-stock threshold now' },
  },
  required: ['day', 'ordersToday', 'revenueToday', 'cancelledToday', 'lowStockCount'],
} as const satisfies Schema;

export const errorCodeSchema = {
  title: 'ErrorCode',
  description: 'The error codes of the REST contract (a WebSocket error is never INTERNAL)',
  enum: [
    'BAD_REQUEST',
    'UNAUTHORIZED',
    'FORBIDDEN',
    'NOT_FOUND',
    'CONFLICT',
    'PRECONDITION_FAILED',
    'PAYLOAD_TOO_LARGE',
    'RATE_LIMITED',
    'UNAVAILABLE',
  ],
} as const satisfies Schema;

export type Availability = Infer<typeof availabilitySchema>;
export type OrderStatus = Infer<typeof orderStatusSchema>;
export type Product = Infer<typeof productSchema>;
export type OrderLine = Infer<typeof orderLineSchema>;
export type Order = Infer<typeof orderSchema>;
/** Today's figures of the caller's tenant. */
export type DashboardMetrics = Infer<typeof dashboardMetricsSchema>;
/** Codes of `{"type":"error"}` messages (the contract's error codes). */
export type ErrorCode = Infer<typeof errorCodeSchema>;

// ---------------------------------------------------------------------------------------------
// Snapshots: the current state of a channel, sent in reply to every subscribe

/**
 * `version` is the stock's version (it moves with `stock:update`); `product.version` is the
 * product's own (it moves with `product:updated`). They are two entities with two counters.
 */
export const productSnapshotSchema = {
  type: 'object',
  title: 'ProductSnapshot',
  description:
    "The live stock (as GET /api/products/{id}/stock answers it) and the product. `version` and `lastUpdated` are the stock's; `product.version` is the product's.",
  properties: {
    productId: id,
    stock: count,
    availability: availabilitySchema,
    version: { type: 'integer', minimum: 1, description: "The stock's version; moves with stock:update" },
    lastUpdated: { type: 'string', format: 'date-time', description: 'When the stock last changed (ISO 8601, UTC)' },
    product: productSchema,
  },
  required: ['productId', 'stock', 'availability', 'version', 'lastUpdated', 'product'],
} as const satisfies Schema;

export const orderSnapshotSchema = {
  type: 'object',
  title: 'OrderSnapshot',
  properties: { orderId: id, status: orderStatusSchema, version, updatedAt: dateTime, order: orderSchema },
  required: ['orderId', 'status', 'version', 'updatedAt', 'order'],
} as const satisfies Schema;

export const dashboardSnapshotSchema = {
  type: 'object',
  title: 'DashboardSnapshot',
  description: 'The figures carry no version; `timestamp` is when they were read.',
  properties: { tenantId: id, metrics: dashboardMetricsSchema, timestamp: figuresReadAt },
  required: ['tenantId', 'metrics', 'timestamp'],
} as const satisfies Schema;

export type ProductSnapshot = Infer<typeof productSnapshotSchema>;
export type OrderSnapshot = Infer<typeof orderSnapshotSchema>;
export type DashboardSnapshot = Infer<typeof dashboardSnapshotSchema>;
export type Snapshot = ProductSnapshot | OrderSnapshot | DashboardSnapshot;

// ---------------------------------------------------------------------------------------------
// Server to client

const SUBSCRIBED = 'The reply to a subscribe: the current state of the channel, first and after every (re)subscribe.';

export const productSubscribedMessageSchema = {
  type: 'object',
  title: 'subscribed (product)',
  description: SUBSCRIBED,
  properties: { type: { const: 'subscribed' }, channel: productChannelSchema, snapshot: productSnapshotSchema },
  required: ['type', 'channel', 'snapshot'],
  examples: [
    {
      type: 'subscribed',
      channel: 'product:espresso-beans',
      snapshot: {
        productId: 'espresso-beans',
        stock: 118,
        availability: 'in_stock',
        version: 3,
        lastUpdated: '2026-12-01T09:03:43.151Z',
        product: {
          id: 'espresso-beans',
          tenantId: 'acme',
          name: 'Espresso beans 1 kg',
          description: 'Dark roast, chocolate and hazelnut.',
          price: 2490,
          currency: 'EUR',
          category: 'coffee',
          listed: true,
          version: 1,
          updatedAt: '2026-12-01T09:03:40.455Z',
        },
      },
    },
  ],
} as const satisfies Schema;

export const orderSubscribedMessageSchema = {
  type: 'object',
  title: 'subscribed (order)',
  description: SUBSCRIBED,
  properties: { type: { const: 'subscribed' }, channel: orderChannelSchema, snapshot: orderSnapshotSchema },
  required: ['type', 'channel', 'snapshot'],
  examples: [
    {
      type: 'subscribed',
      channel: 'order:7d5c7a1e-2f7e-4c55-9d0b-3b1f0c2a9e11',
      snapshot: {
        orderId: '7d5c7a1e-2f7e-4c55-9d0b-3b1f0c2a9e11',
        status: 'placed',
        version: 1,
        updatedAt: '2026-12-01T09:10:00.000Z',
        order: {
          id: '7d5c7a1e-2f7e-4c55-9d0b-3b1f0c2a9e11',
          tenantId: 'acme',
          userId: 'dev-acme',
          lines: [{ productId: 'espresso-beans', quantity: 2, unitPrice: 2490 }],
          total: 4980,
          currency: 'EUR',
          status: 'placed',
          version: 1,
          createdAt: '2026-12-01T09:10:00.000Z',
          updatedAt: '2026-12-01T09:10:00.000Z',
        },
      },
    },
  ],
} as const satisfies Schema;

export const dashboardSubscribedMessageSchema = {
  type: 'object',
  title: 'subscribed (dashboard)',
  description: SUBSCRIBED,
  properties: { type: { const: 'subscribed' }, channel: dashboardChannelSchema, snapshot: dashboardSnapshotSchema },
  required: ['type', 'channel', 'snapshot'],
  examples: [
    {
      type: 'subscribed',
      channel: 'dashboard',
      snapshot: {
        tenantId: 'acme',
        metrics: { day: '2026-12-01', ordersToday: 4, revenueToday: 10450, cancelledToday: 0, lowStockCount: 2 },
        timestamp: '2026-12-01T09:12:00.000Z',
      },
    },
  ],
} as const satisfies Schema;

export const unsubscribedMessageSchema = {
  type: 'object',
  title: 'unsubscribed',
  description:
    'The reply to an unsubscribe (nothing more arrives for that channel), or to a subscribe that an unsubscribe sent after it overtook.',
  properties: { type: { const: 'unsubscribed' }, channel: channelSchema },
  required: ['type', 'channel'],
  examples: [{ type: 'unsubscribed', channel: 'product:espresso-beans' }],
} as const satisfies Schema;

export const stockUpdateMessageSchema = {
  type: 'object',
  title: 'stock:update',
  description: 'The stock of a product changed (an adjustment, an order, a cancellation). To subscribers of product:<id>.',
  properties: {
    type: { const: 'stock:update' },
    productId: id,
    stock: count,
    availability: availabilitySchema,
    version: { type: 'integer', minimum: 1, description: "The stock's version: drop the message unless it is newer than the one shown" },
    timestamp,
  },
  required: ['type', 'productId', 'stock', 'availability', 'version', 'timestamp'],
  examples: [
    {
      type: 'stock:update',
      productId: 'espresso-beans',
      stock: 116,
      availability: 'in_stock',
      version: 4,
      timestamp: '2026-12-01T09:10:00.000Z',
    },
  ],
} as const satisfies Schema;

export const productUpdatedMessageSchema = {
  type: 'object',
  title: 'product:updated',
  description: 'A product was created, changed or deleted (`product: null`). To subscribers of product:<id>.',
  properties: {
    type: { const: 'product:updated' },
    productId: id,
    product: { oneOf: [productSchema, { type: 'null', description: 'The product was deleted' }] },
    version: { type: 'integer', minimum: 1, description: "The product's version: drop the message unless it is newer than the one shown" },
    timestamp,
  },
  required: ['type', 'productId', 'product', 'version', 'timestamp'],
  examples: [
    {
      type: 'product:updated',
      productId: 'espresso-beans',
      product: null,
      version: 2,
      timestamp: '2026-12-01T09:20:00.000Z',
    },
  ],
} as const satisfies Schema;

export const orderUpdateMessageSchema = {
  type: 'object',
  title: 'order:update',
  description: 'An order was placed or changed status. To subscribers of order:<id>.',
  properties: { type: { const: 'order:update' }, orderId: id, status: orderStatusSchema, version, timestamp },
  required: ['type', 'orderId', 'status', 'version', 'timestamp'],
  examples: [
    {
      type: 'order:update',
      orderId: '7d5c7a1e-2f7e-4c55-9d0b-3b1f0c2a9e11',
      status: 'paid',
      version: 2,
      timestamp: '2026-12-01T09:15:00.000Z',
    },
  ],
} as const satisfies Schema;

/** Dashboard figures carry no version: they are ordered by `timestamp`. */
export const dashboardMetricMessageSchema = {
  type: 'object',
  title: 'dashboard:metric',
  description: 'The figures of the tenant changed. To subscribers of dashboard. No version: order them by timestamp.',
  properties: {
    type: { const: 'dashboard:metric' },
    tenantId: id,
    metrics: dashboardMetricsSchema,
    timestamp: figuresReadAt,
  },
  required: ['type', 'tenantId', 'metrics', 'timestamp'],
  examples: [
    {
      type: 'dashboard:metric',
      tenantId: 'acme',
      metrics: { day: '2026-12-01', ordersToday: 5, revenueToday: 15430, cancelledToday: 0, lowStockCount: 2 },
      timestamp: '2026-12-01T09:10:01.000Z',
    },
  ],
} as const satisfies Schema;

export const pongMessageSchema = {
  type: 'object',
  title: 'pong',
  description: 'The reply to a ping.',
  properties: { type: { const: 'pong' } },
  required: ['type'],
  examples: [{ type: 'pong' }],
} as const satisfies Schema;

export const errorMessageSchema = {
  type: 'object',
  title: 'error',
  description:
    "A message was refused. BAD_REQUEST: not JSON, an unknown action, a malformed channel or seq, or past 50 subscriptions; FORBIDDEN: a missing permission, or an entity that is not in the caller's tenant; RATE_LIMITED: over 100 messages a minute; UNAUTHORIZED: the session is over (the token expired, or the server no longer knows the connection): the server closes the connection right after this message (a normal close, 1000: API Gateway sends no code of its own), so reconnect, with a fresh token when it expired; UNAVAILABLE: try again shortly.",
  properties: {
    type: { const: 'error' },
    code: errorCodeSchema,
    message: { type: 'string', description: 'For people, not for programs' },
    channel: {
      type: 'string',
      maxLength: 80,
      description: 'The channel of the subscribe or unsubscribe that failed, when there is one',
    },
  },
  required: ['type', 'code', 'message'],
  examples: [
    { type: 'error', code: 'FORBIDDEN', message: 'missing permission dashboard:read', channel: 'dashboard' },
    { type: 'error', code: 'RATE_LIMITED', message: 'more than 100 messages a minute' },
    { type: 'error', code: 'UNAUTHORIZED', message: 'token expired: reconnect with a fresh token' },
  ],
} as const satisfies Schema;

/** Sent instead of a message too large to push: read the entity over REST. */
export const refetchMessageSchema = {
  type: 'object',
  title: 'refetch',
  description:
    "Sent instead of an update that would exceed API Gateway's 128 KB message limit: read the entity over REST (GET /api/products/{id}?include=stock, GET /api/orders/{id}).",
  properties: { type: { const: 'refetch' }, channel: channelSchema, reason: { const: 'too-large' } },
  required: ['type', 'channel', 'reason'],
  examples: [{ type: 'refetch', channel: 'product:espresso-beans', reason: 'too-large' }],
} as const satisfies Schema;

export const serverMessageSchema = {
  title: 'ServerMessage',
  oneOf: [
    productSubscribedMessageSchema,
    orderSubscribedMessageSchema,
    dashboardSubscribedMessageSchema,
    unsubscribedMessageSchema,
    stockUpdateMessageSchema,
    productUpdatedMessageSchema,
    orderUpdateMessageSchema,
    dashboardMetricMessageSchema,
    pongMessageSchema,
    errorMessageSchema,
    refetchMessageSchema,
  ],
} as const satisfies Schema;

/** The snapshot that answers a subscribe to C. */
export type SnapshotOf<C extends Channel> = C extends ProductChannel
  ? ProductSnapshot
  : C extends OrderChannel
    ? OrderSnapshot
    : C extends DashboardChannel
      ? DashboardSnapshot
      : never;

/** The reply to a subscribe; `SubscribedMessage<C>` is the one for channel C. */
export interface SubscribedMessage<C extends Channel = Channel, S = SnapshotOf<C>> {
  readonly type: 'subscribed';
  readonly channel: C;
  readonly snapshot: S;
}

export type UnsubscribedMessage = Infer<typeof unsubscribedMessageSchema>;
export type StockUpdateMessage = Infer<typeof stockUpdateMessageSchema>;
export type ProductUpdatedMessage = Infer<typeof productUpdatedMessageSchema>;
export type OrderUpdateMessage = Infer<typeof orderUpdateMessageSchema>;
/** Dashboard figures carry no version: they are ordered by `timestamp`. */
export type DashboardMetricMessage = Infer<typeof dashboardMetricMessageSchema>;
export type PongMessage = Infer<typeof pongMessageSchema>;
export type ErrorMessage = Infer<typeof errorMessageSchema>;

/** Sent instead of a message too large to push: read the entity over REST. */
export interface RefetchMessage<C extends Channel = Channel> {
  readonly type: 'refetch';
  readonly channel: C;
  readonly reason: 'too-large';
}

export type ServerMessage = Infer<typeof serverMessageSchema>;

/** What a subscriber of channel C receives (the snapshot first, then updates). */
export type ChannelMessage<C extends Channel> = C extends ProductChannel
  ? SubscribedMessage<C, ProductSnapshot> | StockUpdateMessage | ProductUpdatedMessage | RefetchMessage<C>
  : C extends OrderChannel
    ? SubscribedMessage<C, OrderSnapshot> | OrderUpdateMessage | RefetchMessage<C>
    : C extends DashboardChannel
      ? SubscribedMessage<C, DashboardSnapshot> | DashboardMetricMessage | RefetchMessage<C>
      : never;

// The generic forms above are the inferred ones with a narrower channel: tsc fails if they drift.
/** Each assignable to the other, with the same keys (so an added optional field counts too). */
type Same<A, B> = [A, keyof A] extends [B, keyof B] ? ([B, keyof B] extends [A, keyof A] ? true : false) : false;
type Proof<T extends true> = T;
export type MessageTypeProofs = [
  Proof<Same<SubscribedMessage<ProductChannel>, Infer<typeof productSubscribedMessageSchema>>>,
  Proof<Same<SubscribedMessage<OrderChannel>, Infer<typeof orderSubscribedMessageSchema>>>,
  Proof<Same<SubscribedMessage<DashboardChannel>, Infer<typeof dashboardSubscribedMessageSchema>>>,
  Proof<Same<RefetchMessage, Infer<typeof refetchMessageSchema>>>,
  Proof<Same<Extract<ServerMessage, { type: 'subscribed' }>['snapshot'], Snapshot>>,
];

/** The channel a server message belongs to; undefined for `pong` and `error`. */
export function channelOf(message: ServerMessage): Channel | undefined {
  switch (message.type) {
    case 'stock:update':
    case 'product:updated':
      return `product:${message.productId}`;
    case 'order:update':
      return `order:${message.orderId}`;
    case 'dashboard:metric':
      return 'dashboard';
    case 'subscribed':
    case 'unsubscribed':
    case 'refetch':
      return message.channel;
    case 'pong':
    case 'error':
      return undefined;
  }
}

/** Every server message type (an unknown one fails to compile; a missing one fails the proof below). */
const SERVER_TYPE_LIST = [
  'subscribed',
  'unsubscribed',
  'stock:update',
  'product:updated',
  'order:update',
  'dashboard:metric',
  'pong',
  'error',
  'refetch',
] as const satisfies readonly ServerMessage['type'][];
export type ServerTypeListProof = Proof<Same<(typeof SERVER_TYPE_LIST)[number], ServerMessage['type']>>;
const SERVER_TYPES: ReadonlySet<string> = new Set<string>(SERVER_TYPE_LIST);

/** A text frame as a server message; undefined when it is not JSON or not a known type. */
export function parseServerMessage(text: unknown): ServerMessage | undefined {
  if (typeof text !== 'string') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const type = (value as { type?: unknown }).type;
  return typeof type === 'string' && SERVER_TYPES.has(type) ? (value as ServerMessage) : undefined;
}
