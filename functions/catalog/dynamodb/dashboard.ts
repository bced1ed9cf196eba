/**
 * DynamoDB adapter for the dashboard figures: the day's metrics item (orders, revenue and
 * cancellations, counted by the order transactions of ./orders.ts) and the tenant's current
 * low-stock count, kept in step with its stock items by the stream consumer (recordStockState).
 */
import { GetCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { shopKeys } from '../../shared/tables';
import type { DashboardFigures } from '../model';
import type { DashboardRepository } from '../ports';
import { figure, today } from './items';
import { CONFLICT_ATTEMPTS, cancellationReasons, conflictBackoff, conflictOnly } from './transactions';

export class DynamoDashboardRepository implements DashboardRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async getDashboard(tenantId: string): Promise<DashboardFigures> {
    const day = today();
    const pk = shopKeys.tenant(tenantId);
    const [daily, current] = await Promise.all(
      [shopKeys.metrics(day), shopKeys.metrics('current')].map((sk) =>
        this.db.send(new GetCommand({ TableName: this.tableName, Key: { pk, sk }, ConsistentRead: true })),
      ),
    );
    return {
      day,
      ordersToday: figure(daily?.Item?.ordersToday),
      revenueToday: figure(daily?.Item?.revenueToday),
      cancelledToday: figure(daily?.Item?.cancelledToday),
      lowStockCount: Math.max(0, figure(current?.Item?.lowStockCount)),
    };
  }

  async recordStockState(tenantId: string, productId: string, version: number, isLow: boolean): Promise<void> {
    const pk = shopKeys.tenant(tenantId);
    const transaction = () =>
      this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: { pk, sk: shopKeys.stock(productId) },
                UpdateExpression: 'SET lowCounted = :low, lowCountedVersion = :v',
                // Only a newer state that differs from the counted one moves the count.
                ConditionExpression:
                  'attribute_exists(pk) AND (attribute_not_exists(lowCountedVersion) OR lowCountedVersion < :v) AND ' +
                  (isLow ? '(attribute_not_exists(lowCounted) OR lowCounted = :false)' : 'lowCounted = :true'),
                ExpressionAttributeValues: { ':low': isLow, ':v': version, ...(isLow ? { ':false': false } : { ':true': true }) },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: { pk, sk: shopKeys.metrics('current') },
                UpdateExpression: 'SET entity = :m, tenantId = :t ADD lowStockCount :d',
                ExpressionAttributeValues: { ':m': 'metrics', ':t': tenantId, ':d': isLow ? 1 : -1 },
              },
            },
          ],
        }),
      );
    // Every low-stock change of a tenant updates its one counter item: concurrent batches of the
    // stream consumer can collide there (TransactionConflict). The state check makes a retry
    // harmless, so retry a few times rather than fail the batch (and, past its retries, lose the count).
    for (let attempt = 1; ; attempt++) {
      try {
        await transaction();
        return;
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (reasons?.[0]?.Code === 'ConditionalCheckFailed') return; // nothing to count
        if (!conflictOnly(reasons) || attempt >= CONFLICT_ATTEMPTS) throw error;
        await conflictBackoff(attempt);
      }
    }
  }
}
