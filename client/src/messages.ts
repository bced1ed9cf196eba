/**
 * The WebSocket protocol of shop-edge (shared/docs/contract.md, "WebSocket"), as types.
 *
 * This file imports nothing, so the server can `import type` from it and both sides compile
 * against one definition.
 */

// ---------------------------------------------------------------------------------------------
// Channels

export type ProductChannel = `product:${string}`;
export type OrderChannel = `order:${string}`;
/** The caller's tenant dashboard (the tenant comes from the token). */
export type DashboardChannel = 'dashboard';
export type Channel = ProductChannel | OrderChannel | DashboardChannel;

// ---------------------------------------------------------------------------------------------
// Client to server (route selection is `$request.body.action`)

export type ClientMessage =
  | { readonly action: 'subscribe'; readonly channel: Channel }
  | { readonly action: 'unsubscribe'; readonly channel: Channel }
  | { readonly action: 'ping' };

// ---------------------------------------------------------------------------------------------
// Entities carried by the messages

export type Availability = 'in_stock' | 'low_stock' | 'out_of_stock';

export type OrderStatus = 'placed' | 'paid' | 'packed' | 'shipped' | 'delivered' | 'cancelled';

export interface Product {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
  readonly description: string;
  /** Integer minor units. */
  readonly price: number;
  readonly currency: string;
  readonly category: string;
  readonly listed: boolean;
  readonly version: number;
  /** ISO 8601. */
  readonly updatedAt: string;
}

export interface OrderLine {
  readonly productId: string;
  readonly quantity: number;
  readonly unitPrice: number;
}

export interface Order {
  readonly id: string;
  readonly tenantId: string;
  readonly userId: string;
  readonly lines: readonly OrderLine[];
  readonly total: number;
  readonly currency: string;
  readonly status: OrderStatus;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** Today's figures of the caller's tenant. */
export interface DashboardMetrics {
  readonly ordersToday: number;
  /** Integer minor units. */
  readonly revenueToday: number;
  readonly lowStockCount: number;
  readonly cancelledToday?: number;
  /** The day the figures are for (YYYY-MM-DD). */
  readonly day?: string;
}

/** Codes of `{"type":"error"}` messages (the contract's error codes). */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PRECONDITION_FAILED'
  | 'PAYLOAD_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE';

// ---------------------------------------------------------------------------------------------
// Snapshots: the current state of a channel, sent in reply to every subscribe

/**
 * `version` is the stock's version (it moves with `stock:update`); `product.version` is the
 * product's own (it moves with `product:updated`). They are two entities with two counters.
 */
export interface ProductSnapshot {
  readonly productId: string;
  readonly stock: number;
  readonly availability: Availability;
  readonly version: number;
  readonly lastUpdated: string;
  readonly product: Product;
}

export interface OrderSnapshot {
  readonly orderId: string;
  readonly status: OrderStatus;
  readonly version: number;
  readonly updatedAt: string;
  readonly order: Order;
}

export interface DashboardSnapshot {
  readonly tenantId: string;
  readonly metrics: DashboardMetrics;
}

// ---------------------------------------------------------------------------------------------
// Server to client

export interface SubscribedMessage<C extends Channel = Channel, S = Snapshot> {
  readonly type: 'subscribed';
  readonly channel: C;
  readonly snapshot: S;
}

export type Snapshot = ProductSnapshot | OrderSnapshot | DashboardSnapshot;

export interface UnsubscribedMessage {
  readonly type: 'unsubscribed';
  readonly channel: Channel;
}

export interface StockUpdateMessage {
  readonly type: 'stock:update';
  readonly productId: string;
  readonly stock: number;
  readonly availability: Availability;
  readonly version: number;
  /** ISO 8601, when the change was committed. */
  readonly timestamp: string;
}

export interface ProductUpdatedMessage {
  readonly type: 'product:updated';
  readonly productId: string;
  /** null once the product is deleted. */
  readonly product: Product | null;
  readonly version: number;
  readonly timestamp: string;
}

export interface OrderUpdateMessage {
  readonly type: 'order:update';
  readonly orderId: string;
  readonly status: OrderStatus;
  readonly version: number;
  readonly timestamp: string;
}

/** Dashboard figures carry no version: they are ordered by `timestamp`. */
export interface DashboardMetricMessage {
  readonly type: 'dashboard:metric';
  readonly tenantId: string;
  readonly metrics: DashboardMetrics;
  readonly timestamp: string;
}

export interface PongMessage {
  readonly type: 'pong';
}

export interface ErrorMessage {
  readonly type: 'error';
  readonly code: ErrorCode;
  readonly message: string;
}

/** Sent instead of a message too large to push: read the entity over REST. */
export interface RefetchMessage<C extends Channel = Channel> {
  readonly type: 'refetch';
  readonly channel: C;
  readonly reason: 'too-large';
}

export type ServerMessage =
  | SubscribedMessage
  | UnsubscribedMessage
  | StockUpdateMessage
  | ProductUpdatedMessage
  | OrderUpdateMessage
  | DashboardMetricMessage
  | PongMessage
  | ErrorMessage
  | RefetchMessage;

/** What a subscriber of channel C receives (the snapshot first, then updates). */
export type ChannelMessage<C extends Channel> = C extends ProductChannel
  ? SubscribedMessage<C, ProductSnapshot> | StockUpdateMessage | ProductUpdatedMessage | RefetchMessage<C>
  : C extends OrderChannel
    ? SubscribedMessage<C, OrderSnapshot> | OrderUpdateMessage | RefetchMessage<C>
    : C extends DashboardChannel
      ? SubscribedMessage<C, DashboardSnapshot> | DashboardMetricMessage | RefetchMessage<C>
      : never;

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

const SERVER_TYPES: ReadonlySet<string> = new Set<ServerMessage['type']>([
  'subscribed',
  'unsubscribed',
  'stock:update',
  'product:updated',
  'order:update',
  'dashboard:metric',
  'pong',
  'error',
  'refetch',
]);

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
