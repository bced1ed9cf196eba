/**
 * A user's open connections in the Connections table (part of the ConnectionStore adapter,
 * connection-store.ts): one item per user, its slots, added to with a condition on their number,
 * so two connects of one user at the cap cannot both take the last one. Connections that vanished
 * without $disconnect are found when the user is at the cap (their 2 hours are over, or they sent
 * nothing for API Gateway's idle timeout, or their record is gone) and dropped then.
 */
import { createHash } from 'node:crypto';
import { BatchGetCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { connectionKeys } from '../shared/tables';
import { ATTEMPTS, isConditionFailure, nowSeconds, silentPastIdleTimeout } from './connection-table';
import type { ConnectionRecord } from './ports';

/** A fixed-length key for a user id (a `sub` is up to 256 characters of anything). */
export function userKey(userId: string): string {
  return createHash('sha256').update(userId).digest('base64url');
}

export class UserSlots {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

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
