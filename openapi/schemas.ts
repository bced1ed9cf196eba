/**
 * The response shapes of the REST API as zod schemas, for the OpenAPI document.
 *
 * Request bodies and queries come straight from functions/catalog/model.ts (the schemas the
 * handlers validate with). The model declares responses as TypeScript interfaces only, so their
 * schemas live here, built from the model's field schemas where one exists, and each is checked
 * at compile time against the model's interface (tsc fails when they drift apart) and at run
 * time against real responses of the local stack (test/openapi).
 */
import { z } from 'zod';
import {
  createOrderSchema,
  createProductSchema,
  idSchema,
  MAX_ORDER_TOTAL,
  ORDER_STATUSES,
  type Availability,
  type Order,
  type OrderLine,
  type Product,
  type StockLevel,
} from '../functions/catalog/model';

/** ISO 8601 date-time (a plain string with a format: zod's own datetime() emits a huge pattern). */
const isoDateTime = z.string().meta({ format: 'date-time' });
const count = z.number().int().min(0);
const version = z.number().int().min(1).describe('Grows by one with every committed change of the entity');
const product = createProductSchema.shape;

export const availabilitySchema = z
  .enum(['in_stock', 'low_stock', 'out_of_stock'])
  .describe('in_stock above the low-stock threshold, low_stock at or below it, out_of_stock at 0');

export const productSchema = z
  .object({
    id: idSchema,
    tenantId: idSchema,
    name: product.name,
    description: product.description.unwrap(),
    price: product.price.describe('Integer minor units (cents)'),
    currency: product.currency.unwrap(),
    category: product.category,
    listed: z.boolean().describe('Listed on the public marketplace'),
    version,
    updatedAt: isoDateTime,
  })
  .describe('A product, without stock (so a shared cache never holds stale stock)');

export const stockLevelSchema = z.object({
  productId: idSchema,
  stock: count,
  availability: availabilitySchema,
  version,
  lastUpdated: isoDateTime,
});

export const productWithStockSchema = productSchema
  .extend({
    stock: count,
    availability: availabilitySchema,
    stockVersion: version.describe("The stock's version (`version` is the product's)"),
    lastUpdated: isoDateTime,
  })
  .describe('GET /api/products/{id}?include=stock: the cached product plus live stock (private, no-store)');

const orderLine = createOrderSchema.shape.lines.element.shape;
export const orderLineSchema = z.object({
  productId: orderLine.productId,
  quantity: orderLine.quantity,
  unitPrice: product.price.describe('Integer minor units, the price when the order was placed'),
});

export const orderSchema = z.object({
  id: idSchema,
  tenantId: idSchema,
  userId: z.string().min(1),
  lines: z.array(orderLineSchema).min(1),
  total: count.max(MAX_ORDER_TOTAL).describe('Integer minor units, at most 10^12: a larger order is refused (400)'),
  currency: product.currency.unwrap(),
  status: z.enum(ORDER_STATUSES),
  version,
  createdAt: isoDateTime,
  updatedAt: isoDateTime,
});

const part = z.enum(['ok', 'down', 'disabled']);
export const healthSchema = z.object({ status: z.literal('ok'), redis: part, dynamodb: part });

export const errorSchema = z.object({
  error: z.object({
    code: z.enum([
      'BAD_REQUEST',
      'UNAUTHORIZED',
      'FORBIDDEN',
      'NOT_FOUND',
      'CONFLICT',
      'PRECONDITION_FAILED',
      'PAYLOAD_TOO_LARGE',
      'RATE_LIMITED',
      'UNAVAILABLE',
      'INTERNAL',
    ]),
    message: z.string(),
  }),
});

/** The query of GET /api/products/{id}: declared in its handler (functions/handlers/products/get.ts), mirrored here. */
export const getProductQuerySchema = z.strictObject({
  include: z.enum(['stock']).optional().describe('stock: add live stock to the body (then Cache-Control: private, no-store)'),
});

// ---------------------------------------------------------------------------------------------
// Compile-time proof that the schemas describe the model's interfaces (readonly aside).

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Mutable<T> = { -readonly [K in keyof T]: T[K] extends readonly (infer E)[] ? Mutable<E>[] : T[K] };
type Proof<T extends true> = T;

export type SchemaProofs = [
  Proof<Same<z.infer<typeof productSchema>, Mutable<Product>>>,
  Proof<Same<z.infer<typeof stockLevelSchema>, Mutable<StockLevel>>>,
  Proof<Same<z.infer<typeof availabilitySchema>, Availability>>,
  Proof<Same<z.infer<typeof orderLineSchema>, Mutable<OrderLine>>>,
  Proof<Same<z.infer<typeof orderSchema>, Mutable<Order>>>,
  Proof<Same<Omit<z.infer<typeof productWithStockSchema>, 'stockVersion'>, Mutable<Product & Omit<StockLevel, 'productId'>>>>,
];
