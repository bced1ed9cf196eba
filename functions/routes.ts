/**
 * The route table: the single source of truth for every entry point of shop-edge.
 * The CDK API stack, the CloudFront behaviours and the local stack are all generated from it.
 * Imports nothing from aws-cdk-lib (function bundles stay small).
 */
import type { $ZodObject, $ZodType } from 'zod/v4/core';
import type { Permission } from './shared/permissions';
import {
  createOrderSchema,
  createProductSchema,
  getProductQuerySchema,
  listProductsQuerySchema,
  marketplaceQuerySchema,
  stockAdjustmentSchema,
  updateOrderSchema,
  updateProductSchema,
} from './shared/requests';
import { PRIVATE_NO_STORE, type CacheClass } from './shared/cache-headers';
import type { TableKey } from './shared/tables';

export { PERMISSIONS, type Permission } from './shared/permissions';

export type { CacheClass } from './shared/cache-headers';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface TableAccess {
  readonly table: TableKey;
  readonly access: 'read' | 'write';
}

export interface FunctionNeeds {
  /**
   * Talks to the cache (runs in the VPC in AWS). Every REST route with a permission does, even
   * one that caches nothing (live stock, orders): its per-user rate limit counts in the cache,
   * and without one the limit would let every request through.
   */
  readonly redis: boolean;
  readonly tables: readonly TableAccess[];
  /** Posts to WebSocket connections through the API Gateway Management API. */
  readonly manageConnections?: boolean;
  /** Creates CloudFront invalidations. */
  readonly cdnInvalidation?: boolean;
  /** Signs and opens page cursors with the deployment's cursor key, a secret it reads once (REST routes: the API stack binds it). */
  readonly cursorKey?: boolean;
}

/** The response bodies the OpenAPI document names (openapi/schemas.ts holds their schemas). */
export type ResponseSchemaName = 'Product' | 'ProductWithStock' | 'StockLevel' | 'Order' | 'Health';

export interface RestRoute {
  /** Stable name: the Lambda function's logical id and the local stack's label. */
  readonly name: string;
  readonly method: HttpMethod;
  /** API Gateway resource path with {param} placeholders. */
  readonly path: string;
  /** Handler module, relative to the repository root; it exports `handler`. */
  readonly entry: string;
  /** undefined: public route, no authorizer. */
  readonly permission?: Permission;
  readonly cacheClass: CacheClass;
  readonly needs: FunctionNeeds;
  readonly summary: string;
  /**
   * The query string's schema (functions/shared/requests.ts), validated by the handler chain before
   * the handler runs: repeated or unknown parameters are 400.
   * @default - the route reads no query
   */
  readonly query?: $ZodObject;
  /**
   * The JSON body's schema, validated by the handler chain (413 over 64 KiB, 400 when not UTF-8
   * JSON or invalid). @default - the route reads no body
   */
  readonly body?: $ZodType;
  /** What a success answers: the OpenAPI document's (its generation fails for a route of the table without one). */
  readonly success?: {
    readonly status: 200 | 201 | 204;
    readonly description: string;
    /** A response schema, or several (anyOf). */
    readonly data?: ResponseSchemaName | readonly ResponseSchemaName[];
    /** A page: {data: [...], nextCursor}. */
    readonly list?: boolean;
    /** 201 with a Location header. */
    readonly location?: boolean;
  };
  /** Answers with a strong ETag; an If-None-Match that matches gets 304. */
  readonly conditional?: boolean;
  /** Takes an optional If-Match (412 on mismatch). */
  readonly ifMatch?: boolean;
  /** Error statuses beyond those every route of its kind has (400 with an id, query or body; 404 with an id; 413 with a body; 401, 403, 429 with a permission). */
  readonly errors?: readonly number[];
  /** A word on caching beyond the cache class's header. */
  readonly cacheNote?: string;
}

export interface WebSocketRoute {
  readonly name: string;
  /** $connect, $disconnect, $default or the value of body.action. */
  readonly routeKey: string;
  readonly entry: string;
  readonly needs: FunctionNeeds;
}

export interface StreamConsumer {
  readonly name: string;
  readonly table: TableKey;
  readonly entry: string;
  readonly needs: FunctionNeeds;
  readonly batchSize: number;
  /**
   * Concurrent batches per shard (the mapping's ParallelizationFactor, 1 to 10). Lambda reads the
   * shard once and hands each record to one of this many lanes by a hash of its partition key
   * (pk, T#<tenantId>): one key's records stay in order, in one lane, while the other lanes go
   * on. It adds no reader of the stream. The consumer's concurrency is up to shards × this factor.
   */
  readonly parallelizationFactor: number;
  /**
   * Lambda event filters (the mapping's FilterCriteria, EventBridge patterns over the stream
   * record): only records matching one of them reach the function, the others are dropped as
   * processed. Every record the function acts on must match.
   * @default - every record
   */
  readonly filters?: readonly Readonly<Record<string, unknown>>[];
}

const shopRead: TableAccess = { table: 'shop', access: 'read' };
const shopWrite: TableAccess = { table: 'shop', access: 'write' };
const connectionsWrite: TableAccess = { table: 'connections', access: 'write' };

export const AUTHORIZER = {
  name: 'Authorizer',
  entry: 'functions/handlers/authorizer.ts',
  /** REST: header; WebSocket $connect: query string (browsers cannot set headers on a WebSocket). */
  restIdentitySource: 'method.request.header.Authorization',
  webSocketIdentitySource: 'route.request.querystring.token',
  resultCacheTtlSeconds: 300,
  needs: { redis: false, tables: [] } satisfies FunctionNeeds,
} as const;

/**
 * The per-client limit of the public routes (those without a permission, so without the per-user
 * limit): the requests of one client to any of them, counted together over a window. In AWS a WAF
 * rate-based rule on the REST API's stage (lib/constructs/public-client-limit.ts); in the local
 * stack the REST front. Past it: 429 RATE_LIMITED, API Gateway's THROTTLED body, with Retry-After.
 */
export const PUBLIC_CLIENT_LIMIT = {
  /** Requests per window; WAF takes 10 to 2,000,000,000. */
  requests: 600,
  /** WAF's evaluation windows: 60, 120, 300 or 600 seconds. */
  windowSeconds: 60,
} as const;

const REST_ROUTE_TABLE = [
  {
    name: 'ListProducts',
    method: 'GET',
    path: '/api/products',
    entry: 'functions/handlers/products/list.ts',
    permission: 'products:read',
    cacheClass: 'product-list',
    needs: { redis: true, tables: [shopRead], cursorKey: true },
    summary: "List a tenant's products (limit, cursor, category, q)",
    query: listProductsQuerySchema,
    success: { status: 200, description: "A page of the tenant's products (no stock in list items)", data: 'Product', list: true },
    conditional: true,
  },
  {
    name: 'GetProduct',
    method: 'GET',
    path: '/api/products/{id}',
    entry: 'functions/handlers/products/get.ts',
    permission: 'products:read',
    cacheClass: 'product-read',
    needs: { redis: true, tables: [shopRead] },
    summary: 'One product; ?include=stock adds live stock (then private, no-store)',
    query: getProductQuerySchema,
    success: { status: 200, description: 'The product; with include=stock, plus its live stock', data: ['Product', 'ProductWithStock'] },
    conditional: true,
    cacheNote: `With include=stock: ${PRIVATE_NO_STORE['Cache-Control']}.`,
  },
  {
    name: 'GetProductStock',
    method: 'GET',
    path: '/api/products/{id}/stock',
    entry: 'functions/handlers/products/stock.ts',
    permission: 'products:read',
    cacheClass: 'live',
    needs: { redis: true, tables: [shopRead] },
    summary: 'Live stock of a product, never from a cache',
    success: { status: 200, description: 'Live stock, never from a cache', data: 'StockLevel' },
  },
  {
    name: 'CreateProduct',
    method: 'POST',
    path: '/api/products',
    entry: 'functions/handlers/products/create.ts',
    permission: 'products:write',
    cacheClass: 'no-store',
    needs: { redis: true, tables: [shopWrite] },
    summary: 'Create a product (optional client-chosen id)',
    body: createProductSchema,
    success: { status: 201, description: 'The created product', data: 'Product', location: true },
    errors: [409],
  },
  {
    name: 'UpdateProduct',
    method: 'PUT',
    path: '/api/products/{id}',
    entry: 'functions/handlers/products/update.ts',
    permission: 'products:write',
    cacheClass: 'no-store',
    needs: { redis: true, tables: [shopWrite] },
    summary: 'Partial update; If-Match optional',
    body: updateProductSchema,
    success: { status: 200, description: 'The updated product', data: 'Product' },
    ifMatch: true,
    errors: [409, 412],
  },
  {
    name: 'DeleteProduct',
    method: 'DELETE',
    path: '/api/products/{id}',
    entry: 'functions/handlers/products/delete.ts',
    permission: 'products:write',
    cacheClass: 'no-store',
    needs: { redis: true, tables: [shopWrite] },
    summary: 'Soft delete',
    success: { status: 204, description: 'Deleted (soft); later reads are 404' },
  },
  {
    name: 'AdjustStock',
    method: 'POST',
    path: '/api/products/{id}/stock-adjustments',
    entry: 'functions/handlers/products/adjust-stock.ts',
    permission: 'stock:write',
    cacheClass: 'no-store',
    needs: { redis: true, tables: [shopWrite] },
    summary: 'Atomic stock change; never below zero',
    body: stockAdjustmentSchema,
    success: { status: 200, description: 'The stock after the change', data: 'StockLevel' },
    errors: [409],
  },
  {
    name: 'CreateOrder',
    method: 'POST',
    path: '/api/orders',
    entry: 'functions/handlers/orders/create.ts',
    permission: 'orders:write',
    cacheClass: 'no-store',
    needs: { redis: true, tables: [shopWrite] },
    summary: 'Place an order, reserving stock for every line or none',
    body: createOrderSchema,
    success: { status: 201, description: 'The order, with stock reserved for every line', data: 'Order', location: true },
    errors: [404, 409],
  },
  {
    name: 'GetOrder',
    method: 'GET',
    path: '/api/orders/{id}',
    entry: 'functions/handlers/orders/get.ts',
    permission: 'orders:read',
    cacheClass: 'private-revalidate',
    needs: { redis: true, tables: [shopRead] },
    summary: 'One order; browsers revalidate with the ETag',
    success: { status: 200, description: 'The order', data: 'Order' },
    conditional: true,
  },
  {
    name: 'UpdateOrder',
    method: 'PATCH',
    path: '/api/orders/{id}',
    entry: 'functions/handlers/orders/update.ts',
    permission: 'orders:write',
    cacheClass: 'no-store',
    needs: { redis: true, tables: [shopWrite] },
    summary: 'Change order status; cancel returns stock',
    body: updateOrderSchema,
    success: { status: 200, description: 'The order with its new status', data: 'Order' },
    errors: [409],
  },
  {
    name: 'ListMarketplace',
    method: 'GET',
    path: '/api/marketplace/products',
    entry: 'functions/handlers/marketplace/list.ts',
    cacheClass: 'marketplace',
    needs: { redis: true, tables: [shopRead], cursorKey: true },
    summary: 'Listed products of all tenants (public)',
    query: marketplaceQuerySchema,
    success: { status: 200, description: 'A page of the listed products of every tenant', data: 'Product', list: true },
    conditional: true,
  },
  {
    name: 'Health',
    method: 'GET',
    path: '/health',
    entry: 'functions/handlers/health.ts',
    cacheClass: 'no-store',
    needs: { redis: true, tables: [shopRead] },
    summary: 'Liveness of Redis and DynamoDB',
    success: { status: 200, description: 'Redis and DynamoDB answer', data: 'Health' },
    errors: [503],
  },
] as const satisfies readonly RestRoute[];

export const REST_ROUTES: readonly RestRoute[] = REST_ROUTE_TABLE;
export type RestRouteName = (typeof REST_ROUTE_TABLE)[number]['name'];
/** A route of the table with its own literal types (its schemas among them): what a handler's request is typed by. */
export type RestRouteNamed<N extends RestRouteName> = Extract<(typeof REST_ROUTE_TABLE)[number], { readonly name: N }>;

export const WEBSOCKET_ROUTES: readonly WebSocketRoute[] = [
  {
    name: 'WsConnect',
    routeKey: '$connect',
    entry: 'functions/handlers/ws/connect.ts',
    needs: { redis: false, tables: [connectionsWrite] },
  },
  {
    name: 'WsDisconnect',
    routeKey: '$disconnect',
    entry: 'functions/handlers/ws/disconnect.ts',
    needs: { redis: false, tables: [connectionsWrite] },
  },
  {
    name: 'WsSubscribe',
    routeKey: 'subscribe',
    entry: 'functions/handlers/ws/subscribe.ts',
    // Outside the VPC (it replies through the public management API): snapshots use the in-process cache.
    needs: { redis: false, tables: [connectionsWrite, shopRead], manageConnections: true },
  },
  {
    name: 'WsUnsubscribe',
    routeKey: 'unsubscribe',
    entry: 'functions/handlers/ws/unsubscribe.ts',
    needs: { redis: false, tables: [connectionsWrite], manageConnections: true },
  },
  {
    name: 'WsPing',
    routeKey: 'ping',
    entry: 'functions/handlers/ws/ping.ts',
    needs: { redis: false, tables: [connectionsWrite], manageConnections: true },
  },
  {
    name: 'WsDefault',
    routeKey: '$default',
    entry: 'functions/handlers/ws/default.ts',
    // Every message is admitted first: the connection is read and its message count updated.
    needs: { redis: false, tables: [connectionsWrite], manageConnections: true },
  },
];

export const STREAM_CONSUMERS: readonly StreamConsumer[] = [
  {
    // Outside the VPC: needs the public management and CloudFront APIs, not Redis.
    name: 'FanOut',
    table: 'shop',
    entry: 'functions/handlers/streams/fan-out.ts',
    needs: { redis: false, tables: [{ table: 'connections', access: 'write' }, shopWrite], manageConnections: true, cdnInvalidation: true },
    batchSize: 100,
    // 10 lanes: a tenant's fan-out paced against the account throttle (5,000 subscribers at 500 a
    // second: 10 s) holds up only the tenants whose pk hashes to its lane, not the whole shard.
    // A tenant's changes keep their order: all of them share its pk, so its lane.
    parallelizationFactor: 10,
  },
  {
    // In the VPC: bumps cache generations for every committed change, from any writer.
    name: 'Invalidate',
    table: 'shop',
    entry: 'functions/handlers/streams/invalidate.ts',
    needs: { redis: true, tables: [] },
    batchSize: 100,
    // 1: a batch is one Redis call for all its generations, quick; what makes it slow (the cache
    // unreachable, INVALIDATION_PATIENCE_MS) would hold every lane up alike, so more lanes would
    // only split the batches into more calls and more concurrent executions in the VPC.
    parallelizationFactor: 1,
    // Product items only (pk T#<tenantId>, sk P#<productId>: functions/shared/tables.ts), inserted,
    // updated or removed: the only records streams/invalidation.ts bumps generations for.
    filters: [{ dynamodb: { Keys: { pk: { S: [{ prefix: 'T#' }] }, sk: { S: [{ prefix: 'P#' }] } } } }],
  },
];

/** Matches an API Gateway resource path against a concrete path; returns path parameters or undefined. */
export function matchPath(template: string, path: string): Record<string, string> | undefined {
  const want = template.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as string;
    const g = got[i] as string;
    if (w.startsWith('{') && w.endsWith('}')) {
      if (g === '') return undefined;
      params[w.slice(1, -1)] = g;
    } else if (w !== g) {
      return undefined;
    }
  }
  return params;
}
