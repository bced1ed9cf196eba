/** The shapes of the contract (../shared/docs/contract.md), with the schemas that validate input. */
import { z } from 'zod';
import { ID_PATTERN } from '../shared/ids';

export const idSchema = z.string().regex(ID_PATTERN, `must match ${ID_PATTERN.source}`);

export interface Product {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
  readonly description: string;
  /** Integer minor units. */
  readonly price: number;
  readonly currency: string;
  readonly category: string;
  readonly listed: boolean;
  readonly version: number;
  readonly updatedAt: string;
}

export type Availability = 'in_stock' | 'low_stock' | 'out_of_stock';

export interface StockLevel {
  readonly productId: string;
  readonly stock: number;
  readonly availability: Availability;
  readonly version: number;
  readonly lastUpdated: string;
}

export const ORDER_STATUSES = ['placed', 'paid', 'packed', 'shipped', 'delivered', 'cancelled'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export interface OrderLine {
  readonly productId: string;
  readonly quantity: number;
  readonly unitPrice: number;
}

export interface Order {
  readonly id: string;
  readonly tenantId: string;
  readonly userId: string;
  readonly lines: readonly OrderLine[];
  readonly total: number;
  readonly currency: string;
  readonly status: OrderStatus;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** Today's figures of a tenant, kept atomically as orders and stock change. */
export interface DashboardFigures {
  readonly day: string;
  readonly ordersToday: number;
  readonly revenueToday: number;
  readonly cancelledToday: number;
  readonly lowStockCount: number;
}

export interface Page<T> {
  readonly data: readonly T[];
  readonly nextCursor: string | null;
}

const name = z.string().trim().min(1).max(200);
const description = z.string().max(5000);
const price = z.number().int().min(0).max(1_000_000_000_00);
const currency = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as EUR');

export const createProductSchema = z.strictObject({
  id: idSchema.optional(),
  name,
  description: description.default(''),
  price,
  currency: currency.optional(),
  category: idSchema,
  listed: z.boolean().default(false),
});
export type CreateProductInput = z.infer<typeof createProductSchema>;

export const updateProductSchema = z
  .strictObject({
    name: name.optional(),
    description: description.optional(),
    price: price.optional(),
    category: idSchema.optional(),
    listed: z.boolean().optional(),
  })
  .refine((patch) => Object.keys(patch).length > 0, 'at least one of name, description, price, category, listed');
export type UpdateProductInput = z.infer<typeof updateProductSchema>;

export const stockAdjustmentSchema = z.strictObject({
  delta: z
    .number()
    .int()
    .min(-1_000_000)
    .max(1_000_000)
    .refine((d) => d !== 0, 'must not be 0'),
  reason: z.string().trim().min(1).max(200),
});
export type StockAdjustmentInput = z.infer<typeof stockAdjustmentSchema>;

export const MAX_ORDER_LINES = 40;
export const createOrderSchema = z.strictObject({
  lines: z
    .array(z.strictObject({ productId: idSchema, quantity: z.number().int().min(1).max(10_000) }))
    .min(1)
    .max(MAX_ORDER_LINES),
});
export type CreateOrderInput = z.infer<typeof createOrderSchema>;

export const updateOrderSchema = z.strictObject({ status: z.enum(ORDER_STATUSES) });

/** Cursors are opaque to clients: base64url of the last returned position (ids joined by '/'). */
export function encodeCursor(parts: readonly string[]): string {
  return Buffer.from(parts.join('/')).toString('base64url');
}

/** The position a cursor names, or undefined when it is not one of ours. */
export function decodeCursor(cursor: string, count: number): string[] | undefined {
  const parts = Buffer.from(cursor, 'base64url').toString('utf8').split('/');
  return parts.length === count && parts.every((p) => ID_PATTERN.test(p)) ? parts : undefined;
}

/** Checked with the rest of the query, before any cache or table is read. */
const cursorOf = (parts: number) =>
  z
    .string()
    .max(200)
    .refine((c) => decodeCursor(c, parts) !== undefined, 'is not a cursor this API issued');

export const listProductsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: cursorOf(1).optional(),
  category: idSchema.optional(),
  q: z.string().trim().min(1).max(100).optional(),
});
export type ListProductsQuery = z.infer<typeof listProductsQuerySchema>;

export const marketplaceQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: cursorOf(2).optional(),
});
export type MarketplaceQuery = z.infer<typeof marketplaceQuerySchema>;

export function availabilityOf(stock: number, lowStockThreshold: number): Availability {
  if (stock <= 0) return 'out_of_stock';
  return stock <= lowStockThreshold ? 'low_stock' : 'in_stock';
}

/** Which status may follow which; cancelling is possible until the order ships. */
export const ORDER_TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  placed: ['paid', 'cancelled'],
  paid: ['packed', 'cancelled'],
  packed: ['shipped', 'cancelled'],
  shipped: ['delivered'],
  delivered: [],
  cancelled: [],
};
