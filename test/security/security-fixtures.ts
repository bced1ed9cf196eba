/**
 * Helpers of the security suites: a Redis MONITOR that records every command the API sends, the
 * contract's error body, the authenticated routes of the route table with sample requests, and
 * the shapes of ids a key must never be built from.
 */
import type { Redis } from 'ioredis';
import { REST_ROUTES } from '../../functions/routes';
import type { DeployedStack } from '../../local/deployed/stack';
import type { DeployedFunction } from '../../local/deployed/model';
import { monitorRedis } from '../support/redis-monitor';

export const CONTRACT_ERROR_CODES: Readonly<Record<number, string>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  412: 'PRECONDITION_FAILED',
  413: 'PAYLOAD_TOO_LARGE',
  429: 'RATE_LIMITED',
  503: 'UNAVAILABLE',
};

/** Reads the body and checks it is exactly the contract's error body for this status; returns the parsed body. */
export async function expectContractError(
  response: Response,
  status: number,
  context: unknown = '',
): Promise<{ error: { code: string; message: string } }> {
  const text = await response.text();
  expect({ context, status: response.status }).toEqual({ context, status });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${JSON.stringify(context)}: error body is not JSON: ${text.slice(0, 200)}`);
  }
  expect({ context, body }).toEqual({ context, body: { error: { code: CONTRACT_ERROR_CODES[status], message: expect.any(String) } } });
  return body as { error: { code: string; message: string } };
}

export interface RedisWatch {
  /** Every command seen so far, as "CMD arg1 arg2 ...". */
  lines(): string[];
  /** Commands that name a key of this tenant (its hash tag, or the bare id), rate-limit counters excepted. */
  tenantLines(tenantId: string): string[];
  stop(): void;
}

/**
 * MONITOR on the server `redis` talks to. Resolves once the monitor is attached. Other test files
 * share the server, so callers filter by their own (unique) tenant ids.
 */
export async function watchRedis(redis: Redis): Promise<RedisWatch> {
  const monitor = await monitorRedis(redis.options.host ?? '127.0.0.1', redis.options.port ?? 6379);
  return {
    lines: () => monitor.lines(),
    tenantLines: (tenantId) => monitor.lines().filter((line) => line.includes(tenantId) && !line.includes('{rl:')),
    stop: () => monitor.stop(),
  };
}

/** MONITOR output trails the commands: wait until a marker command shows up. */
export async function settle(redis: Redis, watch: RedisWatch): Promise<void> {
  const marker = `settle-${Math.random().toString(36).slice(2)}`;
  await redis.echo(marker);
  for (let i = 0; i < 200 && !watch.lines().some((l) => l.includes(marker)); i++) await sleep(10);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface RouteRequest {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
}

/**
 * One well-formed request per authenticated route of the route table (fails if a route is added
 * without a sample here, so the suites keep covering every route).
 */
export function authenticatedRequests(ids: { productId: string; orderId: string }): RouteRequest[] {
  const { productId, orderId } = ids;
  const samples: Record<string, Omit<RouteRequest, 'name'>[]> = {
    ListProducts: [{ method: 'GET', path: '/api/products' }],
    GetProduct: [
      { method: 'GET', path: `/api/products/${productId}` },
      { method: 'GET', path: `/api/products/${productId}?include=stock` },
    ],
    GetProductStock: [{ method: 'GET', path: `/api/products/${productId}/stock` }],
    CreateProduct: [{ method: 'POST', path: '/api/products', body: { id: productId, name: 'Intruder', price: 1, category: 'misc' } }],
    UpdateProduct: [{ method: 'PUT', path: `/api/products/${productId}`, body: { price: 1 } }],
    DeleteProduct: [{ method: 'DELETE', path: `/api/products/${productId}` }],
    AdjustStock: [{ method: 'POST', path: `/api/products/${productId}/stock-adjustments`, body: { delta: 5, reason: 'steal' } }],
    CreateOrder: [{ method: 'POST', path: '/api/orders', body: { lines: [{ productId, quantity: 1 }] } }],
    GetOrder: [{ method: 'GET', path: `/api/orders/${orderId}` }],
    UpdateOrder: [{ method: 'PATCH', path: `/api/orders/${orderId}`, body: { status: 'cancelled' } }],
  };
  const authenticated = REST_ROUTES.filter((r) => r.permission !== undefined);
  const missing = authenticated.filter((r) => !samples[r.name]).map((r) => r.name);
  if (missing.length > 0) throw new Error(`no sample request for route(s) ${missing.join(', ')}: add them to security-fixtures.ts`);
  return authenticated.flatMap((r) => (samples[r.name] ?? []).map((s) => ({ name: r.name, ...s })));
}

/** Percent-encodes every byte of the UTF-8 form except [A-Za-z0-9_-] (lone surrogates become U+FFFD). */
export function encodePathSegment(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The deployed function of a route of the route table (its logical id: the route's name and the CDK's hash). */
export function routeFunction(deployed: DeployedStack, route: string): DeployedFunction {
  const found = [...deployed.deployment.functions.values()].filter(
    (f) => f.logicalId.startsWith(route) && /^[0-9A-F]{8}$/.test(f.logicalId.slice(route.length)),
  );
  if (found.length !== 1)
    throw new Error(`expected one deployed function for route ${route}, found ${found.map((f) => f.logicalId).join(', ') || 'none'}`);
  return found[0] as DeployedFunction;
}
