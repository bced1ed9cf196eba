/**
 * The whole Shop table behind one object: the per-aggregate adapters of this folder on one
 * client and table, as the container builds it (`new DynamoShopRepository(documentClient, tableName)`),
 * plus the reads that span them: an entity's current version, and the health check's.
 */
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { shopKeys } from '../../shared/tables';
import type {
  DashboardFigures,
  MarketplaceListing,
  Order,
  OrderStatus,
  Page,
  Product,
  ProductListing,
  StockLevel,
  UpdateProductInput,
} from '../model';
import type { NewProduct, RequestedLine, ShopRepository, VersionedEntity } from '../ports';
import { DynamoDashboardRepository } from './dashboard';
import { DynamoOrderRepository } from './orders';
import { DynamoProductRepository } from './products';
import { DynamoStockRepository } from './stock';

export class DynamoShopRepository implements ShopRepository {
  private readonly products: DynamoProductRepository;
  private readonly stock: DynamoStockRepository;
  private readonly orders: DynamoOrderRepository;
  private readonly dashboard: DynamoDashboardRepository;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {
    this.products = new DynamoProductRepository(db, tableName);
    this.stock = new DynamoStockRepository(db, tableName);
    this.orders = new DynamoOrderRepository(db, tableName);
    this.dashboard = new DynamoDashboardRepository(db, tableName);
  }

  getProduct(tenantId: string, productId: string): Promise<Product | null> {
    return this.products.getProduct(tenantId, productId);
  }

  listProducts(tenantId: string, listing: ProductListing): Promise<Page<Product>> {
    return this.products.listProducts(tenantId, listing);
  }

  listMarketplace(listing: MarketplaceListing): Promise<Page<Product>> {
    return this.products.listMarketplace(listing);
  }

  createProduct(tenantId: string, input: NewProduct, lowStockThreshold: number): Promise<Product> {
    return this.products.createProduct(tenantId, input, lowStockThreshold);
  }

  updateProduct(
    tenantId: string,
    productId: string,
    patch: UpdateProductInput,
    precondition?: (current: Product) => boolean,
  ): Promise<{ before: Product; after: Product }> {
    return this.products.updateProduct(tenantId, productId, patch, precondition);
  }

  deleteProduct(tenantId: string, productId: string): Promise<Product> {
    return this.products.deleteProduct(tenantId, productId);
  }

  getStock(tenantId: string, productId: string): Promise<StockLevel | null> {
    return this.stock.getStock(tenantId, productId);
  }

  adjustStock(tenantId: string, productId: string, delta: number): Promise<StockLevel> {
    return this.stock.adjustStock(tenantId, productId, delta);
  }

  createOrder(tenantId: string, userId: string, orderId: string, lines: readonly RequestedLine[]): Promise<Order> {
    return this.orders.createOrder(tenantId, userId, orderId, lines);
  }

  getOrder(tenantId: string, orderId: string): Promise<Order | null> {
    return this.orders.getOrder(tenantId, orderId);
  }

  updateOrderStatus(tenantId: string, orderId: string, status: OrderStatus): Promise<Order> {
    return this.orders.updateOrderStatus(tenantId, orderId, status);
  }

  getDashboard(tenantId: string): Promise<DashboardFigures> {
    return this.dashboard.getDashboard(tenantId);
  }

  recordStockState(tenantId: string, productId: string, version: number, isLow: boolean): Promise<void> {
    return this.dashboard.recordStockState(tenantId, productId, version, isLow);
  }

  async currentVersion(entity: VersionedEntity, tenantId: string, id: string): Promise<number | undefined> {
    const out = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: shopKeys.tenant(tenantId), sk: shopKeys[entity](id) },
        ConsistentRead: true,
        ProjectionExpression: 'version',
      }),
    );
    const version: unknown = out.Item?.version;
    return typeof version === 'number' ? version : undefined;
  }

  async ping(): Promise<void> {
    await this.db.send(new GetCommand({ TableName: this.tableName, Key: { pk: 'HEALTH', sk: 'HEALTH' } }));
  }
}
