/**
 * The ports of the catalogue domain: what the catalogue and real-time services ask of storage,
 * one interface per aggregate (products, stock, orders, dashboard figures). Types only, in the
 * domain's own terms (./model.ts): the DynamoDB adapter (./dynamodb/) implements them.
 */
import type {
  CreateProductInput,
  DashboardFigures,
  MarketplaceListing,
  Order,
  OrderStatus,
  Page,
  Product,
  ProductListing,
  StockLevel,
  UpdateProductInput,
} from './model';

/** A product to create: its id and currency already decided (the caller's, or the defaults). */
export interface NewProduct extends Omit<CreateProductInput, 'id' | 'currency'> {
  readonly id: string;
  readonly currency: string;
}

/** A line as a client asks for it; lines of one product are added up when the order is placed. */
export interface RequestedLine {
  readonly productId: string;
  readonly quantity: number;
}

export interface ProductRepository {
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
}

export interface StockRepository {
  getStock(tenantId: string, productId: string): Promise<StockLevel | null>;
  /** Within the limits of ./stock.ts: 409 past them, 404 for a missing or deleted product. */
  adjustStock(tenantId: string, productId: string, delta: number): Promise<StockLevel>;
}

export interface OrderRepository {
  /** Placed by the rules of ./orders.ts, with its stock taken and the day's figures counted, all at once. */
  createOrder(tenantId: string, userId: string, orderId: string, lines: readonly RequestedLine[]): Promise<Order>;
  getOrder(tenantId: string, orderId: string): Promise<Order | null>;
  /** A move ./orders.ts allows, from the status read: a cancellation returns the stock and the revenue. */
  updateOrderStatus(tenantId: string, orderId: string, status: OrderStatus): Promise<Order>;
}

export interface DashboardRepository {
  getDashboard(tenantId: string): Promise<DashboardFigures>;
  /**
   * Keeps the tenant's low-stock count in step with one stock item's state at `version`.
   * Idempotent and order-safe: a replayed or older record changes nothing.
   */
  recordStockState(tenantId: string, productId: string, version: number, isLow: boolean): Promise<void>;
}

/** The entities whose every change moves a version (each its own counter: a product's stock and the product count apart). */
export type VersionedEntity = 'product' | 'stock' | 'order';

export interface EntityVersions {
  /**
   * The entity's version in the table now (a consistent read; a deleted product or its stock
   * keeps the version its deletion set); undefined when there is no such item.
   */
  currentVersion(entity: VersionedEntity, tenantId: string, id: string): Promise<number | undefined>;
}

export interface StorageHealth {
  /** Resolves when the store answers (the health check). */
  ping(): Promise<void>;
}

/** Everything the services use, as one object: what the container builds and hands round. */
export type ShopRepository = ProductRepository & StockRepository & OrderRepository & DashboardRepository & EntityVersions & StorageHealth;
