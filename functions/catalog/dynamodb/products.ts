/**
 * DynamoDB adapter for products (the Shop table, see ../../shared/tables.ts): a tenant's
 * products and listings, the marketplace listing across tenants (gsi2), and a product's life:
 * created with its stock item, changed by compare-and-set on its version, deleted as a tombstone
 * (with its stock) whose id can be taken again. Every key is built from validated ids by shopKeys;
 * tenant isolation follows from the partition key: another tenant's item simply is not there.
 */
import {
  BatchGetCommand,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { shopKeys } from '../../shared/tables';
import { ConflictError, NotFoundError, PreconditionFailedError } from '../../shared/errors';
import type { MarketplaceListing, Page, Position, Product, ProductListing, UpdateProductInput } from '../model';
import type { NewProduct, ProductRepository } from '../ports';
import { toProduct } from './items';
import { cancellationReasons, conditionFailed, isConditionFailure } from './transactions';

/**
 * Items one page may read (before the filter), over at most PAGE_MAX_QUERIES queries: each query
 * asks for twice the previous one, from one more than the page (limit 1: 2 + 4 + ... + 246 = 500).
 */
export const PAGE_READ_BUDGET = 500;
const PAGE_MAX_QUERIES = 8;

/**
 * The ids in an item's (or a LastEvaluatedKey's) table key: every index of the Shop table projects
 * pk and sk, so a position is the same whichever index was read.
 */
function productIdOf(key: Record<string, unknown>): string {
  return String(key.sk).slice(shopKeys.product('').length);
}

function tenantIdOf(key: Record<string, unknown>): string {
  return String(key.pk).slice(shopKeys.tenant('').length);
}

function indexKeys(tenantId: string, p: { id: string; category: string; listed: boolean }) {
  return {
    gsi1pk: shopKeys.category(tenantId, p.category),
    gsi1sk: shopKeys.product(p.id),
    ...(p.listed ? { gsi2pk: shopKeys.marketplacePartition, gsi2sk: shopKeys.marketplaceSort(tenantId, p.id) } : {}),
  };
}

export class DynamoProductRepository implements ProductRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async getProduct(tenantId: string, productId: string): Promise<Product | null> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: shopKeys.tenant(tenantId), sk: shopKeys.product(productId) } }),
    );
    if (!out.Item || out.Item.deletedAt) return null;
    return toProduct(out.Item);
  }

  async listProducts(tenantId: string, query: ProductListing): Promise<Page<Product>> {
    const after = query.after?.[0];
    const needle = query.q?.toLowerCase();
    const base: QueryCommandInput = query.category
      ? {
          TableName: this.tableName,
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :pk',
          ExpressionAttributeValues: { ':pk': shopKeys.category(tenantId, query.category) },
          ...(after
            ? {
                ExclusiveStartKey: {
                  gsi1pk: shopKeys.category(tenantId, query.category),
                  gsi1sk: shopKeys.product(after),
                  pk: shopKeys.tenant(tenantId),
                  sk: shopKeys.product(after),
                },
              }
            : {}),
        }
      : {
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
          FilterExpression: 'attribute_not_exists(deletedAt)',
          ExpressionAttributeValues: { ':pk': shopKeys.tenant(tenantId), ':p': 'P#' },
          ...(after ? { ExclusiveStartKey: { pk: shopKeys.tenant(tenantId), sk: shopKeys.product(after) } } : {}),
        };
    if (needle) {
      base.FilterExpression = [base.FilterExpression, 'contains(nameLower, :q)'].filter(Boolean).join(' AND ');
      base.ExpressionAttributeValues = { ...base.ExpressionAttributeValues, ':q': needle };
    }
    return this.collect(base, query.limit, (key) => [productIdOf(key)]);
  }

  async listMarketplace(query: MarketplaceListing): Promise<Page<Product>> {
    const after = query.after;
    const input: QueryCommandInput = {
      TableName: this.tableName,
      IndexName: 'gsi2',
      KeyConditionExpression: 'gsi2pk = :pk',
      ExpressionAttributeValues: { ':pk': shopKeys.marketplacePartition },
      ...(after
        ? {
            ExclusiveStartKey: {
              gsi2pk: shopKeys.marketplacePartition,
              gsi2sk: shopKeys.marketplaceSort(after[0] as string, after[1] as string),
              pk: shopKeys.tenant(after[0] as string),
              sk: shopKeys.product(after[1] as string),
            },
          }
        : {}),
    };
    return this.collect(input, query.limit, (key) => [tenantIdOf(key), productIdOf(key)]);
  }

  /**
   * Reads until `limit` items pass the filter, within the page's read budget. A page is full, or
   * the end of the listing, or (the budget ran out first) what was found with `next` at the
   * last item read, so the next page goes on from there: a filter that rejects most items never
   * makes a page claim the end, nor one request read the whole partition.
   */
  private async collect(
    input: QueryCommandInput,
    limit: number,
    position: (key: Record<string, unknown>) => Position,
  ): Promise<Page<Product>> {
    const found: Record<string, unknown>[] = [];
    let startKey = input.ExclusiveStartKey;
    let budget = PAGE_READ_BUDGET;
    // One more than the page: without a filter the first query fills it and shows whether more follow.
    let chunk = limit + 1;
    for (let queries = 0; queries < PAGE_MAX_QUERIES && budget > 0; queries++) {
      const out = await this.db.send(
        new QueryCommand({ ...input, Limit: Math.min(chunk, budget), ...(startKey ? { ExclusiveStartKey: startKey } : {}) }),
      );
      for (const item of out.Items ?? []) {
        found.push(item);
        if (found.length > limit) {
          const data = found.slice(0, limit);
          return { data: data.map(toProduct), next: position(data[data.length - 1] as Record<string, unknown>) };
        }
      }
      startKey = out.LastEvaluatedKey;
      if (!startKey) return { data: found.map(toProduct), next: null };
      // Limit and ScannedCount count the items read before the filter.
      budget -= Math.max(1, out.ScannedCount ?? 0);
      chunk *= 2;
    }
    return { data: found.map(toProduct), next: startKey ? position(startKey) : null };
  }

  async createProduct(tenantId: string, input: NewProduct, lowStockThreshold: number): Promise<Product> {
    const now = new Date().toISOString();
    const product: Product = {
      id: input.id,
      tenantId,
      name: input.name,
      description: input.description,
      price: input.price,
      currency: input.currency,
      category: input.category,
      listed: input.listed,
      version: 1,
      updatedAt: now,
    };
    const pk = shopKeys.tenant(tenantId);
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: this.productItem(product, now),
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: {
                  pk,
                  sk: shopKeys.stock(input.id),
                  entity: 'stock',
                  tenantId,
                  productId: input.id,
                  stock: 0,
                  lowStockThreshold,
                  version: 1,
                  lastUpdated: now,
                },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      );
      return product;
    } catch (error) {
      if (!conditionFailed(cancellationReasons(error))) throw error;
    }
    // The id is taken: by a live product (409), or by a deleted one, which is created again.
    const existing = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { pk, sk: shopKeys.product(input.id) }, ConsistentRead: true }),
    );
    if (!existing.Item?.deletedAt || typeof existing.Item.version !== 'number') {
      throw new ConflictError(`product ${input.id} already exists`);
    }
    return this.createAgain(product, existing.Item.version, lowStockThreshold, now);
  }

  /**
   * A new product on the id of a deleted one. Versions go on from the deleted one's, product and
   * stock alike, so no reader (a cache, the SDK, an order in flight) can take the new product for
   * the old; stock starts over as for any new product, keeping the low-stock bookkeeping
   * (lowCounted) that the stream consumer still settles for the deleted one.
   */
  private async createAgain(fresh: Product, deletedVersion: number, lowStockThreshold: number, now: string): Promise<Product> {
    const product: Product = { ...fresh, version: deletedVersion + 1 };
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: this.productItem(product, now),
                // Still the deleted product read above: of concurrent creates of this id, one wins.
                ConditionExpression: 'attribute_exists(deletedAt) AND version = :seen',
                ExpressionAttributeValues: { ':seen': deletedVersion },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: { pk: shopKeys.tenant(product.tenantId), sk: shopKeys.stock(product.id) },
                UpdateExpression:
                  'SET entity = :entity, tenantId = :tenant, productId = :id, stock = :zero, lowStockThreshold = :threshold, ' +
                  'lastUpdated = :now, version = if_not_exists(version, :zero) + :one REMOVE deletedAt',
                ConditionExpression: 'attribute_not_exists(pk) OR attribute_exists(deletedAt)',
                ExpressionAttributeValues: {
                  ':entity': 'stock',
                  ':tenant': product.tenantId,
                  ':id': product.id,
                  ':zero': 0,
                  ':threshold': lowStockThreshold,
                  ':now': now,
                  ':one': 1,
                },
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (conditionFailed(cancellationReasons(error))) {
        throw new ConflictError(`product ${product.id} already exists`);
      }
      throw error;
    }
    return product;
  }

  private productItem(product: Product, createdAt: string): Record<string, unknown> {
    return {
      pk: shopKeys.tenant(product.tenantId),
      sk: shopKeys.product(product.id),
      entity: 'product',
      ...product,
      nameLower: product.name.toLowerCase(),
      createdAt,
      ...indexKeys(product.tenantId, product),
    };
  }

  async updateProduct(tenantId: string, productId: string, patch: UpdateProductInput, precondition?: (current: Product) => boolean) {
    const before = await this.getProductConsistent(tenantId, productId);
    if (!before) throw new NotFoundError(`product ${productId} not found`);
    if (precondition && !precondition(before)) throw new PreconditionFailedError();
    const after: Product = { ...before, ...patch, version: before.version + 1, updatedAt: new Date().toISOString() };
    const sets = [
      '#name = :name',
      'nameLower = :nameLower',
      'description = :description',
      'price = :price',
      'category = :category',
      'listed = :listed',
      'version = :next',
      'updatedAt = :now',
      'gsi1pk = :gsi1pk',
      'gsi1sk = :gsi1sk',
    ];
    const index = indexKeys(tenantId, after);
    const values: Record<string, unknown> = {
      ':name': after.name,
      ':nameLower': after.name.toLowerCase(),
      ':description': after.description,
      ':price': after.price,
      ':category': after.category,
      ':listed': after.listed,
      ':next': after.version,
      ':now': after.updatedAt,
      ':gsi1pk': index.gsi1pk,
      ':gsi1sk': index.gsi1sk,
      ':seen': before.version,
    };
    let expression = `SET ${sets.join(', ')}`;
    if (index.gsi2pk) {
      expression += ', gsi2pk = :gsi2pk, gsi2sk = :gsi2sk';
      values[':gsi2pk'] = index.gsi2pk;
      values[':gsi2sk'] = index.gsi2sk;
    } else {
      expression += ' REMOVE gsi2pk, gsi2sk';
    }
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: shopKeys.tenant(tenantId), sk: shopKeys.product(productId) },
          UpdateExpression: expression,
          // Compare-and-set on the version read above: a concurrent change makes this fail.
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(deletedAt) AND version = :seen',
          ExpressionAttributeNames: { '#name': 'name' },
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        if (precondition) throw new PreconditionFailedError();
        throw new ConflictError(`product ${productId} changed concurrently, retry`);
      }
      throw error;
    }
    return { before, after };
  }

  async deleteProduct(tenantId: string, productId: string): Promise<Product> {
    const now = new Date().toISOString();
    const pk = shopKeys.tenant(tenantId);
    const before = await this.getProductConsistent(tenantId, productId);
    if (!before) throw new NotFoundError(`product ${productId} not found`);
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: { pk, sk: shopKeys.product(productId) },
                UpdateExpression: 'SET deletedAt = :now, updatedAt = :now, version = version + :one REMOVE gsi1pk, gsi1sk, gsi2pk, gsi2sk',
                ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(deletedAt)',
                ExpressionAttributeValues: { ':now': now, ':one': 1 },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: { pk, sk: shopKeys.stock(productId) },
                // A new version: the low-stock count takes the deletion as a newer state.
                UpdateExpression: 'SET deletedAt = :now, lastUpdated = :now, version = if_not_exists(version, :zero) + :one',
                ExpressionAttributeValues: { ':now': now, ':zero': 0, ':one': 1 },
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (conditionFailed(cancellationReasons(error))) throw new NotFoundError(`product ${productId} not found`);
      throw error;
    }
    return before;
  }

  private async getProductConsistent(tenantId: string, productId: string): Promise<Product | null> {
    const out = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: shopKeys.tenant(tenantId), sk: shopKeys.product(productId) },
        ConsistentRead: true,
      }),
    );
    if (!out.Item || out.Item.deletedAt) return null;
    return toProduct(out.Item);
  }
}

/** Live products by id, read consistently (an order charges the prices read here). */
export async function batchGetProducts(
  db: DynamoDBDocumentClient,
  tableName: string,
  tenantId: string,
  ids: readonly string[],
): Promise<Map<string, Product>> {
  const found = new Map<string, Product>();
  let keys: Record<string, unknown>[] = ids.map((id) => ({ pk: shopKeys.tenant(tenantId), sk: shopKeys.product(id) }));
  for (let attempt = 0; keys.length > 0 && attempt < 5; attempt++) {
    const out = await db.send(new BatchGetCommand({ RequestItems: { [tableName]: { Keys: keys, ConsistentRead: true } } }));
    for (const item of out.Responses?.[tableName] ?? []) {
      if (!item.deletedAt) found.set(String(item.id), toProduct(item));
    }
    keys = (out.UnprocessedKeys?.[tableName]?.Keys as Record<string, unknown>[] | undefined) ?? [];
  }
  return found;
}
