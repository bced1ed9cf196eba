/**
 * DynamoDB adapter for live stock (a product's stock item in the Shop table): consistent reads,
 * and adjustments that are one conditional update, so the bounds of ../stock.ts hold however
 * many adjust at once. Orders take and return stock in their own transactions (./orders.ts).
 */
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { shopKeys } from '../../shared/tables';
import { NotFoundError } from '../../shared/errors';
import type { StockLevel } from '../model';
import type { StockRepository } from '../ports';
import { adjustmentBound, adjustmentRefused } from '../stock';
import { toStockLevel } from './items';
import { isConditionFailure } from './transactions';

export class DynamoStockRepository implements StockRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async getStock(tenantId: string, productId: string): Promise<StockLevel | null> {
    const out = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: shopKeys.tenant(tenantId), sk: shopKeys.stock(productId) },
        ConsistentRead: true,
      }),
    );
    if (!out.Item || out.Item.deletedAt) return null;
    return toStockLevel(out.Item);
  }

  async adjustStock(tenantId: string, productId: string, delta: number): Promise<StockLevel> {
    const bound = adjustmentBound(delta);
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: shopKeys.tenant(tenantId), sk: shopKeys.stock(productId) },
          UpdateExpression: 'SET stock = stock + :delta, version = version + :one, lastUpdated = :now',
          // The bound on the stock before (conditions have no arithmetic), checked by the write itself.
          ConditionExpression: `attribute_exists(pk) AND attribute_not_exists(deletedAt) AND ${'atMost' in bound ? 'stock <= :bound' : 'stock >= :bound'}`,
          ExpressionAttributeValues: {
            ':delta': delta,
            ':one': 1,
            ':now': new Date().toISOString(),
            ':bound': 'atMost' in bound ? bound.atMost : bound.atLeast,
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return toStockLevel(out.Attributes as Record<string, unknown>);
    } catch (error) {
      if (isConditionFailure(error)) {
        const old = error.Item;
        if (!old || old.deletedAt) throw new NotFoundError(`product ${productId} not found`);
        throw adjustmentRefused(productId, delta);
      }
      throw error;
    }
  }
}
