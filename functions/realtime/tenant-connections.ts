/**
 * A tenant's open connections in the Connections table (part of the ConnectionStore adapter,
 * connection-store.ts, which delegates to this): its counter item, the buckets, their pruning, the
 * reclaim of connections API Gateway closed as idle, and the release, once, of each counted
 * connection by whoever closes its record (the close's condition decides who).
 *
 * One counter item per tenant (pk T#<tenantId>, sk CONNECTIONS): `open`, the number of its
 * counted connections, and buckets `b<minute>`, how many of them end in that minute (connectedAt
 * plus API Gateway's 2 hours). `open` is always the sum of the buckets: a connect adds one to
 * both, a release takes one from both (only while its bucket is there), a prune removes a bucket
 * whose minute is over and takes its value from `open`. One item is enough: API Gateway opens at
 * most 500 connections a second per account (its quota for new connections), and one item takes
 * 1,000 writes a second.
 *
 * Connections that vanish without $disconnect stop counting in two ways: at their 2 hours'
 * end (their bucket is pruned), and, for those API Gateway closed as idle, by a reclaim that
 * reads the tenant's counted connections (gsi1, `<tenantId>#$connections`) and releases the
 * silent ones. A connect refused at the cap prunes, reclaims (at most once a minute per tenant,
 * a lease on the counter item), and tries once more.
 */
import { GetCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { fullJitter, sleep } from '../shared/retry';
import { connectionKeys } from '../shared/tables';
import { ATTEMPTS, isConditionFailure, isConflict, nowSeconds, silenceCondition, silentPastIdleTimeout } from './connection-table';
import { CONNECTION_LIFETIME_SECONDS, type ConnectionRecord } from './ports';

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
/** Attempts of a write that lost only to a transaction on its item (TransactionConflict). */
const CONFLICT_ATTEMPTS = 5;

/** The counter bucket of a connection: `b` and the minute its 2 hours end in (epoch minutes, rounded up). */
export function endBucket(connectedAtMs: number): string {
  return `b${Math.ceil((Math.floor(connectedAtMs / 1000) + MAX_CONNECTION_SECONDS) / 60)}`;
}

const BUCKET = /^b\d{1,12}$/;
/** When every connection of a bucket has certainly ended (epoch seconds). */
const bucketEnd = (bucket: string): number => Number(bucket.slice(1)) * 60;

/** The META item's view of the tenant's count: which bucket counts it, if any. */
export interface CountedRecord {
  readonly connectionId?: string;
  readonly tenantId?: unknown;
  readonly userId?: unknown;
  readonly countedIn?: unknown;
  readonly closedAt?: unknown;
}

/** The record's half of a release: the close of its META item, with the release's condition. */
type CloseUpdate = UpdateCommandInput;

/** What one try of a release came to (tryRelease()). */
type ReleaseTry =
  | { readonly outcome: 'released' }
  /** Lost only to another transaction on the record (waited already). */
  | { readonly outcome: 'conflict' }
  /** The record's condition failed: closed (or, for a reclaim, heard of) meanwhile. */
  | { readonly outcome: 'record-failed' }
  /** Cancelled with neither condition failed. */
  | { readonly outcome: 'cancelled'; readonly error: unknown }
  /** Only the counter's condition failed: the bucket was pruned (its count taken already). */
  | { readonly outcome: 'bucket-gone' };

export class TenantConnections {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Marks the connection closed (the tombstone), and when its tenant counts it, releases it: the
   * record's condition (counted, not closed yet) makes the release happen once, whoever closes it ($disconnect, the fan-out, a refused connect, a reclaim) and however
   * often. The record as it was.
   */
  async close(connectionId: string): Promise<CountedRecord | undefined> {
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
        const close = {
          TableName: this.tableName,
          Key,
          UpdateExpression: 'SET closedAt = :now, expiresAt = if_not_exists(expiresAt, :later) REMOVE gsi1pk, gsi1sk',
          ConditionExpression: '#counted = :bucket AND attribute_not_exists(closedAt)',
          ExpressionAttributeNames: { '#counted': 'countedIn' },
          ExpressionAttributeValues: { ':bucket': bucket, ':now': Date.now(), ':later': nowSeconds() + TOMBSTONE_SECONDS },
        };
        const tried = await this.tryRelease(close, item?.tenantId as string, bucket as string, attempt);
        if (tried.outcome === 'released') return item;
        if (tried.outcome === 'conflict') continue;
        if (tried.outcome === 'record-failed') continue; // closed meanwhile by another: read again (then only tombstone)
        if (tried.outcome === 'cancelled') throw tried.error;
        // Its bucket was pruned (its 2 hours are over, and counted so): only the tombstone is left.
        counted = false;
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

  /**
   * One try of a release: the record's close (`close`, whose condition lets one caller alone close
   * it), then the counter's subtraction, that caller's to make. Two writes, not one transaction:
   * every connect and close of a tenant writes its one counter item, and transactions on an item
   * fail each other (TransactionConflict) where plain updates of it simply queue; a storm of
   * closes would spend its retries. Should the subtraction never come (the function dies between
   * the two), the count stays until its bucket's 2 hours are over, when pruning takes it.
   * A close lost to a concurrent write waits (the attempt's jitter) and answers 'conflict'.
   */
  private async tryRelease(close: CloseUpdate, tenantId: string, bucket: string, attempt: number): Promise<ReleaseTry> {
    try {
      await this.db.send(new UpdateCommand(close));
    } catch (error) {
      if (isConflict(error)) {
        await sleep(fullJitter(attempt, 20));
        return { outcome: 'conflict' };
      }
      if (isConditionFailure(error)) return { outcome: 'record-failed' };
      throw error;
    }
    // A pruned bucket was subtracted already: subtract() then changes nothing.
    await this.subtract(tenantId, bucket);
    return { outcome: 'released' };
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
      const tried = await this.tryRelease(close, tenantId, bucket, attempt);
      if (tried.outcome === 'released') return true;
      if (tried.outcome === 'conflict') continue;
      if (tried.outcome === 'record-failed' || tried.outcome === 'cancelled') return false; // closed, or heard of, meanwhile
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
}
