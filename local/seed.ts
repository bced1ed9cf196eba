/**
 * Demo data for the local stack, created through the REST API with dev tokens, so seeding runs
 * the real handlers and never duplicates an item's shape: two tenants, products across
 * categories, stock, a few orders, and one tenant's products listed on the marketplace.
 * Ids are fixed, so a second run against persisted data finds them (409) and stops early.
 */
import { mintDevToken } from './tokens';

export interface DemoProduct {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  /** Integer minor units. */
  readonly price: number;
  readonly category: string;
  readonly stock: number;
}

export interface DemoTenant {
  readonly tenantId: string;
  readonly label: string;
  readonly currency: string;
  /** Its products are listed on the marketplace. */
  readonly listed: boolean;
  readonly products: readonly DemoProduct[];
  /** Each order: [productId, quantity] lines. */
  readonly orders: readonly (readonly [string, number])[][];
}

const p = (id: string, name: string, category: string, price: number, stock: number, description = ''): DemoProduct => ({
  id,
  name,
  description: description || `${name}, from the demo catalogue.`,
  price,
  category,
  stock,
});

export const DEMO_TENANTS: readonly DemoTenant[] = [
  {
    tenantId: 'acme',
    label: 'Acme Coffee Roasters',
    currency: 'EUR',
    listed: true,
    products: [
      p('espresso-beans', 'Espresso beans 1 kg', 'coffee', 2490, 120, 'Dark roast, chocolate and hazelnut.'),
      p('filter-beans', 'Filter beans 500 g', 'coffee', 1390, 80),
      p('decaf-beans', 'Decaf beans 500 g', 'coffee', 1290, 4),
      p('single-origin-ethiopia', 'Single origin Ethiopia 250 g', 'coffee', 1190, 35),
      p('single-origin-colombia', 'Single origin Colombia 250 g', 'coffee', 1090, 0),
      p('cold-brew-pack', 'Cold brew pack', 'coffee', 1590, 22),
      p('green-tea', 'Sencha green tea 100 g', 'tea', 890, 60),
      p('black-tea', 'Assam black tea 100 g', 'tea', 790, 45),
      p('chai-blend', 'Chai blend 100 g', 'tea', 950, 3),
      p('herbal-tea', 'Herbal infusion 100 g', 'tea', 690, 70),
      p('matcha', 'Ceremonial matcha 30 g', 'tea', 2290, 12),
      p('espresso-machine', 'Espresso machine', 'equipment', 54900, 6),
      p('grinder', 'Burr grinder', 'equipment', 18900, 9),
      p('pour-over-kit', 'Pour-over kit', 'equipment', 3990, 25),
      p('french-press', 'French press 1 l', 'equipment', 2990, 18),
      p('moka-pot', 'Moka pot 6 cups', 'equipment', 3490, 2),
      p('kettle', 'Gooseneck kettle', 'equipment', 6990, 11),
      p('scale', 'Coffee scale', 'equipment', 2490, 14),
      p('milk-jug', 'Milk jug 350 ml', 'accessories', 1490, 40),
      p('tamper', 'Tamper 58 mm', 'accessories', 2190, 16),
      p('paper-filters', 'Paper filters (100)', 'accessories', 490, 300),
      p('cups', 'Espresso cups (set of 4)', 'accessories', 2890, 7),
      p('travel-mug', 'Travel mug', 'accessories', 1990, 33),
      p('gift-card', 'Gift card', 'accessories', 2500, 999),
    ],
    orders: [
      [
        ['espresso-beans', 2],
        ['milk-jug', 1],
      ],
      [['grinder', 1]],
      [
        ['green-tea', 3],
        ['herbal-tea', 2],
      ],
      [
        ['pour-over-kit', 1],
        ['paper-filters', 2],
        ['filter-beans', 1],
      ],
    ],
  },
  {
    tenantId: 'globex',
    label: 'Globex Books & Games',
    currency: 'EUR',
    listed: false,
    products: [
      p('novel-1', 'The Long Harbour (novel)', 'books', 1899, 30),
      p('novel-2', 'Winter Lines (novel)', 'books', 1699, 12),
      p('cookbook', 'Weeknight cookbook', 'books', 2999, 5),
      p('atlas', 'World atlas', 'books', 4599, 3),
      p('kids-book', 'Picture book', 'books', 1299, 40),
      p('notebook-a5', 'Notebook A5', 'stationery', 899, 150),
      p('notebook-a4', 'Notebook A4', 'stationery', 1199, 90),
      p('fountain-pen', 'Fountain pen', 'stationery', 3499, 8),
      p('ink', 'Ink bottle', 'stationery', 999, 0),
      p('pencils', 'Pencils (12)', 'stationery', 599, 200),
      p('chess', 'Chess set', 'games', 4999, 6),
      p('puzzle-1000', 'Puzzle 1000 pieces', 'games', 2499, 14),
      p('card-game', 'Card game', 'games', 1499, 25),
      p('board-game', 'Board game', 'games', 3999, 4),
      p('dice', 'Dice set', 'games', 799, 60),
      p('sudoku', 'Sudoku book', 'games', 699, 2),
    ],
    orders: [
      [
        ['novel-1', 1],
        ['notebook-a5', 2],
      ],
      [['chess', 1]],
    ],
  },
];

export interface SeedSummary {
  readonly tenants: number;
  readonly products: number;
  readonly orders: number;
  /** Every tenant's data was there already (persisted from an earlier run). */
  readonly existing: boolean;
}

export class SeedError extends Error {}

/**
 * Creates the demo data through the REST front at `restUrl`. Throws a SeedError with a one-line
 * message on the first request that does not succeed.
 */
export async function seedDemoData(
  restUrl: string,
  tenants: readonly DemoTenant[] = DEMO_TENANTS,
  /** Mints the token each tenant's requests carry. @default an HS256 dev token */
  mint: (options: { tenantId: string; userId: string }) => Promise<string> = mintDevToken,
): Promise<SeedSummary> {
  let products = 0;
  let orders = 0;
  let kept = 0;
  tenants: for (const tenant of tenants) {
    const token = await mint({ tenantId: tenant.tenantId, userId: `seed-${tenant.tenantId}` });
    const call = async (path: string, body: unknown): Promise<Response> => {
      let response: Response;
      try {
        response = await fetch(`${restUrl}${path}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
      } catch (error) {
        throw new SeedError(`POST ${path} failed: ${(error as Error).message}`);
      }
      return response;
    };
    const expect = async (response: Response, path: string): Promise<void> => {
      if (response.ok) return;
      // Status and error code only: the message is in the REST front's log, and a free text
      // ("already exists") must not look like the stack's ready line to a script.
      let code = '';
      try {
        const answered = ((await response.json()) as { error?: { code?: unknown } } | null)?.error?.code;
        if (typeof answered === 'string') code = answered;
      } catch {
        // not the contract's error body
      }
      throw new SeedError(`POST ${path} answered ${response.status}${/^[A-Z_]+$/.test(code) ? ` ${code}` : ''}`);
    };

    for (const [index, product] of tenant.products.entries()) {
      const created = await call('/api/products', {
        id: product.id,
        name: product.name,
        description: product.description,
        price: product.price,
        currency: tenant.currency,
        category: product.category,
        listed: tenant.listed,
      });
      if (created.status === 409 && index === 0) {
        // Persisted from an earlier run: keep this tenant's data as it is.
        await created.body?.cancel();
        kept++;
        continue tenants;
      }
      if (created.status === 409) {
        // Left by an interrupted earlier run: keep it, stock included.
        await created.body?.cancel();
        continue;
      }
      await expect(created, '/api/products');
      await created.body?.cancel();
      products++;
      if (product.stock > 0) {
        const path = `/api/products/${product.id}/stock-adjustments`;
        const adjusted = await call(path, { delta: product.stock, reason: 'initial stock (demo data)' });
        await expect(adjusted, path);
        await adjusted.body?.cancel();
      }
    }
    for (const lines of tenant.orders) {
      const placed = await call('/api/orders', { lines: lines.map(([productId, quantity]) => ({ productId, quantity })) });
      await expect(placed, '/api/orders');
      await placed.body?.cancel();
      orders++;
    }
  }
  return { tenants: tenants.length, products, orders, existing: kept === tenants.length };
}
