/**
 * The response shapes of the REST API as zod schemas, for the OpenAPI document.
 *
 * Request bodies and queries come straight from functions/shared/requests.ts (the schemas the
 * route table gives the handler chain). The model declares responses as TypeScript interfaces only, so their
 * schemas live here, built from the model's field schemas where one exists, and each is checked
 * at compile time against the model's interface (tsc fails when they drift apart) and at run
 * time against real responses of the local stack (test/openapi).
 */
import { idSchema, MAX_ORDER_TOTAL, ORDER_STATUSES, orderLineRequestSchema, productFields } from '../functions/shared/requests';
import { ERROR_CODES } from '../functions/shared/errors';
import * as z from '../functions/shared/zod';
import type { Availability, Order, OrderLine, Product, StockLevel } from '../functions/catalog/model';

/** ISO 8601 date-time (a plain string with a format: zod's own datetime() emits a huge pattern). */
const isoDateTime = z.string().check(z.meta({ format: 'date-time' }));
const count = z.int().check(z.minimum(0));
const version = z.int().check(z.minimum(1), z.describe('Grows by one with every committed change of the entity'));

export const availabilitySchema = z
  .enum(['in_stock', 'low_stock', 'out_of_stock'])
  .check(z.describe('in_stock above the low-stock threshold, low_stock at or below it, out_of_stock at 0'));

export const productSchema = z
  .object({
    id: idSchema,
    tenantId: idSchema,
    name: productFields.name,
    description: productFields.description,
    price: productFields.price.check(z.describe('Integer minor units (cents)')),
    currency: productFields.currency,
    category: idSchema,
    listed: z.boolean().check(z.describe('Listed on the public marketplace')),
    version,
    updatedAt: isoDateTime,
  })
  .check(z.describe('A product, without stock (so a shared cache never holds stale stock)'));

export const stockLevelSchema = z.object({
  productId: idSchema,
  stock: count,
  availability: availabilitySchema,
  version,
  lastUpdated: isoDateTime,
});

export const productWithStockSchema = z
  .extend(productSchema, {
    stock: count,
    availability: availabilitySchema,
    stockVersion: version.check(z.describe("The stock's version (`version` is the product's)")),
    lastUpdated: isoDateTime,
  })
  .check(z.describe('GET /api/products/{id}?include=stock: the cached product plus live stock (private, no-store)'));

export const orderLineSchema = z.object({
  productId: orderLineRequestSchema.shape.productId,
  quantity: orderLineRequestSchema.shape.quantity,
  unitPrice: productFields.price.check(z.describe('Integer minor units, the price when the order was placed')),
});

export const orderSchema = z.object({
  id: idSchema,
  tenantId: idSchema,
  userId: z.string().check(z.minLength(1)),
  lines: z.array(orderLineSchema).check(z.minLength(1)),
  total: count.check(z.maximum(MAX_ORDER_TOTAL), z.describe('Integer minor units, at most 10^12: a larger order is refused (400)')),
  currency: productFields.currency,
  status: z.enum(ORDER_STATUSES),
  version,
  createdAt: isoDateTime,
  updatedAt: isoDateTime,
});

const part = z.enum(['ok', 'down', 'disabled']);
export const healthSchema = z.object({ status: z.literal('ok'), redis: part, dynamodb: part });

export const errorSchema = z.object({
  error: z.object({
    code: z.enum(ERROR_CODES),
    message: z.string(),
  }),
});

// ---------------------------------------------------------------------------------------------
// Compile-time proof that the schemas describe the model's interfaces (readonly aside).

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Mutable<T> = { -readonly [K in keyof T]: T[K] extends readonly (infer E)[] ? Mutable<E>[] : T[K] };
type Proof<T extends true> = T;

export type SchemaProofs = [
  Proof<Same<z.output<typeof productSchema>, Mutable<Product>>>,
  Proof<Same<z.output<typeof stockLevelSchema>, Mutable<StockLevel>>>,
  Proof<Same<z.output<typeof availabilitySchema>, Availability>>,
  Proof<Same<z.output<typeof orderLineSchema>, Mutable<OrderLine>>>,
  Proof<Same<z.output<typeof orderSchema>, Mutable<Order>>>,
  Proof<Same<Omit<z.output<typeof productWithStockSchema>, 'stockVersion'>, Mutable<Product & Omit<StockLevel, 'productId'>>>>,
];
