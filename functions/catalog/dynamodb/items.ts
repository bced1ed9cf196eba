/**
 * The Shop table's items (see ../../shared/tables.ts) read back as the domain's shapes, and the
 * figures and day keys the dashboard items are kept under. Shared by the adapters of this folder.
 */
import { availabilityOf, type Order, type Product, type StockLevel } from '../model';

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
 * A figure read back from the table. DynamoDB keeps sums exactly (38 digits); past 2^53 - 1 the SDK
 * gives a bigint, and the figure reads 2^53 - 1 (Number.MAX_SAFE_INTEGER), never a wrapped or lost value.
 */
export function figure(value: unknown): number {
  if (typeof value === 'bigint') return value > 0n ? Number.MAX_SAFE_INTEGER : -Number.MAX_SAFE_INTEGER; // only outside the safe range
  return typeof value === 'number' ? value : 0;
}

/** The day (UTC) whose metrics item counts what happens now. */
export function today(now = new Date()): string {
  return now.toISOString().slice(0, 10);
}
