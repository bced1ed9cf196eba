/** The REST calls the page makes (shared/docs/contract.md, "REST"), with the contract's error shape. */
import type { Order, OrderStatus, Product } from '../../client/src';
import type { PageConfig } from '../config';

export interface StockLevel {
  readonly productId: string;
  readonly stock: number;
  readonly availability: 'in_stock' | 'low_stock' | 'out_of_stock';
  readonly version: number;
  readonly lastUpdated: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Api {
  constructor(
    private readonly config: PageConfig,
    private readonly token: string,
  ) {}

  products(limit: number): Promise<Product[]> {
    return this.call<Product[]>('GET', `/api/products?limit=${limit}`);
  }

  /** The product plus live stock; `stockVersion` is the stock's version (`version` is the product's). */
  productWithStock(
    id: string,
  ): Promise<Product & { stock: number; availability: StockLevel['availability']; stockVersion: number; lastUpdated: string }> {
    return this.call('GET', `/api/products/${encodeURIComponent(id)}?include=stock`);
  }

  order(id: string): Promise<Order> {
    return this.call<Order>('GET', `/api/orders/${encodeURIComponent(id)}`);
  }

  adjustStock(productId: string, delta: number): Promise<StockLevel> {
    return this.call<StockLevel>('POST', `/api/products/${encodeURIComponent(productId)}/stock-adjustments`, {
      delta,
      reason: 'dashboard',
    });
  }

  placeOrder(lines: { productId: string; quantity: number }[]): Promise<Order> {
    return this.call<Order>('POST', '/api/orders', { lines });
  }

  setStatus(orderId: string, status: OrderStatus): Promise<Order> {
    return this.call<Order>('PATCH', `/api/orders/${encodeURIComponent(orderId)}`, { status });
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(`${this.config.apiBaseUrl}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    let json: { data?: T; error?: { code?: string; message?: string } } = {};
    try {
      json = text ? (JSON.parse(text) as typeof json) : {};
    } catch {
      // not JSON: reported below with the status
    }
    if (!response.ok) {
      throw new ApiError(response.status, json.error?.code ?? 'HTTP', json.error?.message ?? `HTTP ${response.status}`);
    }
    return json.data as T;
  }
}

/** Dev tokens of the local stack ({tenant: token}); undefined in production. */
export async function devTokens(config: PageConfig): Promise<Record<string, string> | undefined> {
  if (!config.devTokensUrl) return undefined;
  const response = await fetch(config.devTokensUrl);
  if (!response.ok) throw new Error(`dev tokens: HTTP ${response.status}`);
  return (await response.json()) as Record<string, string>;
}

/** A JWT's claims, unverified: for display and expiry only (the API verifies the token). */
function claimsOf(token: string): Record<string, unknown> {
  const payload = token.split('.')[1];
  if (!payload) return {};
  try {
    const claims: unknown = JSON.parse(
      atob(
        payload
          .replace(/-/g, '+')
          .replace(/_/g, '/')
          .padEnd(Math.ceil(payload.length / 4) * 4, '='),
      ),
    );
    return typeof claims === 'object' && claims !== null ? (claims as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The tenantId claim of a JWT. */
export function tenantOf(token: string): string | undefined {
  const { tenantId } = claimsOf(token);
  return typeof tenantId === 'string' ? tenantId : undefined;
}

/** The token's `exp` is in the past (a reconnect with it would only be refused). */
export function expired(token: string, nowMs = Date.now()): boolean {
  const { exp } = claimsOf(token);
  return typeof exp === 'number' && exp * 1000 <= nowMs;
}
