/**
 * The catalogue: product reads through the cache, writes that invalidate what they change before
 * they answer, live stock that never touches a cache. Knows nothing of API Gateway, Redis or DynamoDB.
 */
import { randomUUID } from 'node:crypto';
import { strongEtag } from '../cache/envelope';
import { entries, generationKeys, productGenerations } from '../cache/keys';
import type { ReadThroughCache } from '../cache/two-tier-cache';
import { NotFoundError } from '../shared/errors';
import { ifMatchHolds } from '../shared/etags';
import type {
  CreateOrderInput,
  CreateProductInput,
  MarketplaceListing,
  Order,
  OrderStatus,
  Page,
  Product,
  ProductListing,
  StockLevel,
  UpdateProductInput,
} from './model';
import type { OrderRepository, ProductRepository, StockRepository } from './ports';

export interface Tagged<T> {
  readonly data: T;
  /** Strong ETag of the representation. */
  readonly etag: string;
}

/** A product with its live stock; `version` stays the product's, `stockVersion` is the stock's. */
export type ProductWithStock = Product & Omit<StockLevel, 'productId' | 'version'> & { readonly stockVersion: number };

/**
 * In every cached page's key: pages hold a position (`next`), no longer a cursor, so a container
 * of this version never reads a page an older one cached, nor the other way round, while both run.
 */
const PAGE_FORMAT = 2;

export interface CatalogSettings {
  readonly lowStockThreshold: number;
  readonly currency: string;
}

export class CatalogService {
  constructor(
    private readonly repo: ProductRepository & StockRepository & OrderRepository,
    private readonly cache: ReadThroughCache,
    private readonly settings: CatalogSettings,
  ) {}

  async getProduct(tenantId: string, productId: string): Promise<Tagged<Product>> {
    const cached = await this.cache.getOrLoad(entries.product(tenantId, productId), 'medium', () =>
      this.repo.getProduct(tenantId, productId),
    );
    if (cached.value === null) throw new NotFoundError(`product ${productId} not found`);
    return { data: cached.value, etag: cached.etag ?? strongEtag(cached.value) };
  }

  /** The cached product plus live stock (the design document's "cached product + real-time stock"). */
  async getProductWithStock(tenantId: string, productId: string): Promise<Tagged<ProductWithStock>> {
    const [{ data: product }, stock] = await Promise.all([this.getProduct(tenantId, productId), this.getStock(tenantId, productId)]);
    const data = {
      ...product,
      stock: stock.stock,
      availability: stock.availability,
      stockVersion: stock.version,
      lastUpdated: stock.lastUpdated,
    };
    return { data, etag: strongEtag(data) };
  }

  async listProducts(tenantId: string, listing: ProductListing): Promise<Tagged<Page<Product>>> {
    const key = entries.productList(tenantId, { ...listing, page: PAGE_FORMAT });
    const cached = await this.cache.getOrLoad(key, 'short', () => this.repo.listProducts(tenantId, listing));
    const page = cached.value as Page<Product>;
    return { data: page, etag: cached.etag ?? strongEtag(page) };
  }

  async listMarketplace(listing: MarketplaceListing): Promise<Tagged<Page<Product>>> {
    const cached = await this.cache.getOrLoad(entries.marketplace({ ...listing, page: PAGE_FORMAT }), 'short', () =>
      this.repo.listMarketplace(listing),
    );
    const page = cached.value as Page<Product>;
    return { data: page, etag: cached.etag ?? strongEtag(page) };
  }

  /** Live: straight from the table, consistent read. */
  async getStock(tenantId: string, productId: string): Promise<StockLevel> {
    const stock = await this.repo.getStock(tenantId, productId);
    if (!stock) throw new NotFoundError(`product ${productId} not found`);
    return stock;
  }

  async createProduct(tenantId: string, input: CreateProductInput): Promise<Product> {
    const product = await this.repo.createProduct(
      tenantId,
      { ...input, id: input.id ?? randomUUID(), currency: input.currency ?? this.settings.currency },
      this.settings.lowStockThreshold,
    );
    // A cached "not found" of this id and every list must go.
    await this.invalidateProduct(tenantId, product.id, product.listed);
    return product;
  }

  async updateProduct(tenantId: string, productId: string, patch: UpdateProductInput, ifMatch?: string): Promise<Product> {
    const precondition = ifMatch === undefined ? undefined : (current: Product) => ifMatchHolds(ifMatch, strongEtag(current));
    const { before, after } = await this.repo.updateProduct(tenantId, productId, patch, precondition);
    await this.invalidateProduct(tenantId, productId, before.listed || after.listed);
    return after;
  }

  async deleteProduct(tenantId: string, productId: string): Promise<void> {
    const before = await this.repo.deleteProduct(tenantId, productId);
    await this.invalidateProduct(tenantId, productId, before.listed);
  }

  /** Stock is never inside a cached body, so a stock change invalidates nothing. */
  adjustStock(tenantId: string, productId: string, delta: number): Promise<StockLevel> {
    return this.repo.adjustStock(tenantId, productId, delta);
  }

  createOrder(tenantId: string, userId: string, input: CreateOrderInput): Promise<Order> {
    return this.repo.createOrder(tenantId, userId, randomUUID(), input.lines);
  }

  async getOrder(tenantId: string, orderId: string): Promise<Tagged<Order>> {
    const order = await this.repo.getOrder(tenantId, orderId);
    if (!order) throw new NotFoundError(`order ${orderId} not found`);
    return { data: order, etag: strongEtag(order) };
  }

  updateOrderStatus(tenantId: string, orderId: string, status: OrderStatus): Promise<Order> {
    return this.repo.updateOrderStatus(tenantId, orderId, status);
  }

  private async invalidateProduct(tenantId: string, productId: string, marketplace: boolean): Promise<void> {
    await this.cache.invalidate([
      ...productGenerations(tenantId, productId),
      generationKeys.productLists(tenantId),
      ...(marketplace ? [generationKeys.marketplace()] : []),
    ]);
  }
}
