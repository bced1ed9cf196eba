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
 * - Connects of one tenant at its cap, and each connection's release: see "A tenant's open
 *   connections" below (one counter item, and the record's own close as the release's condition).
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
import { CONNECTION_LIFETIME_SECONDS, MAX_SUBSCRIPTIONS_PER_CONNECTION } from './ports';
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
/** API Gateway closes every connection 2 hours after it opened, whatever it does. */
const MAX_CONNECTION_SECONDS = 2 * 60 * 60;
/**
 * A bucket is pruned this long after its minute: the $disconnect API Gateway sends at the 2-hour
 * cap releases its connection first, as a rule (a release that comes later only tombstones).
 */
const PRUNE_AFTER_SECONDS = 2 * 60;
/** Buckets pruned in one write (each is a name and a value in its condition). */
const PRUNE_AT_ONCE = 50;
/** A tenant's reclaim runs at most once in this long (its lease on the counter item). */
const RECLAIM_LEASE_MS = 60_000;
/** The reclaim's bound: this many pages of the tenant's index, of this many connections. */
const RECLAIM_PAGES = 5;
const RECLAIM_PAGE_SIZE = 200;
/** Releases of one reclaim under way at once. */
const RECLAIM_CONCURRENCY = 8;
/** Attempts of a write to the tenant's counter that lost only to a transaction on it (TransactionConflict). */
const CONFLICT_ATTEMPTS = 5;

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

/**
 * Lost only to a transaction on the same item: a cancelled transaction whose reasons are
 * conflicts and no failed condition, or a single write refused while a transaction held the item.
 */
function isConflict(error: unknown): boolean {
  if (errorName(error) === 'TransactionConflictException') return true;
  if (errorName(error) !== 'TransactionCanceledException') return false;
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  return reasons.some((r) => r.Code === 'TransactionConflict') && !reasons.some((r) => r.Code === 'ConditionalCheckFailed');
}

/** What the silence of a connection is judged by: its META item's connectedAt and msgWindow. */
export interface HeardOf {
  readonly connectedAt?: number;
  /** The start of the minute of its last message (epoch ms). */
  readonly msgWindow?: number;
}

/**
 * Silent for longer than API Gateway's idle timeout, so certainly closed, whether or not
 * $disconnect said so. The one judgement of silence: the user's slots and the tenant's reclaim
 * both use it (the reclaim also as the condition of its write, silenceCondition()).
 */
export function silentPastIdleTimeout(record: HeardOf, nowMs = Date.now()): boolean {
  // msgWindow is the start of the minute of the last message: heard of until that minute's end.
  const lastHeard = Math.max(record.connectedAt ?? 0, (record.msgWindow ?? 0) + 60_000);
  return lastHeard < nowMs - IDLE_CLOSED_AFTER_SECONDS * 1000;
}

/** silentPastIdleTimeout() as a condition on the META item as it is when the write commits. */
function silenceCondition(nowMs: number): { expression: string; values: Record<string, number> } {
  const since = nowMs - IDLE_CLOSED_AFTER_SECONDS * 1000;
  return {
    expression: 'connectedAt < :silentSince AND (attribute_not_exists(msgWindow) OR msgWindow < :silentWindow)',
    values: { ':silentSince': since, ':silentWindow': since - 60_000 },
  };
}

/** The counter bucket of a connection: `b` and the minute its 2 hours end in (epoch minutes, rounded up). */
export function endBucket(connectedAtMs: number): string {
  return `b${Math.ceil((Math.floor(connectedAtMs / 1000) + MAX_CONNECTION_SECONDS) / 60)}`;
}

const BUCKET = /^b\d{1,12}$/;
/** When every connection of a bucket has certainly ended (epoch seconds). */
const bucketEnd = (bucket: string): number => Number(bucket.slice(1)) * 60;

/** The META item's view of the tenant's count: which bucket counts it, if any. */
interface CountedRecord {
  readonly connectionId?: string;
  readonly tenantId?: unknown;
  readonly userId?: unknown;
  readonly countedIn?: unknown;
  readonly closedAt?: unknown;
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
   * Removes the connection: marks it closed first (so no subscribe commits after this), releasing
   * its place in its tenant's count in the same transaction (closing is the release: it happens
   * once), then deletes every subscription of it, and frees its user's slot. Idempotent.
   */
  async remove(connectionId: string): Promise<void> {
    const pk = connectionKeys.connection(connectionId);
    const old = await this.close(connectionId);
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

  /**
   * Marks the connection closed (the tombstone), and when its tenant counts it, releases it in the
   * same transaction: the record's condition (counted, not closed yet) makes the release happen
   * once, whoever closes it ($disconnect, the fan-out, a refused connect, a reclaim) and however
   * often. The record as it was.
   */
  private async close(connectionId: string): Promise<CountedRecord | undefined> {
    const Key = { pk: connectionKeys.connection(connectionId), sk: connectionKeys.meta };
    const tombstone = 'SET closedAt = if_not_exists(closedAt, :now), expiresAt = if_not_exists(expiresAt, :later) REMOVE gsi1pk, gsi1sk';
    for (let attempt = 0; attempt < ATTEMPTS + CONFLICT_ATTEMPTS; attempt++) {
      const out = await this.db.send(
        new GetCommand({
          TableName: this.tableName,
          Key,
          ConsistentRead: true,
          ProjectionExpression: 'tenantId, userId, countedIn, closedAt',
        }),
      );
      const item = out.Item as CountedRecord | undefined;
      const bucket = item?.countedIn;
      let counted = item !== undefined && item.closedAt === undefined && typeof bucket === 'string' && typeof item.tenantId === 'string';
      if (counted) {
        try {
          await this.db.send(
            new TransactWriteCommand({
              TransactItems: [
                {
                  Update: {
                    TableName: this.tableName,
                    Key,
                    UpdateExpression: 'SET closedAt = :now, expiresAt = if_not_exists(expiresAt, :later) REMOVE gsi1pk, gsi1sk',
                    ConditionExpression: '#counted = :bucket AND attribute_not_exists(closedAt)',
                    ExpressionAttributeNames: { '#counted': 'countedIn' },
                    ExpressionAttributeValues: { ':bucket': bucket, ':now': Date.now(), ':later': nowSeconds() + TOMBSTONE_SECONDS },
                  },
                },
                this.subtraction(item?.tenantId as string, bucket as string),
              ],
            }),
          );
          return item;
        } catch (error) {
          if (isConflict(error)) {
            await sleep(fullJitter(attempt, 20));
            continue;
          }
          if (!isConditionFailure(error)) throw error;
          const [recordFailed, counterFailed] = failedConditions(error);
          if (recordFailed) continue; // closed meanwhile by another: read again (then only tombstone)
          if (counterFailed === false) throw error;
          // Its bucket was pruned (its 2 hours are over, and counted so): only the tombstone is left.
          counted = false;
        }
      }
      try {
        await this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key,
            UpdateExpression: tombstone,
            // Not counted (or pruned, or closed already): a count taken since this read is released first.
            ConditionExpression:
              typeof bucket === 'string'
                ? 'attribute_exists(closedAt) OR attribute_not_exists(#counted) OR #counted = :bucket'
                : 'attribute_exists(closedAt) OR attribute_not_exists(#counted)',
            ExpressionAttributeNames: { '#counted': 'countedIn' },
            ExpressionAttributeValues: {
              ':now': Date.now(),
              ':later': nowSeconds() + TOMBSTONE_SECONDS,
              ...(typeof bucket === 'string' ? { ':bucket': bucket } : {}),
            },
          }),
        );
        return item;
      } catch (error) {
        if (isConflict(error)) {
          await sleep(fullJitter(attempt, 20));
          continue;
        }
        if (!isConditionFailure(error)) throw error;
        // Counted meanwhile (its connect was still under way): release it.
      }
    }
    throw new Error(`connection ${connectionId} kept changing while it was closed`);
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
  // A tenant's open connections
  //
  // One counter item per tenant (pk T#<tenantId>, sk CONNECTIONS): `open`, the number of its
  // counted connections, and buckets `b<minute>`, how many of them end in that minute (connectedAt
  // plus API Gateway's 2 hours). `open` is always the sum of the buckets: a connect adds one to
  // both, a release takes one from both (only while its bucket is there), a prune removes a bucket
  // whose minute is over and takes its value from `open`. One item is enough: API Gateway opens at
  // most 500 connections a second per account (its quota for new connections), and one item takes
  // 1,000 writes a second.
  //
  // Connections that vanish without $disconnect stop counting in two ways: at their 2 hours'
  // end (their bucket is pruned), and, for those API Gateway closed as idle, by a reclaim that
  // reads the tenant's counted connections (gsi1, `<tenantId>#$connections`) and releases the
  // silent ones. A connect refused at the cap prunes, reclaims (at most once a minute per tenant,
  // a lease on the counter item), and tries once more.

  /**
   * Counts the connection in its tenant's `max` (put its record first). false when the tenant has
   * `max` connections that may still be open.
   */
  async countConnection(connection: ConnectionRecord, max: number): Promise<boolean> {
    const { tenantId } = connection;
    const bucket = endBucket(connection.connectedAt);
    let added = await this.addToTenant(tenantId, bucket, max);
    if (added === undefined) {
      await this.prune(tenantId);
      await this.reclaim(tenantId);
      added = await this.addToTenant(tenantId, bucket, max);
      if (added === undefined) return false;
    } else if (added === 1) {
      // The first connection of its minute: buckets whose minute is over go now, so the item
      // holds about 2 hours of buckets at most, once a minute at most.
      await this.prune(tenantId);
    }
    try {
      // The count belongs to the record from now on: whoever closes the record releases it.
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: connectionKeys.connection(connection.connectionId), sk: connectionKeys.meta },
          UpdateExpression: 'SET #counted = :bucket, gsi1pk = :index, gsi1sk = :id',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(closedAt)',
          ExpressionAttributeNames: { '#counted': 'countedIn' },
          ExpressionAttributeValues: {
            ':bucket': bucket,
            ':index': connectionKeys.tenantConnectionIndex(tenantId),
            ':id': connection.connectionId,
          },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // Closed while it was being counted: its close found nothing counted, so this gives it back.
      await this.subtract(tenantId, bucket);
    }
    return true;
  }

  /** The tenant's counted connections and buckets, as stored (tests and operators). */
  async tenantCount(tenantId: string): Promise<{ open: number; buckets: Record<string, number> }> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: this.counterKey(tenantId), ConsistentRead: true }));
    const item = (out.Item ?? {}) as Record<string, unknown>;
    const buckets = Object.fromEntries(
      Object.entries(item)
        .filter(([name]) => BUCKET.test(name))
        .map(([name, v]) => [name, Number(v)]),
    );
    return { open: Number(item.open ?? 0), buckets };
  }

  private counterKey(tenantId: string) {
    return { pk: connectionKeys.tenant(tenantId), sk: connectionKeys.tenantConnections };
  }

  /** One more in the tenant's count and the bucket, within `max`: the bucket's new value; undefined at the cap. */
  private async addToTenant(tenantId: string, bucket: string, max: number): Promise<number | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        const out = await this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: this.counterKey(tenantId),
            UpdateExpression: 'ADD #open :one, #bucket :one SET tenantId = :tenant, expiresAt = :ttl',
            ConditionExpression: 'attribute_not_exists(#open) OR #open < :max',
            ExpressionAttributeNames: { '#open': 'open', '#bucket': bucket },
            // The item outlives the newest connection's 2 hours (a later release finds no bucket then).
            ExpressionAttributeValues: { ':one': 1, ':tenant': tenantId, ':ttl': nowSeconds() + CONNECTION_LIFETIME_SECONDS, ':max': max },
            ReturnValues: 'UPDATED_NEW',
          }),
        );
        return Number(out.Attributes?.[bucket] ?? 1);
      } catch (error) {
        if (isConditionFailure(error)) return undefined;
        if (!isConflict(error) || attempt + 1 >= CONFLICT_ATTEMPTS) throw error;
        await sleep(fullJitter(attempt, 20));
      }
    }
  }

  /** The counter's half of a release: one less, while its bucket is there (a pruned one was subtracted already). */
  private subtraction(tenantId: string, bucket: string) {
    return {
      Update: {
        TableName: this.tableName,
        Key: this.counterKey(tenantId),
        UpdateExpression: 'ADD #open :minus, #bucket :minus',
        ConditionExpression: 'attribute_exists(#bucket)',
        ExpressionAttributeNames: { '#open': 'open', '#bucket': bucket },
        ExpressionAttributeValues: { ':minus': -1 },
      },
    };
  }

  /** The subtraction alone: a count its connect gives back (no record holds it). */
  private async subtract(tenantId: string, bucket: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.db.send(new UpdateCommand(this.subtraction(tenantId, bucket).Update));
        return;
      } catch (error) {
        if (isConditionFailure(error)) return;
        if (!isConflict(error) || attempt + 1 >= CONFLICT_ATTEMPTS) throw error;
        await sleep(fullJitter(attempt, 20));
      }
    }
  }

  /**
   * Removes the buckets whose connections have all ended (their 2 hours are over), taking their
   * values from the count: only if each still holds the value read, so a release committing
   * meanwhile is not subtracted twice. How many connections stopped counting.
   */
  private async prune(tenantId: string): Promise<number> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: this.counterKey(tenantId), ConsistentRead: true }));
      const now = nowSeconds();
      const over = Object.entries(out.Item ?? {})
        .filter(([name]) => BUCKET.test(name) && bucketEnd(name) + PRUNE_AFTER_SECONDS <= now)
        .slice(0, PRUNE_AT_ONCE)
        .map(([name, value]) => [name, Number(value)] as const);
      if (over.length === 0) return 0;
      const total = over.reduce((sum, [, value]) => sum + value, 0);
      try {
        await this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: this.counterKey(tenantId),
            UpdateExpression: `REMOVE ${over.map((_, i) => `#p${i}`).join(', ')} ADD #open :minus`,
            ConditionExpression: over.map((_, i) => `#p${i} = :p${i}`).join(' AND '),
            ExpressionAttributeNames: { '#open': 'open', ...Object.fromEntries(over.map(([name], i) => [`#p${i}`, name])) },
            ExpressionAttributeValues: { ':minus': -total, ...Object.fromEntries(over.map(([, value], i) => [`:p${i}`, value])) },
          }),
        );
        return total;
      } catch (error) {
        if (!isConditionFailure(error) && !isConflict(error)) throw error;
        // A release (or another prune) changed a bucket meanwhile: read again.
      }
    }
    return 0;
  }

  /**
   * Releases the tenant's counted connections that are certainly closed though no $disconnect
   * said so: silent for longer than API Gateway's idle timeout. At most once a minute per tenant
   * (a lease on the counter item), and bounded: RECLAIM_PAGES pages of the tenant's index, the
   * next reclaim going on from where this one stopped. How many were released.
   */
  private async reclaim(tenantId: string): Promise<number> {
    const now = Date.now();
    let from: string | undefined;
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.counterKey(tenantId),
          UpdateExpression: 'SET reclaimAt = :now',
          ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(reclaimAt) OR reclaimAt <= :before)',
          ExpressionAttributeValues: { ':now': now, ':before': now - RECLAIM_LEASE_MS },
          ReturnValues: 'ALL_OLD',
        }),
      );
      from = typeof out.Attributes?.reclaimFrom === 'string' ? out.Attributes.reclaimFrom : undefined;
    } catch (error) {
      if (isConditionFailure(error) || isConflict(error)) return 0; // another reclaim ran this minute
      throw error;
    }
    const index = connectionKeys.tenantConnectionIndex(tenantId);
    let startKey: Record<string, unknown> | undefined =
      from === undefined ? undefined : { gsi1pk: index, gsi1sk: from, pk: connectionKeys.connection(from), sk: connectionKeys.meta };
    let released = 0;
    for (let page = 0; page < RECLAIM_PAGES; page++) {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :index',
          ExpressionAttributeValues: { ':index': index },
          ProjectionExpression: 'connectionId, connectedAt, msgWindow, countedIn',
          Limit: RECLAIM_PAGE_SIZE,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      const silent = (out.Items ?? []).filter(
        (item) => typeof item.connectionId === 'string' && typeof item.countedIn === 'string' && silentPastIdleTimeout(item, now),
      );
      for (let i = 0; i < silent.length; i += RECLAIM_CONCURRENCY) {
        const results = await Promise.all(
          silent
            .slice(i, i + RECLAIM_CONCURRENCY)
            .map((item) => this.releaseSilent(tenantId, item.connectionId as string, item.countedIn as string, now)),
        );
        released += results.filter(Boolean).length;
      }
      startKey = out.LastEvaluatedKey;
      if (!startKey) break;
    }
    const next = typeof startKey?.gsi1sk === 'string' ? startKey.gsi1sk : undefined;
    await this.db
      .send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.counterKey(tenantId),
          UpdateExpression: next === undefined ? 'REMOVE reclaimFrom' : 'SET reclaimFrom = :next',
          ConditionExpression: 'attribute_exists(pk)',
          ...(next === undefined ? {} : { ExpressionAttributeValues: { ':next': next } }),
        }),
      )
      .catch((error: unknown) => {
        // Where the next reclaim starts is a hint: losing it costs a sweep from the start.
        if (!isConditionFailure(error) && !isConflict(error)) throw error;
      });
    return released;
  }

  /**
   * Closes and releases a counted connection that is silent past the idle timeout, judged again
   * in the write's condition (the index is read eventually consistent: a message since then keeps it).
   */
  private async releaseSilent(tenantId: string, connectionId: string, bucket: string, now: number): Promise<boolean> {
    const silence = silenceCondition(now);
    const close = {
      TableName: this.tableName,
      Key: { pk: connectionKeys.connection(connectionId), sk: connectionKeys.meta },
      UpdateExpression: 'SET closedAt = :now, expiresAt = if_not_exists(expiresAt, :later) REMOVE gsi1pk, gsi1sk',
      ConditionExpression: `#counted = :bucket AND attribute_not_exists(closedAt) AND ${silence.expression}`,
      ExpressionAttributeNames: { '#counted': 'countedIn' },
      ExpressionAttributeValues: { ':bucket': bucket, ':now': now, ':later': nowSeconds() + TOMBSTONE_SECONDS, ...silence.values },
    };
    for (let attempt = 0; attempt < CONFLICT_ATTEMPTS; attempt++) {
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: [{ Update: close }, this.subtraction(tenantId, bucket)] }));
        return true;
      } catch (error) {
        if (isConflict(error)) {
          await sleep(fullJitter(attempt, 20));
          continue;
        }
        if (!isConditionFailure(error)) throw error;
        const [recordFailed, counterFailed] = failedConditions(error);
        if (recordFailed || counterFailed === false) return false; // closed, or heard of, meanwhile
      }
      // Its bucket was pruned (counted so): only the tombstone is left.
      try {
        await this.db.send(new UpdateCommand(close));
      } catch (error) {
        if (!isConditionFailure(error) && !isConflict(error)) throw error;
      }
      return false;
    }
    return false;
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
    const gone = open.filter((id) => {
      if (unread.has(id)) return false;
      const record = records.get(id);
      return !record || record.closedAt !== undefined || silentPastIdleTimeout(record, now * 1000);
    });
    return [...over, ...gone];
  }
}
