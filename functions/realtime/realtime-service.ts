/**
 * WebSocket sessions: connections, subscriptions with permission and tenant checks, snapshots on
 * subscribe (so a client that reconnects is whole again at once), and the per-connection message
 * rate. Knows nothing of API Gateway: handlers hand it ids and parsed messages.
 */
import type { CatalogService } from '../catalog/catalog-service';
import type { ShopRepository } from '../catalog/shop-repository';
import { HttpError, NotFoundError } from '../shared/errors';
import { CHANNEL_PERMISSION, parseChannel, type Channel } from './channels';
import { CONNECTION_LIFETIME_SECONDS, type ConnectionRecord, type ConnectionStore } from './connection-store';
import { dashboardMessage } from './fan-out';
import type { ServerMessage } from './messages';

export interface Identity {
  readonly tenantId: string;
  readonly userId: string;
  readonly permissions: readonly string[];
}

export const MESSAGES_PER_MINUTE = 100;

/** Errors of a subscribe or unsubscribe name the channel, so a client can tell which one failed. */
const error = (code: string, message: string, channel?: string): ServerMessage => ({
  type: 'error',
  code,
  message,
  ...(channel ? { channel } : {}),
});

export class RealtimeService {
  constructor(
    private readonly connections: ConnectionStore,
    private readonly catalog: CatalogService,
    private readonly repo: ShopRepository,
    private readonly messagesPerMinute = MESSAGES_PER_MINUTE,
  ) {}

  async connect(connectionId: string, identity: Identity, connectedAt: number): Promise<void> {
    await this.connections.put({
      connectionId,
      ...identity,
      connectedAt,
      expiresAt: Math.floor(connectedAt / 1000) + CONNECTION_LIFETIME_SECONDS,
    });
  }

  disconnect(connectionId: string): Promise<void> {
    return this.connections.remove(connectionId);
  }

  /** Counts the message; an error reply when the connection is over its rate, or gone. */
  async admit(connectionId: string): Promise<{ connection: ConnectionRecord } | { reply: ServerMessage }> {
    const connection = await this.connections.get(connectionId);
    if (!connection) return { reply: error('UNAUTHORIZED', 'connection unknown or expired; reconnect') };
    const now = Date.now();
    const count = await this.connections.countMessage(connectionId, now - (now % 60_000));
    if (count > this.messagesPerMinute) return { reply: error('RATE_LIMITED', `more than ${this.messagesPerMinute} messages a minute`) };
    return { connection };
  }

  async subscribe(connection: ConnectionRecord, channelName: unknown): Promise<ServerMessage> {
    const channel = parseChannel(channelName);
    if (!channel)
      return error(
        'BAD_REQUEST',
        'channel must be product:<id>, order:<id> or dashboard',
        typeof channelName === 'string' && channelName.length <= 80 ? channelName : undefined,
      );
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
    const outcome = await this.connections.subscribe(connection, channel.name);
    if (outcome === 'limit-reached') return error('BAD_REQUEST', 'at most 50 subscriptions per connection', channel.name);
    if (outcome === 'no-connection') return error('UNAUTHORIZED', 'connection unknown or expired; reconnect');
    return { type: 'subscribed', channel: channel.name, snapshot };
  }

  async unsubscribe(connection: ConnectionRecord, channelName: unknown): Promise<ServerMessage> {
    const channel = parseChannel(channelName);
    if (!channel) return error('BAD_REQUEST', 'channel must be product:<id>, order:<id> or dashboard');
    await this.connections.unsubscribe(connection.connectionId, channel.name);
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
