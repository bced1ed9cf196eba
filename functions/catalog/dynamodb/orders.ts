/**
 * DynamoDB adapter for orders. Placing one is a single transaction: each product still the
 * version priced, its stock taken (never below 0), the order written, the day's figures counted;
 * a status change is a compare-and-set on the order read, with a cancellation's stock and revenue
 * given back in the same transaction. What an order is, and which moves are allowed, is ../orders.ts.
 */
import { GetCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { shopKeys } from '../../shared/tables';
import { ConflictError, NotFoundError } from '../../shared/errors';
import type { Order, OrderLine, OrderStatus, Product } from '../model';
import { moveOrder, orderQuantities, placeOrder, undoesOrder } from '../orders';
import type { OrderRepository, RequestedLine } from '../ports';
import { toOrder, today } from './items';
import { batchGetProducts } from './products';
import { CONFLICT_ATTEMPTS, cancellationReasons, conflictBackoff, conflictOnly, requestToken } from './transactions';

export class DynamoOrderRepository implements OrderRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async createOrder(tenantId: string, userId: string, orderId: string, requested: readonly RequestedLine[]): Promise<Order> {
    const quantities = orderQuantities(requested);
    const pk = shopKeys.tenant(tenantId);
    const products = await batchGetProducts(
      this.db,
      this.tableName,
      tenantId,
      Array.from(quantities, ([id]) => id),
    );
    const now = new Date().toISOString();
    const order = placeOrder({ tenantId, userId, orderId, quantities, products, now });
    const { lines, total } = order;
    const transactItems = {
      TransactItems: [
        ...lines.flatMap((line) => [
          {
            // The price we charge is the price of the version we read.
            ConditionCheck: {
              TableName: this.tableName,
              Key: { pk, sk: shopKeys.product(line.productId) },
              ConditionExpression: 'version = :v AND attribute_not_exists(deletedAt)',
              ExpressionAttributeValues: { ':v': (products.get(line.productId) as Product).version },
            },
          },
          {
            Update: {
              TableName: this.tableName,
              Key: { pk, sk: shopKeys.stock(line.productId) },
              UpdateExpression: 'SET stock = stock - :q, version = version + :one, lastUpdated = :now',
              // Never below 0 (../stock.ts): taking q out needs at least q there.
              ConditionExpression: 'attribute_exists(pk) AND stock >= :q',
              ExpressionAttributeValues: { ':q': line.quantity, ':one': 1, ':now': now },
            },
          },
        ]),
        {
          Put: {
            TableName: this.tableName,
            Item: { pk, sk: shopKeys.order(orderId), entity: 'order', ...order },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        {
          Update: {
            TableName: this.tableName,
            Key: { pk, sk: shopKeys.metrics(today()) },
            UpdateExpression: 'SET entity = :m, tenantId = :t, #day = :day ADD ordersToday :one, revenueToday :total',
            ExpressionAttributeNames: { '#day': 'day' },
            ExpressionAttributeValues: { ':m': 'metrics', ':t': tenantId, ':day': today(), ':one': 1, ':total': total },
          },
        },
      ],
    };
    for (let attempt = 1; ; attempt++) {
      try {
        // The token makes the SDK's own retries of this attempt idempotent (no double order).
        await this.db.send(new TransactWriteCommand({ ...transactItems, ClientRequestToken: requestToken(`${orderId}/${attempt}`) }));
        return order;
      } catch (error) {
        // Another order holds the same stock items right now: try again shortly, a few times.
        if (conflictOnly(cancellationReasons(error)) && attempt < CONFLICT_ATTEMPTS) {
          await conflictBackoff(attempt);
          continue;
        }
        throw this.orderFailure(error, lines);
      }
    }
  }

  /** The contract's 409 for a refused order; anything else as it was. */
  private orderFailure(error: unknown, lines: readonly OrderLine[]): unknown {
    const reasons = cancellationReasons(error);
    if (reasons) {
      const failed = reasons.findIndex((r) => r.Code === 'ConditionalCheckFailed');
      if (failed >= 0 && failed < lines.length * 2) {
        const line = lines[Math.floor(failed / 2)] as OrderLine;
        if (failed % 2 === 0) return new ConflictError(`product ${line.productId} changed while ordering, retry`);
        return new ConflictError(`not enough stock for product ${line.productId}`);
      }
      if (reasons.some((r) => r.Code === 'TransactionConflict'))
        return new ConflictError('concurrent orders touched the same stock, retry');
    }
    return error;
  }

  async getOrder(tenantId: string, orderId: string): Promise<Order | null> {
    const out = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: shopKeys.tenant(tenantId), sk: shopKeys.order(orderId) },
        ConsistentRead: true,
      }),
    );
    return out.Item ? toOrder(out.Item) : null;
  }

  async updateOrderStatus(tenantId: string, orderId: string, status: OrderStatus): Promise<Order> {
    const current = await this.getOrder(tenantId, orderId);
    if (!current) throw new NotFoundError(`order ${orderId} not found`);
    const now = new Date().toISOString();
    const updated = moveOrder(current, status, now);
    if (!updated) return current;
    const pk = shopKeys.tenant(tenantId);
    const undo = undoesOrder(status);
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: { pk, sk: shopKeys.order(orderId) },
                UpdateExpression: 'SET #status = :next, version = :nv, updatedAt = :now',
                // Only from the status we read: cancelling twice returns stock once.
                ConditionExpression: '#status = :current AND version = :v',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: {
                  ':next': status,
                  ':nv': updated.version,
                  ':now': now,
                  ':current': current.status,
                  ':v': current.version,
                },
              },
            },
            ...(undo
              ? [
                  {
                    Update: {
                      TableName: this.tableName,
                      Key: { pk, sk: shopKeys.metrics(current.createdAt.slice(0, 10)) },
                      UpdateExpression: 'ADD revenueToday :minus, cancelledToday :one',
                      ExpressionAttributeValues: { ':minus': -current.total, ':one': 1 },
                    },
                  },
                ]
              : []),
            ...(undo
              ? current.lines.map((line) => ({
                  Update: {
                    TableName: this.tableName,
                    Key: { pk, sk: shopKeys.stock(line.productId) },
                    // No bound: the units were there before the order took them.
                    UpdateExpression: 'SET stock = stock + :q, version = version + :one, lastUpdated = :now',
                    ExpressionAttributeValues: { ':q': line.quantity, ':one': 1, ':now': now },
                  },
                }))
              : []),
          ],
        }),
      );
    } catch (error) {
      if (cancellationReasons(error)) throw new ConflictError(`order ${orderId} changed concurrently, retry`);
      throw error;
    }
    return updated;
  }
}
