/**
 * The stock rules: stock never goes below 0, and an adjustment never puts it above MAX_STOCK
 * (a cancelled order's units go back even past it, ./orders.ts). A rule is stated here as the
 * stock a change may start from, so the adapter can make it a condition of the write itself.
 */
import { ConflictError } from '../shared/errors';
import { MAX_STOCK } from './model';

/** The stock before a change that the change allows: at most, or at least, so much. */
export type StockBound = { readonly atMost: number } | { readonly atLeast: number };

/**
 * What an adjustment by `delta` may start from: "stock + delta <= MAX_STOCK" is "stock <= MAX_STOCK
 * - delta" (only an increase is held to it), "stock + delta >= 0" is "stock >= -delta" (taking
 * stock out, as an order does with its quantity, needs that much there).
 */
export function adjustmentBound(delta: number): StockBound {
  return delta > 0 ? { atMost: MAX_STOCK - delta } : { atLeast: -delta };
}

/** The 409 for an adjustment of a product's stock that its bound refused. */
export function adjustmentRefused(productId: string, delta: number): ConflictError {
  if (delta > 0) return new ConflictError(`stock of ${productId} cannot go above ${MAX_STOCK}`);
  return new ConflictError(`stock of ${productId} cannot go below 0`);
}
