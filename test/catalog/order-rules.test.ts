/**
 * The order and stock rules on their own (functions/catalog/orders.ts, stock.ts): no table, the
 * decisions the DynamoDB adapter writes. The API suites (test/api) prove the same through the stack.
 */
import { MAX_ORDER_TOTAL, MAX_STOCK, ORDER_STATUSES, ORDER_TRANSITIONS, type Order, type Product } from '../../functions/catalog/model';
import { moveOrder, orderQuantities, orderTotal, placeOrder, undoesOrder } from '../../functions/catalog/orders';
import { adjustmentBound, adjustmentRefused } from '../../functions/catalog/stock';
import { BadRequestError, ConflictError, NotFoundError } from '../../functions/shared/errors';

const product = (id: string, price: number, currency = 'EUR'): Product => ({
  id,
  tenantId: 't1',
  name: id,
  description: '',
  price,
  currency,
  category: 'c',
  listed: false,
  version: 3,
  updatedAt: '2026-01-01T00:00:00.000Z',
});
const byId = (...products: Product[]) => new Map(products.map((p) => [p.id, p]));
const now = '2026-02-03T04:05:06.000Z';

describe('placing an order', () => {
  it('adds up the lines of one product, in the order first named', () => {
    const quantities = orderQuantities([
      { productId: 'b', quantity: 1 },
      { productId: 'a', quantity: 2 },
      { productId: 'b', quantity: 3 },
    ]);
    expect([...quantities]).toEqual([
      ['b', 4],
      ['a', 2],
    ]);
  });

  it('charges the prices read, in their one currency, placed at version 1', () => {
    const quantities = orderQuantities([
      { productId: 'a', quantity: 2 },
      { productId: 'b', quantity: 1 },
    ]);
    const order = placeOrder({
      tenantId: 't1',
      userId: 'u1',
      orderId: 'o1',
      quantities,
      products: byId(product('a', 150), product('b', 99)),
      now,
    });
    expect(order).toEqual({
      id: 'o1',
      tenantId: 't1',
      userId: 'u1',
      lines: [
        { productId: 'a', quantity: 2, unitPrice: 150 },
        { productId: 'b', quantity: 1, unitPrice: 99 },
      ],
      total: 399,
      currency: 'EUR',
      status: 'placed',
      version: 1,
      createdAt: now,
      updatedAt: now,
    });
  });

  it('refuses a missing product first (404), then mixed currencies (400), then a total above the cap (400)', () => {
    const place = (quantities: Map<string, number>, products: Map<string, Product>) =>
      placeOrder({ tenantId: 't1', userId: 'u1', orderId: 'o1', quantities, products, now });
    const mixed = byId(product('a', MAX_ORDER_TOTAL, 'EUR'), product('b', 1, 'USD'));
    expect(() =>
      place(
        new Map([
          ['a', 2],
          ['b', 1],
          ['gone', 1],
        ]),
        mixed,
      ),
    ).toThrow(new NotFoundError('product gone not found'));
    expect(() =>
      place(
        new Map([
          ['a', 2],
          ['b', 1],
        ]),
        mixed,
      ),
    ).toThrow(new BadRequestError('all lines of an order must share one currency'));
    expect(() => place(new Map([['a', 2]]), mixed)).toThrow(BadRequestError);
    expect(place(new Map([['a', 1]]), mixed).total).toBe(MAX_ORDER_TOTAL);
  });

  it('totals exactly up to MAX_ORDER_TOTAL and refuses one minor unit more', () => {
    expect(orderTotal([{ productId: 'a', quantity: 10, unitPrice: MAX_ORDER_TOTAL / 10 }])).toBe(MAX_ORDER_TOTAL);
    expect(() => orderTotal([{ productId: 'a', quantity: 1, unitPrice: MAX_ORDER_TOTAL + 1 }])).toThrow(
      `an order's total may be at most ${MAX_ORDER_TOTAL} minor units`,
    );
  });
});

describe('moving an order', () => {
  const placed: Order = placeOrder({
    tenantId: 't1',
    userId: 'u1',
    orderId: 'o1',
    quantities: new Map([['a', 1]]),
    products: byId(product('a', 5)),
    now: '2026-01-01T00:00:00.000Z',
  });

  it('follows ORDER_TRANSITIONS, and nothing else, for every pair of statuses', () => {
    for (const from of ORDER_STATUSES) {
      for (const to of ORDER_STATUSES) {
        const current = { ...placed, status: from, version: 4 };
        if (from === to) expect(moveOrder(current, to, now)).toBeUndefined();
        else if (ORDER_TRANSITIONS[from].includes(to))
          expect(moveOrder(current, to, now)).toEqual({ ...current, status: to, version: 5, updatedAt: now });
        else expect(() => moveOrder(current, to, now)).toThrow(new ConflictError(`an order cannot go from ${from} to ${to}`));
      }
    }
  });

  it('undoes the order only when cancelled', () => {
    expect(ORDER_STATUSES.filter(undoesOrder)).toEqual(['cancelled']);
  });
});

describe('stock bounds', () => {
  it('holds an increase to MAX_STOCK and a decrease to 0, as bounds on the stock before', () => {
    expect(adjustmentBound(5)).toEqual({ atMost: MAX_STOCK - 5 });
    expect(adjustmentBound(-5)).toEqual({ atLeast: 5 });
    expect(adjustmentRefused('p', 5)).toEqual(new ConflictError(`stock of p cannot go above ${MAX_STOCK}`));
    expect(adjustmentRefused('p', -5)).toEqual(new ConflictError('stock of p cannot go below 0'));
  });
});
