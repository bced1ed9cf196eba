/**
 * The order rules: how the lines a client asks for become an order (one line per product, at the
 * price of the product read, one currency, a total of at most MAX_ORDER_TOTAL), which status may
 * follow which (ORDER_TRANSITIONS), and what a cancellation gives back. They decide; storing, with
 * the atomic checks that make a decision hold while it is written, is the adapter's.
 */
import { BadRequestError, ConflictError, NotFoundError } from '../shared/errors';
import { MAX_ORDER_TOTAL, ORDER_TRANSITIONS, type Order, type OrderLine, type OrderStatus, type Product } from './model';
import type { RequestedLine } from './ports';

/** The quantity of each product ordered: lines of one product are added up into one, in the order first named. */
export function orderQuantities(requested: readonly RequestedLine[]): Map<string, number> {
  const quantities = new Map<string, number>();
  for (const line of requested) quantities.set(line.productId, (quantities.get(line.productId) ?? 0) + line.quantity);
  return quantities;
}

/**
 * The sum of the lines, refused (400, nothing written) above MAX_ORDER_TOTAL. Every step is exact:
 * a line is at most MAX_LINE_QUANTITY × MAX_PRICE (10^15), and the sum so far at most the cap.
 */
export function orderTotal(lines: readonly OrderLine[]): number {
  let total = 0;
  for (const line of lines) {
    total += line.quantity * line.unitPrice;
    if (total > MAX_ORDER_TOTAL) throw new BadRequestError(`an order's total may be at most ${MAX_ORDER_TOTAL} minor units`);
  }
  return total;
}

/** The one currency of an order's products; 400 when they have more than one. */
export function orderCurrency(products: Iterable<Product>): string {
  const currencies = new Set(Array.from(products, (p) => p.currency));
  if (currencies.size > 1) throw new BadRequestError('all lines of an order must share one currency');
  return [...currencies][0] as string;
}

export interface Placing {
  readonly tenantId: string;
  readonly userId: string;
  readonly orderId: string;
  /** From orderQuantities. */
  readonly quantities: ReadonlyMap<string, number>;
  /** The live products read for the order, by id: it charges their prices. */
  readonly products: ReadonlyMap<string, Product>;
  readonly now: string;
}

/**
 * The order as placed, before anything is written: 404 for the first product not found (missing
 * or deleted), then 400 for mixed currencies, then 400 for a total above MAX_ORDER_TOTAL. It holds
 * only if, when it is written, every product is still the version read (the price charged) and has
 * the stock for its line (stock never goes below 0, ./stock.ts).
 */
export function placeOrder(placing: Placing): Order {
  const ids = Array.from(placing.quantities, ([id]) => id);
  const missing = ids.filter((id) => !placing.products.has(id));
  if (missing.length > 0) throw new NotFoundError(`product ${missing[0]} not found`);
  const currency = orderCurrency(ids.map((id) => placing.products.get(id) as Product));
  const lines: OrderLine[] = ids.map((id) => ({
    productId: id,
    quantity: placing.quantities.get(id) as number,
    unitPrice: (placing.products.get(id) as Product).price,
  }));
  return {
    id: placing.orderId,
    tenantId: placing.tenantId,
    userId: placing.userId,
    lines,
    total: orderTotal(lines),
    currency,
    status: 'placed',
    version: 1,
    createdAt: placing.now,
    updatedAt: placing.now,
  };
}

/**
 * The order moved to `status` at `now`, a new version; undefined when it already has that status
 * (nothing to write: the order answers as it is). 409 when ORDER_TRANSITIONS does not allow the
 * move. It holds only if, when it is written, the order is still the version read.
 */
export function moveOrder(current: Order, status: OrderStatus, now: string): Order | undefined {
  if (current.status === status) return undefined;
  if (!ORDER_TRANSITIONS[current.status].includes(status)) {
    throw new ConflictError(`an order cannot go from ${current.status} to ${status}`);
  }
  return { ...current, status, version: current.version + 1, updatedAt: now };
}

/**
 * Whether moving to `status` undoes the order: its lines' units go back to stock (even past
 * MAX_STOCK: they were there before), its total comes off the revenue of the day it was placed,
 * and that day counts one more cancellation.
 */
export function undoesOrder(status: OrderStatus): boolean {
  return status === 'cancelled';
}
