/**
 * DynamoDB adapter for WebSocket connections and subscriptions (the Connections table).
 * "Who listens to channel X of tenant T" is one paginated Query on gsi1; "what does connection C
 * listen to" is one Query on its partition. Expiry is epoch SECONDS (DynamoDB TTL), and reads
 * ignore expired items because TTL deletes late.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
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

export interface ConnectionRecord {
  readonly connectionId: string;
  readonly tenantId: string;
  readonly userId: string;
  readonly permissions: readonly string[];
  readonly connectedAt: number;
  /** Epoch seconds. */
  readonly expiresAt: number;
}

export interface SubscriberPage {
  readonly connectionIds: readonly string[];
  readonly next?: Record<string, unknown>;
}

/** API Gateway closes a connection after 2 hours; items outlive it by a margin. */
export const CONNECTION_LIFETIME_SECONDS = 2 * 60 * 60 + 10 * 60;
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 50;

export type SubscribeOutcome = 'subscribed' | 'already-subscribed' | 'limit-reached' | 'no-connection';

const nowSeconds = () => Math.floor(Date.now() / 1000);

function isConditionFailure(error: unknown): boolean {
  const name = errorName(error);
  return (
    error instanceof ConditionalCheckFailedException ||
    name === 'ConditionalCheckFailedException' ||
    name === 'TransactionCanceledException'
  );
}

export class ConnectionStore {
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

  async get(connectionId: string): Promise<ConnectionRecord | undefined> {
    const out = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: connectionKeys.connection(connectionId), sk: connectionKeys.meta },
        ConsistentRead: true,
      }),
    );
    const item = out.Item as (ConnectionRecord & { expiresAt: number }) | undefined;
    if (!item || item.expiresAt <= nowSeconds()) return undefined;
    return {
      connectionId: item.connectionId,
      tenantId: item.tenantId,
      userId: item.userId,
      permissions: item.permissions,
      connectedAt: item.connectedAt,
      expiresAt: item.expiresAt,
    };
  }

  /** Removes the connection and every subscription of it. Idempotent. */
  async remove(connectionId: string): Promise<void> {
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': connectionKeys.connection(connectionId) },
          ProjectionExpression: 'pk, sk',
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      // The table's keys are strings (shared/tables.ts).
      const keys = (out.Items ?? []).map((item) => ({ pk: item.pk as string, sk: item.sk as string }));
      for (let i = 0; i < keys.length; i += 25) {
        let requests = keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }));
        for (let attempt = 0; requests.length > 0 && attempt < 5; attempt++) {
          const result = await this.db.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }));
          requests = (result.UnprocessedItems?.[this.tableName] as typeof requests | undefined) ?? [];
          if (requests.length > 0) await new Promise((r) => setTimeout(r, 20 * 2 ** attempt));
        }
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);
  }

  async subscribe(connection: ConnectionRecord, channel: string): Promise<SubscribeOutcome> {
    const pk = connectionKeys.connection(connection.connectionId);
    const existing = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { pk, sk: connectionKeys.subscription(channel) }, ConsistentRead: true }),
    );
    if (existing.Item) return 'already-subscribed';
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: { pk, sk: connectionKeys.meta },
                UpdateExpression: 'ADD subCount :one',
                ConditionExpression: 'attribute_exists(pk) AND subCount < :max',
                ExpressionAttributeValues: { ':one': 1, ':max': MAX_SUBSCRIPTIONS_PER_CONNECTION },
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: {
                  pk,
                  sk: connectionKeys.subscription(channel),
                  gsi1pk: connectionKeys.channel(connection.tenantId, channel),
                  gsi1sk: connection.connectionId,
                  connectionId: connection.connectionId,
                  tenantId: connection.tenantId,
                  channel,
                  expiresAt: connection.expiresAt,
                },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      );
      return 'subscribed';
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
      if (reasons[1]?.Code === 'ConditionalCheckFailed') return 'already-subscribed';
      return (await this.get(connection.connectionId)) ? 'limit-reached' : 'no-connection';
    }
  }

  /** true when a subscription was removed. */
  async unsubscribe(connectionId: string, channel: string): Promise<boolean> {
    const pk = connectionKeys.connection(connectionId);
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Delete: {
                TableName: this.tableName,
                Key: { pk, sk: connectionKeys.subscription(channel) },
                ConditionExpression: 'attribute_exists(pk)',
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
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** One page of live subscribers of a tenant's channel. */
  async subscribers(tenantId: string, channel: string, startKey?: Record<string, unknown>): Promise<SubscriberPage> {
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :c',
        FilterExpression: 'expiresAt > :now',
        ExpressionAttributeValues: { ':c': connectionKeys.channel(tenantId, channel), ':now': nowSeconds() },
        ProjectionExpression: 'connectionId',
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    return {
      connectionIds: (out.Items ?? []).map((item) => String(item.connectionId)),
      ...(out.LastEvaluatedKey ? { next: out.LastEvaluatedKey } : {}),
    };
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
}
