/**
 * DynamoDB adapter for products, stock and orders (the Shop table, see shared/tables.ts).
 * Every key is built from validated ids by shopKeys; tenant isolation follows from the
 * partition key: another tenant's item simply is not there.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, TransactionCanceledException, type CancellationReason } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { shopKeys } from '../shared/tables';
import { BadRequestError, ConflictError, errorName, NotFoundError, PreconditionFailedError } from '../shared/errors';
import {
  availabilityOf,
  MAX_ORDER_TOTAL,
  MAX_STOCK,
  ORDER_TRANSITIONS,
  type CreateProductInput,
  type DashboardFigures,
  type MarketplaceListing,
  type Order,
  type OrderLine,
  type OrderStatus,
  type Page,
  type Position,
  type Product,
  type ProductListing,
  type StockLevel,
  type UpdateProductInput,
} from './model';

export interface NewProduct extends Omit<CreateProductInput, 'id' | 'currency'> {
  readonly id: string;
  readonly currency: string;
}

/** The port the catalogue service uses. */
export interface ShopRepository {
  getProduct(tenantId: string, productId: string): Promise<Product | null>;
  /** Live products in id order, after `after`; `next` is the position the next page starts after. */
  listProducts(tenantId: string, listing: ProductListing): Promise<Page<Product>>;
  /** Listed live products of every tenant in tenant-then-id order, after `after`. */
  listMarketplace(listing: MarketplaceListing): Promise<Page<Product>>;
  /** 409 when the id is a live product's; a deleted product's id is taken again, versions going on past the deleted one's. */
  createProduct(tenantId: string, input: NewProduct, lowStockThreshold: number): Promise<Product>;
  /** precondition: the caller's If-Match, judged on the current product; the write is a compare-and-set on its version. */
  updateProduct(
    tenantId: string,
    productId: string,
    patch: UpdateProductInput,
    precondition?: (current: Product) => boolean,
  ): Promise<{ before: Product; after: Product }>;
  deleteProduct(tenantId: string, productId: string): Promise<Product>;
  getStock(tenantId: string, productId: string): Promise<StockLevel | null>;
  adjustStock(tenantId: string, productId: string, delta: number): Promise<StockLevel>;
  createOrder(tenantId: string, userId: string, orderId: string, lines: readonly { productId: string; quantity: number }[]): Promise<Order>;
  getOrder(tenantId: string, orderId: string): Promise<Order | null>;
  updateOrderStatus(tenantId: string, orderId: string, status: OrderStatus): Promise<Order>;
  getDashboard(tenantId: string): Promise<DashboardFigures>;
  /**
   * Keeps the tenant's low-stock count in step with one stock item's state at `version`.
   * Idempotent and order-safe: a replayed or older record changes nothing.
   */
  recordStockState(tenantId: string, productId: string, version: number, isLow: boolean): Promise<void>;
  ping(): Promise<void>;
}

interface ProductItem extends Product {
  readonly pk: string;
  readonly sk: string;
  readonly entity: 'product';
  readonly deletedAt?: string;
}

interface StockItem {
  readonly pk: string;
  readonly sk: string;
  readonly entity: 'stock';
  readonly tenantId: string;
  readonly productId: string;
  readonly stock: number;
  readonly lowStockThreshold: number;
  readonly version: number;
  readonly lastUpdated: string;
  readonly deletedAt?: string;
}

interface OrderItem extends Order {
  readonly pk: string;
  readonly sk: string;
  readonly entity: 'order';
}

/**
 * Items one page may read (before the filter), over at most PAGE_MAX_QUERIES queries: each query
 * asks for twice the previous one, from one more than the page (limit 1: 2 + 4 + ... + 246 = 500).
 */
export const PAGE_READ_BUDGET = 500;
const PAGE_MAX_QUERIES = 8;
/** Attempts of a transaction that lost only to another one on the same items (TransactionConflict). */
const ORDER_CONFLICT_ATTEMPTS = 5;

export function toProduct(item: Record<string, unknown>): Product {
  const p = item as unknown as ProductItem;
  return {
    id: p.id,
    tenantId: p.tenantId,
    name: p.name,
    description: p.description,
    price: p.price,
    currency: p.currency,
    category: p.category,
    listed: p.listed,
    version: p.version,
    updatedAt: p.updatedAt,
  };
}

export function toStockLevel(item: Record<string, unknown>): StockLevel {
  const s = item as unknown as StockItem;
  return {
    productId: s.productId,
    stock: s.stock,
    availability: availabilityOf(s.stock, s.lowStockThreshold),
    version: s.version,
    lastUpdated: s.lastUpdated,
  };
}

export function toOrder(item: Record<string, unknown>): Order {
  const o = item as unknown as OrderItem;
  return {
    id: o.id,
    tenantId: o.tenantId,
    userId: o.userId,
    lines: o.lines,
    total: o.total,
    currency: o.currency,
    status: o.status,
    version: o.version,
    createdAt: o.createdAt,
    updatedAt: o.updatedAt,
  };
}

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

function isConditionFailure(error: unknown): error is ConditionalCheckFailedException {
  return error instanceof ConditionalCheckFailedException || errorName(error) === 'ConditionalCheckFailedException';
}

function cancellationReasons(error: unknown): CancellationReason[] | undefined {
  if (error instanceof TransactionCanceledException || errorName(error) === 'TransactionCanceledException') {
    return (error as TransactionCanceledException).CancellationReasons ?? [];
  }
  return undefined;
}

/** DynamoDB's idempotency tokens are at most 36 characters. */
function requestToken(seed: string): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, 36);
}

/**
 * The sum of the lines, refused (400, nothing written) above MAX_ORDER_TOTAL. Every step is exact:
 * a line is at most MAX_LINE_QUANTITY × MAX_PRICE (10^15), and the sum so far at most the cap.
 */
export function orderTotal(lines: readonly OrderLine[]): number {
  let total = 0;
  for (const line of lines) {
    total += line.quantity * line.unitPrice;
    if (total > MAX_ORDER_TOTAL) throw new BadRequestError(`an order's total may be at most ${MAX_ORDER_TOTAL} minor units`);
  }
  return total;
}

/**
 * A figure read back from the table. DynamoDB keeps sums exactly (38 digits); past 2^53 - 1 the SDK
 * gives a bigint, and the figure reads 2^53 - 1 (Number.MAX_SAFE_INTEGER), never a wrapped or lost value.
 */
export function figure(value: unknown): number {
  if (typeof value === 'bigint') return value > 0n ? Number.MAX_SAFE_INTEGER : -Number.MAX_SAFE_INTEGER; // only outside the safe range
  return typeof value === 'number' ? value : 0;
}

export function today(now = new Date()): string {
  return now.toISOString().slice(0, 10);
}

export class DynamoShopRepository implements ShopRepository {
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
      if (!cancellationReasons(error)?.some((r) => r.Code === 'ConditionalCheckFailed')) throw error;
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
      if (cancellationReasons(error)?.some((r) => r.Code === 'ConditionalCheckFailed')) {
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
      if (cancellationReasons(error)?.some((r) => r.Code === 'ConditionalCheckFailed'))
        throw new NotFoundError(`product ${productId} not found`);
      throw error;
    }
    return before;
  }

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
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: shopKeys.tenant(tenantId), sk: shopKeys.stock(productId) },
          UpdateExpression: 'SET stock = stock + :delta, version = version + :one, lastUpdated = :now',
          // No arithmetic in conditions: "stock + delta >= 0" is "stock >= -delta", and "stock + delta <=
          // MAX_STOCK" is "stock <= MAX_STOCK - delta" (only an increase is held to it: cancellations
          // return their units even past it, and taking stock out is always allowed).
          ConditionExpression: `attribute_exists(pk) AND attribute_not_exists(deletedAt) AND ${delta > 0 ? 'stock <= :bound' : 'stock >= :bound'}`,
          ExpressionAttributeValues: {
            ':delta': delta,
            ':one': 1,
            ':now': new Date().toISOString(),
            ':bound': delta > 0 ? MAX_STOCK - delta : -delta,
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
        if (delta > 0) throw new ConflictError(`stock of ${productId} cannot go above ${MAX_STOCK}`);
        throw new ConflictError(`stock of ${productId} cannot go below 0`);
      }
      throw error;
    }
  }

  async createOrder(
    tenantId: string,
    userId: string,
    orderId: string,
    requested: readonly { productId: string; quantity: number }[],
  ): Promise<Order> {
    // Merge repeated products into one line each.
    const quantities = new Map<string, number>();
    for (const line of requested) quantities.set(line.productId, (quantities.get(line.productId) ?? 0) + line.quantity);
    const pk = shopKeys.tenant(tenantId);
    const ids = Array.from(quantities, ([productId]) => productId);
    const products = await this.batchGetProducts(tenantId, ids);
    const missing = ids.filter((id) => !products.has(id));
    if (missing.length > 0) throw new NotFoundError(`product ${missing[0]} not found`);
    const currencies = new Set([...products.values()].map((p) => p.currency));
    if (currencies.size > 1) throw new BadRequestError('all lines of an order must share one currency');
    const lines: OrderLine[] = ids.map((id) => ({
      productId: id,
      quantity: quantities.get(id) as number,
      unitPrice: (products.get(id) as Product).price,
    }));
    const total = orderTotal(lines);
    const now = new Date().toISOString();
    const order: Order = {
      id: orderId,
      tenantId,
      userId,
      lines,
      total,
      currency: [...currencies][0] as string,
      status: 'placed',
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
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
        const reasons = cancellationReasons(error);
        // Another order holds the same stock items right now: try again shortly, a few times.
        const conflictOnly =
          reasons?.some((r) => r.Code === 'TransactionConflict') && !reasons.some((r) => r.Code === 'ConditionalCheckFailed');
        if (conflictOnly && attempt < ORDER_CONFLICT_ATTEMPTS) {
          await new Promise((r) => setTimeout(r, Math.random() * 20 * 2 ** attempt));
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
    if (current.status === status) return current;
    if (!ORDER_TRANSITIONS[current.status].includes(status)) {
      throw new ConflictError(`an order cannot go from ${current.status} to ${status}`);
    }
    const now = new Date().toISOString();
    const pk = shopKeys.tenant(tenantId);
    const updated: Order = { ...current, status, version: current.version + 1, updatedAt: now };
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
            ...(status === 'cancelled'
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
            ...(status === 'cancelled'
              ? current.lines.map((line) => ({
                  Update: {
                    TableName: this.tableName,
                    Key: { pk, sk: shopKeys.stock(line.productId) },
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
        const conflictOnly =
          reasons?.some((r) => r.Code === 'TransactionConflict') && !reasons.some((r) => r.Code === 'ConditionalCheckFailed');
        if (!conflictOnly || attempt >= ORDER_CONFLICT_ATTEMPTS) throw error;
        await new Promise((r) => setTimeout(r, Math.random() * 20 * 2 ** attempt));
      }
    }
  }

  async ping(): Promise<void> {
    await this.db.send(new GetCommand({ TableName: this.tableName, Key: { pk: 'HEALTH', sk: 'HEALTH' } }));
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

  private async batchGetProducts(tenantId: string, ids: readonly string[]): Promise<Map<string, Product>> {
    const found = new Map<string, Product>();
    let keys: Record<string, unknown>[] = ids.map((id) => ({ pk: shopKeys.tenant(tenantId), sk: shopKeys.product(id) }));
    for (let attempt = 0; keys.length > 0 && attempt < 5; attempt++) {
      const out = await this.db.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }));
      for (const item of out.Responses?.[this.tableName] ?? []) {
        if (!item.deletedAt) found.set(String(item.id), toProduct(item));
      }
      keys = (out.UnprocessedKeys?.[this.tableName]?.Keys as Record<string, unknown>[] | undefined) ?? [];
    }
    return found;
  }
}
