/**
 * WebSocket sessions: connections (at most so many per user and per tenant), subscriptions with
 * permission and tenant checks, snapshots on subscribe (so a client that reconnects is whole again
 * at once), the per-connection message rate, and the session's end with its token. Knows nothing
 * of API Gateway: handlers hand it ids, parsed messages and when each was received.
 */
import type { CatalogService } from '../catalog/catalog-service';
import type { DashboardRepository } from '../catalog/ports';
import { HttpError, NotFoundError } from '../shared/errors';
import { CHANNEL_PERMISSION, parseChannel, type Channel } from './channels';
import { isSequenceNumber, messageOrder, type ReceivedMessage } from './message-order';
import { dashboardMessage, SESSION_UNKNOWN, TOKEN_EXPIRED, type ServerMessage } from './messages';
import { CONNECTION_LIFETIME_SECONDS, MAX_SUBSCRIPTIONS_PER_CONNECTION, type ConnectionRecord, type ConnectionStore } from './ports';

export interface Identity {
  readonly tenantId: string;
  readonly userId: string;
  readonly permissions: readonly string[];
  /** The token's `exp` (epoch seconds). */
  readonly tokenExpiresAt: number;
}

export const MESSAGES_PER_MINUTE = 100;
/** Open connections per user (tenantId and sub), WS_MAX_CONNECTIONS_PER_USER. */
export const MAX_CONNECTIONS_PER_USER = 10;
/** Open connections per tenant, WS_MAX_CONNECTIONS_PER_TENANT (the Realtime stack's maxConnectionsPerTenant). */
export const MAX_CONNECTIONS_PER_TENANT = 10_000;

export interface RealtimeLimits {
  /** @default MESSAGES_PER_MINUTE */
  readonly messagesPerMinute?: number;
  /** @default MAX_CONNECTIONS_PER_USER */
  readonly maxConnectionsPerUser?: number;
  /** @default MAX_CONNECTIONS_PER_TENANT */
  readonly maxConnectionsPerTenant?: number;
}

/** too-many-connections: the user has its cap of connections open; tenant-at-limit: the tenant has. */
export type ConnectOutcome = 'connected' | 'token-expired' | 'too-many-connections' | 'tenant-at-limit';

/** Errors of a subscribe or unsubscribe name the channel, so a client can tell which one failed. */
const error = (code: string, message: string, channel?: string): ServerMessage => ({
  type: 'error',
  code,
  message,
  ...(channel ? { channel } : {}),
});

const nowSeconds = () => Math.floor(Date.now() / 1000);

export class RealtimeService {
  private readonly messagesPerMinute: number;
  private readonly maxConnectionsPerUser: number;
  private readonly maxConnectionsPerTenant: number;

  constructor(
    private readonly connections: ConnectionStore,
    private readonly catalog: CatalogService,
    private readonly repo: DashboardRepository,
    limits: RealtimeLimits = {},
  ) {
    this.messagesPerMinute = limits.messagesPerMinute ?? MESSAGES_PER_MINUTE;
    this.maxConnectionsPerUser = limits.maxConnectionsPerUser ?? MAX_CONNECTIONS_PER_USER;
    this.maxConnectionsPerTenant = limits.maxConnectionsPerTenant ?? MAX_CONNECTIONS_PER_TENANT;
  }

  /**
   * Records the connection, within its user's cap and its tenant's; a token already expired is not
   * connected. The user's cap is checked first: a user at its cap, reconnecting in a loop, never
   * writes the tenant's counter (one item every connect of the tenant shares). A refusal by either
   * releases what was taken: remove() frees the user's slot, and the tenant's count when it was taken.
   */
  async connect(connectionId: string, identity: Identity, connectedAt: number): Promise<ConnectOutcome> {
    if (identity.tokenExpiresAt <= nowSeconds()) return 'token-expired';
    const connection: ConnectionRecord = {
      connectionId,
      ...identity,
      connectedAt,
      expiresAt: Math.floor(connectedAt / 1000) + CONNECTION_LIFETIME_SECONDS,
    };
    // The record first: a connect at the cap judges the user's other slots by their records.
    await this.connections.put(connection);
    if (!(await this.connections.acquireSlot(connection, this.maxConnectionsPerUser))) {
      await this.connections.remove(connectionId);
      return 'too-many-connections';
    }
    let counted: boolean;
    try {
      counted = await this.connections.countConnection(connection, this.maxConnectionsPerTenant);
    } catch (error) {
      // The handshake fails (no $disconnect follows it): give the user's slot back now.
      await this.connections.remove(connectionId).catch(() => undefined);
      throw error;
    }
    if (!counted) {
      await this.connections.remove(connectionId);
      return 'tenant-at-limit';
    }
    return 'connected';
  }

  disconnect(connectionId: string): Promise<void> {
    return this.connections.remove(connectionId);
  }

  /**
   * Counts the message; an error reply when the connection is over its rate, or its session is
   * over (UNAUTHORIZED: the caller closes the connection).
   */
  async admit(connectionId: string): Promise<{ connection: ConnectionRecord } | { reply: ServerMessage }> {
    const connection = await this.connections.get(connectionId);
    if (!connection) return { reply: SESSION_UNKNOWN };
    if (connection.tokenExpiresAt <= nowSeconds()) return { reply: TOKEN_EXPIRED };
    const now = Date.now();
    const count = await this.connections.countMessage(connectionId, now - (now % 60_000));
    if (count > this.messagesPerMinute) return { reply: error('RATE_LIMITED', `more than ${this.messagesPerMinute} messages a minute`) };
    return { connection };
  }

  async subscribe(connection: ConnectionRecord, channelName: unknown, seq: unknown, received: ReceivedMessage): Promise<ServerMessage> {
    const channel = parseChannel(channelName);
    if (!channel)
      return error(
        'BAD_REQUEST',
        'channel must be product:<id>, order:<id> or dashboard',
        typeof channelName === 'string' && channelName.length <= 80 ? channelName : undefined,
      );
    if (seq !== undefined && !isSequenceNumber(seq)) return error('BAD_REQUEST', 'seq must be a non-negative integer', channel.name);
    if (!connection.permissions.includes(CHANNEL_PERMISSION[channel.kind])) {
      return error('FORBIDDEN', `missing permission ${CHANNEL_PERMISSION[channel.kind]}`, channel.name);
    }
    let snapshot: unknown;
    try {
      snapshot = await this.snapshot(connection.tenantId, channel);
    } catch (e) {
      // Another tenant's entity and a missing one look the same: no hint that it exists.
      if (e instanceof NotFoundError) return error('FORBIDDEN', `not allowed to subscribe to ${channel.name}`, channel.name);
      throw e;
    }
    const outcome = await this.connections.subscribe(connection, channel.name, messageOrder(received, seq));
    if (outcome === 'limit-reached')
      return error('BAD_REQUEST', `at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions per connection`, channel.name);
    if (outcome === 'no-connection') return SESSION_UNKNOWN;
    // An unsubscribe sent after this subscribe was applied first: it decides.
    if (outcome === 'superseded') return { type: 'unsubscribed', channel: channel.name };
    return { type: 'subscribed', channel: channel.name, snapshot };
  }

  async unsubscribe(connection: ConnectionRecord, channelName: unknown, seq: unknown, received: ReceivedMessage): Promise<ServerMessage> {
    const channel = parseChannel(channelName);
    if (!channel) return error('BAD_REQUEST', 'channel must be product:<id>, order:<id> or dashboard');
    if (seq !== undefined && !isSequenceNumber(seq)) return error('BAD_REQUEST', 'seq must be a non-negative integer', channel.name);
    const outcome = await this.connections.unsubscribe(connection, channel.name, messageOrder(received, seq));
    if (outcome === 'no-connection') return SESSION_UNKNOWN;
    return { type: 'unsubscribed', channel: channel.name };
  }

  /** The current state of a channel, read through the cache where it is cacheable (stock never is). */
  async snapshot(tenantId: string, channel: Channel): Promise<unknown> {
    switch (channel.kind) {
      case 'product': {
        const [{ data: product }, stock] = await Promise.all([
          this.catalog.getProduct(tenantId, channel.id),
          this.catalog.getStock(tenantId, channel.id),
        ]);
        return { ...stock, product };
      }
      case 'order': {
        const { data: order } = await this.catalog.getOrder(tenantId, channel.id);
        return { orderId: order.id, status: order.status, version: order.version, updatedAt: order.updatedAt, order };
      }
      case 'dashboard': {
        const message = dashboardMessage(tenantId, await this.repo.getDashboard(tenantId));
        return message.type === 'dashboard:metric' ? { tenantId, metrics: message.metrics, timestamp: message.timestamp } : undefined;
      }
    }
  }
}

export function errorReply(e: unknown): ServerMessage {
  if (e instanceof HttpError && e.statusCode < 500) return error(e.code, e.message);
  return error('UNAVAILABLE', 'try again shortly');
}
