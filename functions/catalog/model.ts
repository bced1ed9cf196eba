/**
 * The shapes of the contract (docs/contract.md). What requests may hold, and the limits on amounts,
 * are the contract's (functions/shared/requests.ts): re-exported here for the domain.
 */
import type { ListProductsQuery, MarketplaceQuery, ORDER_STATUSES } from '../shared/requests';

export {
  MAX_LINE_QUANTITY,
  MAX_ORDER_LINES,
  MAX_ORDER_TOTAL,
  MAX_PRICE,
  MAX_STOCK,
  MAX_STOCK_DELTA,
  ORDER_STATUSES,
} from '../shared/requests';
export type {
  CreateOrderInput,
  CreateProductInput,
  ListProductsQuery,
  MarketplaceQuery,
  StockAdjustmentInput,
  UpdateProductInput,
} from '../shared/requests';

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

/** A tenant listing as the catalogue reads it: the query, its cursor opened into a position. */
export type ProductListing = Omit<ListProductsQuery, 'cursor'> & { readonly after?: Position };
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
