/**
 * DynamoDB adapter for WebSocket connections and subscriptions (the Connections table).
 * "Who listens to channel X of tenant T" is one paginated Query on gsi1; "what does connection C
 * listen to" is one Query on its partition. Expiry is epoch SECONDS (DynamoDB TTL), and reads
 * ignore expired items because TTL deletes late.
 *
 * Three races are closed with conditional writes rather than hoped away:
 * - A subscribe and an unsubscribe of one channel handled at once: the row keeps the order of the
 *   message that set it (message-order.ts) and stays as an `off` row after an unsubscribe, so an
 *   earlier message committing later changes nothing.
 * - A subscribe committing while $disconnect removes the connection: $disconnect first marks the
 *   connection closed (a tombstone on its META row), and a subscribe commits only in a
 *   transaction that finds the connection open; then $disconnect deletes what it finds.
 * - Two connects of one user at the cap: the user's open connections are one item, added to with
 *   a condition on their number. Connections that vanished without $disconnect are found when the
 *   user is at the cap (their 2 hours are over, or they sent nothing for API Gateway's idle
 *   timeout, or their record is gone) and dropped then (user-slots.ts).
 * - Connects of one tenant at its cap, and each connection's release: see tenant-connections.ts
 *   (one counter item, and the record's own close as the release's condition).
 */
import {
  BatchWriteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { connectionKeys } from '../shared/tables';
import { ATTEMPTS, failedConditions, isConditionFailure, nowSeconds } from './connection-table';
import type { MessageOrder } from './message-order';
import type { ConnectionRecord, ConnectionStore, SubscribeOutcome, SubscriberPage, UnsubscribeOutcome } from './ports';
import { MAX_SUBSCRIPTIONS_PER_CONNECTION } from './ports';
import { fullJitter, sleep } from '../shared/retry';
import { TenantConnections } from './tenant-connections';
import { UserSlots } from './user-slots';

// The port's shapes, re-exported for the modules that still import them from here.
export type { ConnectionRecord, SubscribeOutcome, SubscriberPage, UnsubscribeOutcome } from './ports';

export { CONNECTION_LIFETIME_SECONDS, MAX_SUBSCRIPTIONS_PER_CONNECTION } from './ports';
// What moved to the modules this store composes, re-exported for those that import it from here.
export { IDLE_CLOSED_AFTER_SECONDS, silentPastIdleTimeout, type HeardOf } from './connection-table';
export { endBucket } from './tenant-connections';
export { userKey } from './user-slots';

const ON = 'on';
const OFF = 'off';
const ROW_NAMES = { '#state': 'state', '#seq': 'seq' } as const;
/** On as of an earlier message (a row written before rows kept their order counts as on, oldest). */
const IS_ON_BEFORE =
  'attribute_exists(pk) AND (#state = :on OR attribute_not_exists(#state)) AND (attribute_not_exists(#seq) OR #seq < :seq)';

interface SubscriptionRow {
  readonly state?: string;
  readonly seq?: string;
}

export class DynamoConnectionStore implements ConnectionStore {
  /** A tenant's open connections: its counter, and the release that closes a connection's record. */
  private readonly tenants: TenantConnections;
  /** A user's open connections: their slots. */
  private readonly slots: UserSlots;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {
    this.tenants = new TenantConnections(db, tableName);
    this.slots = new UserSlots(db, tableName);
  }

  async put(connection: ConnectionRecord): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: connectionKeys.connection(connection.connectionId), sk: connectionKeys.meta, ...connection, subCount: 0 },
      }),
    );
  }

  /** The open connection; undefined when it is unknown, expired or closed. */
  async get(connectionId: string): Promise<ConnectionRecord | undefined> {
    const out = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: connectionKeys.connection(connectionId), sk: connectionKeys.meta },
        ConsistentRead: true,
      }),
    );
    const item = out.Item as (Omit<ConnectionRecord, 'tokenExpiresAt'> & { closedAt?: number; tokenExpiresAt?: number }) | undefined;
    if (!item || item.closedAt !== undefined || typeof item.tenantId !== 'string' || item.expiresAt <= nowSeconds()) return undefined;
    return {
      connectionId: item.connectionId,
      tenantId: item.tenantId,
      userId: item.userId,
      permissions: item.permissions,
      connectedAt: item.connectedAt,
      expiresAt: item.expiresAt,
      // A record written before sessions ended with their token: its connection's lifetime.
      tokenExpiresAt: item.tokenExpiresAt ?? item.expiresAt,
    };
  }

  /**
   * Removes the connection: marks it closed first (so no subscribe commits after this), and the
   * call that closes it releases its place in its tenant's count (closing decides the release: it
   * happens once), then deletes every subscription of it, and frees its user's slot. Idempotent.
   */
  async remove(connectionId: string): Promise<void> {
    const pk = connectionKeys.connection(connectionId);
    const old = await this.tenants.close(connectionId);
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sub)',
          ExpressionAttributeValues: { ':pk': pk, ':sub': connectionKeys.subscriptionPrefix },
          ProjectionExpression: 'pk, sk',
          // Every subscription committed before the tombstone, none after it.
          ConsistentRead: true,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      // The table's keys are strings (shared/tables.ts).
      const keys = (page.Items ?? []).map((item) => ({ pk: item.pk as string, sk: item.sk as string }));
      for (let i = 0; i < keys.length; i += 25) {
        let requests = keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }));
        for (let attempt = 0; requests.length > 0 && attempt < 5; attempt++) {
          const result = await this.db.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }));
          requests = (result.UnprocessedItems?.[this.tableName] as typeof requests | undefined) ?? [];
          if (requests.length > 0) await sleep(fullJitter(attempt, 20));
        }
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    if (typeof old?.tenantId === 'string' && typeof old.userId === 'string') await this.releaseSlot(old.tenantId, old.userId, connectionId);
  }

  /** Subscribes as of the message `order`: applied only if no later message of the channel was. */
  async subscribe(connection: ConnectionRecord, channel: string, order: MessageOrder): Promise<SubscribeOutcome> {
    const pk = connectionKeys.connection(connection.connectionId);
    const sk = connectionKeys.subscription(channel);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        await this.db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Update: {
                  TableName: this.tableName,
                  Key: { pk, sk: connectionKeys.meta },
                  UpdateExpression: 'ADD subCount :one',
                  ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(closedAt) AND subCount < :max',
                  ExpressionAttributeValues: { ':one': 1, ':max': MAX_SUBSCRIPTIONS_PER_CONNECTION },
                },
              },
              {
                Put: {
                  TableName: this.tableName,
                  Item: {
                    pk,
                    sk,
                    state: ON,
                    seq: order,
                    gsi1pk: connectionKeys.channel(connection.tenantId, channel),
                    gsi1sk: connection.connectionId,
                    connectionId: connection.connectionId,
                    tenantId: connection.tenantId,
                    channel,
                    tokenExpiresAt: connection.tokenExpiresAt,
                    expiresAt: connection.expiresAt,
                  },
                  // New, or off as of an earlier message.
                  ConditionExpression: 'attribute_not_exists(pk) OR (#state = :off AND #seq < :seq)',
                  ExpressionAttributeNames: ROW_NAMES,
                  ExpressionAttributeValues: { ':off': OFF, ':seq': order },
                },
              },
            ],
          }),
        );
        return 'subscribed';
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        const [metaFailed, rowFailed] = failedConditions(error);
        if (rowFailed) {
          // On already, or set by a later message: which one decides the answer.
          const decided = await this.alreadySubscribed(pk, sk, order);
          if (decided !== 'changed') return decided;
          continue;
        }
        if (metaFailed === false) throw error; // cancelled for another reason
        return (await this.get(connection.connectionId)) ? 'limit-reached' : 'no-connection';
      }
    }
    throw new Error(`subscription ${channel} kept changing`);
  }

  /** The row is on (keep its newest order) or was set by a later message. */
  private async alreadySubscribed(pk: string, sk: string, order: MessageOrder): Promise<'already-subscribed' | 'superseded' | 'changed'> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk, sk },
          UpdateExpression: 'SET #seq = :seq',
          ConditionExpression: IS_ON_BEFORE,
          ExpressionAttributeNames: ROW_NAMES,
          ExpressionAttributeValues: { ':on': ON, ':seq': order },
        }),
      );
      return 'already-subscribed';
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const row = await this.row(pk, sk);
    if (!row) return 'changed';
    if (row.seq !== undefined && row.seq >= order) return row.state === ON ? 'already-subscribed' : 'superseded';
    return 'changed';
  }

  /** Unsubscribes as of the message `order`: applied only if no later message of the channel was. */
  async unsubscribe(connection: ConnectionRecord, channel: string, order: MessageOrder): Promise<UnsubscribeOutcome> {
    const pk = connectionKeys.connection(connection.connectionId);
    const sk = connectionKeys.subscription(channel);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        // On as of an earlier message: off now, out of the channel's index, one slot freed.
        await this.db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Update: {
                  TableName: this.tableName,
                  Key: { pk, sk },
                  UpdateExpression: 'SET #state = :off, #seq = :seq REMOVE gsi1pk, gsi1sk',
                  ConditionExpression: IS_ON_BEFORE,
                  ExpressionAttributeNames: ROW_NAMES,
                  ExpressionAttributeValues: { ':on': ON, ':off': OFF, ':seq': order },
                },
              },
              {
                Update: {
                  TableName: this.tableName,
                  Key: { pk, sk: connectionKeys.meta },
                  UpdateExpression: 'ADD subCount :minus',
                  ConditionExpression: 'attribute_exists(pk)',
                  ExpressionAttributeValues: { ':minus': -1 },
                },
              },
            ],
          }),
        );
        return 'unsubscribed';
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        const [rowFailed] = failedConditions(error);
        if (!rowFailed) return 'no-connection';
      }
      // Not on, or set by a later message: record "off as of this message" so that an earlier
      // subscribe committing after this one cannot subscribe (only while the connection is open).
      try {
        await this.db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                ConditionCheck: {
                  TableName: this.tableName,
                  Key: { pk, sk: connectionKeys.meta },
                  ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(closedAt)',
                },
              },
              {
                Put: {
                  TableName: this.tableName,
                  Item: {
                    pk,
                    sk,
                    state: OFF,
                    seq: order,
                    connectionId: connection.connectionId,
                    tenantId: connection.tenantId,
                    channel,
                    expiresAt: connection.expiresAt,
                  },
                  ConditionExpression: 'attribute_not_exists(pk) OR (#state = :off AND #seq < :seq)',
                  ExpressionAttributeNames: ROW_NAMES,
                  ExpressionAttributeValues: { ':off': OFF, ':seq': order },
                },
              },
            ],
          }),
        );
        return 'unsubscribed';
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        const [metaFailed, rowFailed] = failedConditions(error);
        if (metaFailed) return 'no-connection';
        if (rowFailed === false) throw error;
      }
      const row = await this.row(pk, sk);
      if (row?.seq !== undefined && row.seq >= order) return row.state === OFF ? 'unsubscribed' : 'superseded';
      // Subscribed as of an earlier message meanwhile: unsubscribe it (next attempt).
    }
    throw new Error(`subscription ${channel} kept changing`);
  }

  private async row(pk: string, sk: string): Promise<SubscriptionRow | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: { pk, sk }, ConsistentRead: true }));
    return out.Item as SubscriptionRow | undefined;
  }

  /** One page of subscribers of a tenant's channel: the live ones, and those whose token expired. */
  async subscribers(tenantId: string, channel: string, startKey?: Record<string, unknown>): Promise<SubscriberPage> {
    const now = nowSeconds();
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :c',
        FilterExpression: 'expiresAt > :now',
        ExpressionAttributeValues: { ':c': connectionKeys.channel(tenantId, channel), ':now': now },
        ProjectionExpression: 'connectionId, tokenExpiresAt',
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    const connectionIds: string[] = [];
    const expired: string[] = [];
    for (const item of out.Items ?? []) {
      const tokenExpiresAt = item.tokenExpiresAt as number | undefined;
      (tokenExpiresAt !== undefined && tokenExpiresAt <= now ? expired : connectionIds).push(String(item.connectionId));
    }
    return { connectionIds, expired, ...(out.LastEvaluatedKey ? { next: out.LastEvaluatedKey } : {}) };
  }

  /**
   * Counts a client message in the connection's current minute; returns the count so far.
   * Two conditional writes at most: one to count, one to start a new window.
   */
  async countMessage(connectionId: string, windowStart: number, retried = false): Promise<number> {
    const Key = { pk: connectionKeys.connection(connectionId), sk: connectionKeys.meta };
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key,
          UpdateExpression: 'ADD msgCount :one',
          ConditionExpression: 'msgWindow = :w',
          ExpressionAttributeValues: { ':one': 1, ':w': windowStart },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return Number(out.Attributes?.msgCount ?? 1);
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key,
          UpdateExpression: 'SET msgWindow = :w, msgCount = :one',
          ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(msgWindow) OR msgWindow < :w)',
          ExpressionAttributeValues: { ':one': 1, ':w': windowStart },
        }),
      );
      return 1;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // Another message started this window first (or the connection is gone): count once more.
      return retried ? 1 : this.countMessage(connectionId, windowStart, true);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // A tenant's open connections (tenant-connections.ts)

  /**
   * Counts the connection in its tenant's `max` (put its record first). false when the tenant has
   * `max` connections that may still be open.
   */
  async countConnection(connection: ConnectionRecord, max: number): Promise<boolean> {
    return this.tenants.countConnection(connection, max);
  }

  /** The tenant's counted connections and buckets, as stored (tests and operators). */
  async tenantCount(tenantId: string): Promise<{ open: number; buckets: Record<string, number> }> {
    return this.tenants.tenantCount(tenantId);
  }

  // ---------------------------------------------------------------------------------------------
  // A user's open connections (user-slots.ts)

  /**
   * Takes one of the user's `max` connection slots for the connection (put its record first: a
   * slot whose connection has no record counts as vanished). false when all are taken by
   * connections that may still be open.
   */
  async acquireSlot(connection: ConnectionRecord, max: number): Promise<boolean> {
    return this.slots.acquireSlot(connection, max);
  }

  /** Frees the connection's slot. Idempotent. */
  async releaseSlot(tenantId: string, userId: string, connectionId: string): Promise<void> {
    return this.slots.releaseSlot(tenantId, userId, connectionId);
  }
}
