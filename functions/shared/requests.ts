/**
 * What the REST API accepts: the query and body schemas of its routes, and the limits they hold
 * (docs/contract.md, "Amounts and limits"). Part of the contract, so no I/O: the route table
 * (functions/routes.ts) names each route's schemas, the handler chain validates with them before
 * any cache or table is read, and the OpenAPI document is generated from the same objects.
 */
import { CURSOR_PATTERN, ID_PATTERN } from './ids';
import * as z from './zod';

export const idSchema = z.string().check(z.regex(ID_PATTERN, `must match ${ID_PATTERN.source}`));

export const ORDER_STATUSES = ['placed', 'paid', 'packed', 'shipped', 'delivered', 'cancelled'] as const;

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
export const MAX_ORDER_LINES = 40;

const name = z.string().check(z.trim(), z.minLength(1), z.maxLength(200));
const description = z.string().check(z.maxLength(5000));
const price = z.int().check(z.minimum(0), z.maximum(MAX_PRICE));
const currency = z.string().check(z.regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as EUR'));

/** A product's fields as a request gives them: the response schemas (openapi/schemas.ts) reuse them. */
export const productFields = { name, description, price, currency } as const;

export const createProductSchema = z.strictObject({
  id: z.optional(idSchema),
  name,
  description: z._default(description, ''),
  price,
  currency: z.optional(currency),
  category: idSchema,
  listed: z._default(z.boolean(), false),
});

export const updateProductSchema = z
  .strictObject({
    name: z.optional(name),
    description: z.optional(description),
    price: z.optional(price),
    category: z.optional(idSchema),
    listed: z.optional(z.boolean()),
  })
  .check(z.refine((patch) => Object.keys(patch).length > 0, 'at least one of name, description, price, category, listed'));

export const stockAdjustmentSchema = z.strictObject({
  delta: z.int().check(
    z.minimum(-MAX_STOCK_DELTA),
    z.maximum(MAX_STOCK_DELTA),
    z.refine((d) => d !== 0, 'must not be 0'),
  ),
  reason: z.string().check(z.trim(), z.minLength(1), z.maxLength(200)),
});

export const orderLineRequestSchema = z.strictObject({
  productId: idSchema,
  quantity: z.int().check(z.minimum(1), z.maximum(MAX_LINE_QUANTITY)),
});

export const createOrderSchema = z.strictObject({
  lines: z.array(orderLineRequestSchema).check(
    z.minLength(1),
    z.maxLength(MAX_ORDER_LINES),
    // Lines of one product are merged into one: that line too holds at most MAX_LINE_QUANTITY.
    z.refine(
      (lines) => {
        const perProduct = new Map<string, number>();
        for (const { productId, quantity } of lines) perProduct.set(productId, (perProduct.get(productId) ?? 0) + quantity);
        return [...perProduct.values()].every((quantity) => quantity <= MAX_LINE_QUANTITY);
      },
      { message: `at most ${MAX_LINE_QUANTITY} of one product in an order (its lines are added up)` },
    ),
    z.describe(
      `1 to ${MAX_ORDER_LINES} lines; the lines of one product are added up into one line of at most ${MAX_LINE_QUANTITY}. ` +
        `The order's total may be at most ${MAX_ORDER_TOTAL} minor units (400 above it, nothing written)`,
    ),
  ),
});

export const updateOrderSchema = z.strictObject({ status: z.enum(ORDER_STATUSES) });

const limit = z
  ._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100)), 20)
  .check(z.describe('Items per page, 1 to 100. A page can be shorter and still have a nextCursor: follow it until null'));

/**
 * Only the shape here; whether this deployment signed it for this listing is checked next, by the
 * route (functions/http/cursors.ts), still before any cache or table is read.
 */
const cursor = z
  .string()
  .check(
    z.regex(CURSOR_PATTERN, 'is not a cursor this API issued'),
    z.describe("The previous page's nextCursor, as it was (signed: any other value is 400)"),
  );

export const listProductsQuerySchema = z.strictObject({
  limit,
  cursor: z.optional(cursor),
  category: z.optional(idSchema),
  q: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(100))),
});

export const marketplaceQuerySchema = z.strictObject({
  limit,
  cursor: z.optional(cursor),
});

export const getProductQuerySchema = z.strictObject({
  include: z.optional(z.enum(['stock'])).check(z.describe('stock: add live stock to the body (then Cache-Control: private, no-store)')),
});

export type CreateProductInput = z.output<typeof createProductSchema>;
export type UpdateProductInput = z.output<typeof updateProductSchema>;
export type StockAdjustmentInput = z.output<typeof stockAdjustmentSchema>;
export type CreateOrderInput = z.output<typeof createOrderSchema>;
export type ListProductsQuery = z.output<typeof listProductsQuerySchema>;
export type MarketplaceQuery = z.output<typeof marketplaceQuerySchema>;
