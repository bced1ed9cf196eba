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
 *   timeout, or their record is gone) and dropped then.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { errorName } from '../shared/errors';
import { connectionKeys } from '../shared/tables';
import type { MessageOrder } from './message-order';
import type { ConnectionRecord, ConnectionStore, SubscribeOutcome, SubscriberPage, UnsubscribeOutcome } from './ports';
import { MAX_SUBSCRIPTIONS_PER_CONNECTION } from './ports';
import { fullJitter, sleep } from '../shared/retry';

// The port's shapes, re-exported for the modules that still import them from here.
export type { ConnectionRecord, SubscribeOutcome, SubscriberPage, UnsubscribeOutcome } from './ports';

export { CONNECTION_LIFETIME_SECONDS, MAX_SUBSCRIPTIONS_PER_CONNECTION } from './ports';
/**
 * API Gateway closes a connection that sent nothing for 10 minutes. A connection whose last
 * message is older than this (plus a margin) is closed, whether or not $disconnect said so.
 */
export const IDLE_CLOSED_AFTER_SECONDS = 10 * 60 + 2 * 60;
/** A tombstone written for a connection that had no record left. */
const TOMBSTONE_SECONDS = 15 * 60;

const nowSeconds = () => Math.floor(Date.now() / 1000);
const ON = 'on';
const OFF = 'off';
const ROW_NAMES = { '#state': 'state', '#seq': 'seq' } as const;
/** On as of an earlier message (a row written before rows kept their order counts as on, oldest). */
const IS_ON_BEFORE =
  'attribute_exists(pk) AND (#state = :on OR attribute_not_exists(#state)) AND (attribute_not_exists(#seq) OR #seq < :seq)';
/** Attempts of an optimistic write that found the item changed by another writer. */
const ATTEMPTS = 4;

function isConditionFailure(error: unknown): boolean {
  const name = errorName(error);
  return (
    error instanceof ConditionalCheckFailedException ||
    name === 'ConditionalCheckFailedException' ||
    name === 'TransactionCanceledException'
  );
}

/** Which items of a cancelled transaction failed their condition. */
function failedConditions(error: unknown): boolean[] {
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  return reasons.map((reason) => reason.Code === 'ConditionalCheckFailed');
}

/** A fixed-length key for a user id (a `sub` is up to 256 characters of anything). */
export function userKey(userId: string): string {
  return createHash('sha256').update(userId).digest('base64url');
}

interface SubscriptionRow {
  readonly state?: string;
  readonly seq?: string;
}

export class DynamoConnectionStore implements ConnectionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

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
   * Removes the connection: marks it closed first (so no subscribe commits after this), then
   * deletes every subscription of it, and frees its user's slot. Idempotent.
   */
  async remove(connectionId: string): Promise<void> {
    const pk = connectionKeys.connection(connectionId);
    const out = await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk, sk: connectionKeys.meta },
        UpdateExpression: 'SET closedAt = if_not_exists(closedAt, :now), expiresAt = if_not_exists(expiresAt, :later)',
        ExpressionAttributeValues: { ':now': Date.now(), ':later': nowSeconds() + TOMBSTONE_SECONDS },
        ReturnValues: 'ALL_OLD',
      }),
    );
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
    const old = out.Attributes as { tenantId?: unknown; userId?: unknown } | undefined;
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
  // A user's open connections

  /**
   * Takes one of the user's `max` connection slots for the connection (put its record first: a
   * slot whose connection has no record counts as vanished). false when all are taken by
   * connections that may still be open.
   */
  async acquireSlot(connection: ConnectionRecord, max: number): Promise<boolean> {
    const Key = { pk: connectionKeys.user(connection.tenantId, userKey(connection.userId)), sk: connectionKeys.slots };
    // API Gateway's 2 hours; the item goes with the newest connection's.
    const end = Math.floor(connection.connectedAt / 1000) + 2 * 60 * 60;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        await this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key,
            UpdateExpression: 'SET slots.#c = :end, expiresAt = :ttl',
            ConditionExpression: 'size(slots) < :max',
            ExpressionAttributeNames: { '#c': connection.connectionId },
            ExpressionAttributeValues: { ':end': end, ':ttl': end + 10 * 60, ':max': max },
          }),
        );
        return true;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key, ConsistentRead: true }));
      const slots = (out.Item?.slots as Record<string, number> | undefined) ?? undefined;
      if (!slots) {
        try {
          await this.db.send(
            new PutCommand({
              TableName: this.tableName,
              Item: { ...Key, tenantId: connection.tenantId, slots: { [connection.connectionId]: end }, expiresAt: end + 10 * 60 },
              ConditionExpression: 'attribute_not_exists(pk)',
            }),
          );
          return true;
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
          continue; // another connect of the user created it first
        }
      }
      if (Object.keys(slots).length < max) continue; // one was freed meanwhile
      const vanished = await this.vanished(slots, connection.connectionId);
      if (vanished.length === 0) return false;
      try {
        // Only those still holding the value judged: a slot taken again meanwhile stays.
        const names = Object.fromEntries(vanished.map((id, i) => [`#v${i}`, id]));
        const values = Object.fromEntries(vanished.map((id, i) => [`:v${i}`, slots[id]]));
        await this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key,
            UpdateExpression: `REMOVE ${vanished.map((_, i) => `slots.#v${i}`).join(', ')}`,
            ConditionExpression: vanished.map((_, i) => `slots.#v${i} = :v${i}`).join(' AND '),
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
    return false;
  }

  /** Frees the connection's slot. Idempotent. */
  async releaseSlot(tenantId: string, userId: string, connectionId: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: connectionKeys.user(tenantId, userKey(userId)), sk: connectionKeys.slots },
          UpdateExpression: 'REMOVE slots.#c',
          ConditionExpression: 'attribute_exists(slots.#c)',
          ExpressionAttributeNames: { '#c': connectionId },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /**
   * The slots whose connection is certainly closed although no $disconnect freed them: past
   * API Gateway's 2 hours, without a record (or a closed one), or silent for longer than API
   * Gateway's idle timeout (the last message counted in its minute, `msgWindow`).
   */
  private async vanished(slots: Record<string, number>, except: string): Promise<string[]> {
    const now = nowSeconds();
    const ids = Object.keys(slots).filter((id) => id !== except);
    const over = ids.filter((id) => Number(slots[id]) <= now);
    const open = ids.filter((id) => Number(slots[id]) > now);
    const records = new Map<string, { closedAt?: number; connectedAt?: number; msgWindow?: number }>();
    let keys = open.map((id) => ({ pk: connectionKeys.connection(id), sk: connectionKeys.meta }));
    // At most `max` records; unprocessed keys are read again, twice, then taken for open.
    for (let attempt = 0; keys.length > 0 && attempt < 3; attempt++) {
      const out = await this.db.send(
        new BatchGetCommand({
          RequestItems: {
            [this.tableName]: { Keys: keys, ConsistentRead: true, ProjectionExpression: 'connectionId, closedAt, connectedAt, msgWindow' },
          },
        }),
      );
      for (const item of out.Responses?.[this.tableName] ?? []) records.set(String(item.connectionId), item);
      keys = (out.UnprocessedKeys?.[this.tableName]?.Keys as typeof keys | undefined) ?? [];
    }
    const unread = new Set(keys.map((key) => key.pk.slice(2)));
    const silentSince = (now - IDLE_CLOSED_AFTER_SECONDS) * 1000;
    const gone = open.filter((id) => {
      if (unread.has(id)) return false;
      const record = records.get(id);
      if (!record || record.closedAt !== undefined) return true;
      // msgWindow is the start of the minute of the last message.
      const lastActive = Math.max(record.connectedAt ?? 0, (record.msgWindow ?? 0) + 60_000);
      return lastActive < silentSince;
    });
    return [...over, ...gone];
  }
}
