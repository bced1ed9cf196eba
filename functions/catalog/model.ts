/** The shapes of the contract (../shared/docs/contract.md), with the schemas that validate input. */
import { z } from 'zod';
import { CURSOR_PATTERN, ID_PATTERN } from '../shared/ids';

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

/**
 * Where a listing resumes: the ids of the last item it read (tenant lists: [productId]; the
 * marketplace: [tenantId, productId]). Clients see it inside a signed cursor (functions/http/cursors.ts).
 */
export type Position = readonly string[];

/** A page of a listing: its items, and the position the next page starts after (null: this is the last). */
export interface Page<T> {
  readonly data: readonly T[];
  readonly next: Position | null;
}

/**
 * Amounts are integers, and every sum the API keeps stays a safe integer (at most
 * Number.MAX_SAFE_INTEGER, 2^53 - 1): a price of at most MAX_PRICE, at most MAX_LINE_QUANTITY of a
 * product in an order, at most MAX_ORDER_TOTAL an order (400 above it, before anything is
 * written), at most MAX_STOCK what a stock adjustment leaves (409 above it). docs/contract.md,
 * "Amounts and limits".
 */
export const MAX_PRICE = 100_000_000_000;
export const MAX_LINE_QUANTITY = 10_000;
export const MAX_ORDER_TOTAL = 1_000_000_000_000;
export const MAX_STOCK = 1_000_000_000;
export const MAX_STOCK_DELTA = 1_000_000;

const name = z.string().trim().min(1).max(200);
const description = z.string().max(5000);
const price = z.number().int().min(0).max(MAX_PRICE);
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
    .min(-MAX_STOCK_DELTA)
    .max(MAX_STOCK_DELTA)
    .refine((d) => d !== 0, 'must not be 0'),
  reason: z.string().trim().min(1).max(200),
});
export type StockAdjustmentInput = z.infer<typeof stockAdjustmentSchema>;

export const MAX_ORDER_LINES = 40;
export const createOrderSchema = z.strictObject({
  lines: z
    .array(z.strictObject({ productId: idSchema, quantity: z.number().int().min(1).max(MAX_LINE_QUANTITY) }))
    .min(1)
    .max(MAX_ORDER_LINES)
    // Lines of one product are merged into one: that line too holds at most MAX_LINE_QUANTITY.
    .refine(
      (lines) => {
        const perProduct = new Map<string, number>();
        for (const { productId, quantity } of lines) perProduct.set(productId, (perProduct.get(productId) ?? 0) + quantity);
        return [...perProduct.values()].every((quantity) => quantity <= MAX_LINE_QUANTITY);
      },
      { message: `at most ${MAX_LINE_QUANTITY} of one product in an order (its lines are added up)` },
    )
    .describe(
      `1 to ${MAX_ORDER_LINES} lines; the lines of one product are added up into one line of at most ${MAX_LINE_QUANTITY}. ` +
        `The order's total may be at most ${MAX_ORDER_TOTAL} minor units (400 above it, nothing written)`,
    ),
});
export type CreateOrderInput = z.infer<typeof createOrderSchema>;

export const updateOrderSchema = z.strictObject({ status: z.enum(ORDER_STATUSES) });

const limit = z.coerce
  .number()
  .int()
  .min(1)
  .max(100)
  .default(20)
  .describe('Items per page, 1 to 100. A page can be shorter and still have a nextCursor: follow it until null');

/**
 * Only the shape here; whether this deployment signed it for this listing is checked next, by the
 * route (functions/http/cursors.ts), still before any cache or table is read.
 */
const cursor = z
  .string()
  .regex(CURSOR_PATTERN, 'is not a cursor this API issued')
  .describe("The previous page's nextCursor, as it was (signed: any other value is 400)");

export const listProductsQuerySchema = z.strictObject({
  limit,
  cursor: cursor.optional(),
  category: idSchema.optional(),
  q: z.string().trim().min(1).max(100).optional(),
});
export type ListProductsQuery = z.infer<typeof listProductsQuerySchema>;
/** A tenant listing as the catalogue reads it: the query, its cursor opened into a position. */
export type ProductListing = Omit<ListProductsQuery, 'cursor'> & { readonly after?: Position };

export const marketplaceQuerySchema = z.strictObject({
  limit,
  cursor: cursor.optional(),
});
export type MarketplaceQuery = z.infer<typeof marketplaceQuerySchema>;
export type MarketplaceListing = Omit<MarketplaceQuery, 'cursor'> & { readonly after?: Position };

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
