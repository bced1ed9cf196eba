/**
 * The ports of the real-time domain: where connections and their subscriptions are kept
 * (ConnectionStore, the DynamoDB adapter in ./connection-store.ts) and how a message reaches a
 * connection (ConnectionNotifier, the Management API adapter in ./notifier.ts). Types, and the two
 * limits every store keeps to.
 */
import type { MessageOrder } from './message-order';

/** API Gateway closes a connection after 2 hours; a store's items outlive it by a margin. */
export const CONNECTION_LIFETIME_SECONDS = 2 * 60 * 60 + 10 * 60;
/** Subscriptions one connection may hold; the store enforces it atomically. */
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 50;

export interface ConnectionRecord {
  readonly connectionId: string;
  readonly tenantId: string;
  readonly userId: string;
  readonly permissions: readonly string[];
  /** Epoch ms. */
  readonly connectedAt: number;
  /** Epoch seconds: when the items go (TTL). */
  readonly expiresAt: number;
  /** Epoch seconds: the token's `exp`. The session ends then. */
  readonly tokenExpiresAt: number;
}

export interface SubscriberPage {
  /** Connections to send to. */
  readonly connectionIds: readonly string[];
  /** Subscribers whose token has expired: their session is to be ended, not sent to. */
  readonly expired: readonly string[];
  /** Where the next page starts (the store's own position: hand it back as it is); absent on the last page. */
  readonly next?: Record<string, unknown>;
}

export type SubscribeOutcome =
  | 'subscribed'
  | 'already-subscribed'
  /** A later message of the channel (an unsubscribe) decided its state: not subscribed. */
  | 'superseded'
  | 'limit-reached'
  | 'no-connection';

export type UnsubscribeOutcome = 'unsubscribed' | 'superseded' | 'no-connection';

/** Connections, their users' connection slots, their tenants' counts, message counts and subscriptions. */
export interface ConnectionStore {
  put(connection: ConnectionRecord): Promise<void>;
  /** The open connection; undefined when it is unknown, expired or closed. */
  get(connectionId: string): Promise<ConnectionRecord | undefined>;
  /** Removes the connection, its subscriptions, its user's slot and its place in its tenant's count; no subscribe commits after it. Idempotent. */
  remove(connectionId: string): Promise<void>;
  /** Subscribes as of the message `order`: applied only if no later message of the channel was. */
  subscribe(connection: ConnectionRecord, channel: string, order: MessageOrder): Promise<SubscribeOutcome>;
  /** Unsubscribes as of the message `order`: applied only if no later message of the channel was. */
  unsubscribe(connection: ConnectionRecord, channel: string, order: MessageOrder): Promise<UnsubscribeOutcome>;
  /** One page of subscribers of a tenant's channel: the live ones, and those whose token expired. */
  subscribers(tenantId: string, channel: string, startKey?: Record<string, unknown>): Promise<SubscriberPage>;
  /** Counts a client message in the connection's minute starting at `windowStart` (epoch ms); the count so far. */
  countMessage(connectionId: string, windowStart: number): Promise<number>;
  /** Takes one of the user's `max` connection slots (put the record first); false when all are taken. */
  acquireSlot(connection: ConnectionRecord, max: number): Promise<boolean>;
  /**
   * Counts the connection in its tenant's `max` (put the record first; closing the record releases
   * it, once); false when the tenant has `max` connections that may still be open.
   */
  countConnection(connection: ConnectionRecord, max: number): Promise<boolean>;
}

/** A gone connection (410) is an answer, not a failure. */
export type PostResult = 'sent' | 'gone';

/** One post's answer, for a caller that paces itself: throttled (429) is an answer too. */
export type AttemptResult = PostResult | 'throttled';

export interface ConnectionNotifier {
  /** Sends, retrying a throttled post with backoff; throws once the retries are spent. */
  post(connectionId: string, message: unknown): Promise<PostResult>;
  /**
   * Sends once, a throttled post answered 'throttled' rather than retried: for the fan-out, which
   * slows down on it (./notifier.ts). A notifier without it is posted to with post().
   */
  attempt?(connectionId: string, message: unknown): Promise<AttemptResult>;
  disconnect(connectionId: string): Promise<void>;
}
