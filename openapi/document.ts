/**
 * The OpenAPI 3.1 document of the REST API, generated from the route table (functions/routes.ts:
 * paths, methods, permissions, cache classes, summaries), the request schemas the handlers
 * validate with (functions/catalog/model.ts), the response schemas (./schemas.ts) and the exact
 * cache headers (functions/http/cache-control.ts). JSON Schema comes from zod 4's z.toJSONSchema.
 *
 * Every route needs an entry in OPERATIONS (what it takes and answers beyond the route table);
 * a route without one, or an entry without a route, makes generation fail.
 *
 * Written to openapi.json by `npm run openapi`; served at /openapi.json by the local stack.
 */
import { z } from 'zod';
import {
  createOrderSchema,
  createProductSchema,
  listProductsQuerySchema,
  marketplaceQuerySchema,
  stockAdjustmentSchema,
  updateOrderSchema,
  updateProductSchema,
  idSchema,
} from '../functions/catalog/model';
import { CACHE_HEADERS, PRIVATE_NO_STORE } from '../functions/http/cache-control';
import { REST_ROUTES, type RestRoute } from '../functions/routes';
import {
  availabilitySchema,
  errorSchema,
  getProductQuerySchema,
  healthSchema,
  orderLineSchema,
  orderSchema,
  productSchema,
  productWithStockSchema,
  stockLevelSchema,
} from './schemas';

export const OPENAPI_VERSION = '3.1.0';
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:3000';

type Json = Record<string, unknown>;

/** Named schemas: components/schemas/<name>; references between them become $refs. */
const COMPONENTS = {
  Product: productSchema,
  ProductWithStock: productWithStockSchema,
  StockLevel: stockLevelSchema,
  Availability: availabilitySchema,
  Order: orderSchema,
  OrderLine: orderLineSchema,
  Health: healthSchema,
  Error: errorSchema,
  CreateProductRequest: createProductSchema,
  UpdateProductRequest: updateProductSchema,
  StockAdjustmentRequest: stockAdjustmentSchema,
  CreateOrderRequest: createOrderSchema,
  UpdateOrderRequest: updateOrderSchema,
} satisfies Readonly<Record<string, z.ZodType>>;
/** A name of COMPONENTS: an operation cannot name a schema that is not there. */
type ComponentName = keyof typeof COMPONENTS;

interface OperationSpec {
  readonly query?: z.ZodObject;
  readonly body?: ComponentName;
  readonly success: {
    readonly status: 200 | 201 | 204;
    readonly description: string;
    /** A component, or several (anyOf). */
    readonly data?: ComponentName | readonly ComponentName[];
    /** A page: {data: [...], nextCursor}. */
    readonly list?: boolean;
    /** 201 with a Location header. */
    readonly location?: boolean;
  };
  /** Answers with a strong ETag; If-None-Match that matches gets 304. */
  readonly conditional?: boolean;
  /** Takes an optional If-Match (412 on mismatch). */
  readonly ifMatch?: boolean;
  /** Error statuses of this operation beyond those every route of its kind has. */
  readonly errors?: readonly number[];
  readonly cacheNote?: string;
}

export const OPERATIONS: Readonly<Record<string, OperationSpec>> = {
  ListProducts: {
    query: listProductsQuerySchema,
    success: { status: 200, description: "A page of the tenant's products (no stock in list items)", data: 'Product', list: true },
    conditional: true,
  },
  GetProduct: {
    query: getProductQuerySchema,
    success: { status: 200, description: 'The product; with include=stock, plus its live stock', data: ['Product', 'ProductWithStock'] },
    conditional: true,
    cacheNote: `With include=stock: ${PRIVATE_NO_STORE['Cache-Control']}.`,
  },
  GetProductStock: { success: { status: 200, description: 'Live stock, never from a cache', data: 'StockLevel' } },
  CreateProduct: {
    body: 'CreateProductRequest',
    success: { status: 201, description: 'The created product', data: 'Product', location: true },
    errors: [409],
  },
  UpdateProduct: {
    body: 'UpdateProductRequest',
    success: { status: 200, description: 'The updated product', data: 'Product' },
    ifMatch: true,
    errors: [409, 412],
  },
  DeleteProduct: { success: { status: 204, description: 'Deleted (soft); later reads are 404' } },
  AdjustStock: {
    body: 'StockAdjustmentRequest',
    success: { status: 200, description: 'The stock after the change', data: 'StockLevel' },
    errors: [409],
  },
  CreateOrder: {
    body: 'CreateOrderRequest',
    success: { status: 201, description: 'The order, with stock reserved for every line', data: 'Order', location: true },
    errors: [404, 409],
  },
  GetOrder: { success: { status: 200, description: 'The order', data: 'Order' }, conditional: true },
  UpdateOrder: {
    body: 'UpdateOrderRequest',
    success: { status: 200, description: 'The order with its new status', data: 'Order' },
    errors: [409],
  },
  ListMarketplace: {
    query: marketplaceQuerySchema,
    success: { status: 200, description: 'A page of the listed products of every tenant', data: 'Product', list: true },
    conditional: true,
  },
  Health: { success: { status: 200, description: 'Redis and DynamoDB answer', data: 'Health' }, errors: [503] },
};

const ERRORS: Readonly<Record<number, { name: string; description: string; retryAfter?: boolean }>> = {
  400: { name: 'BadRequest', description: 'BAD_REQUEST: an invalid id, query or body' },
  401: { name: 'Unauthorized', description: 'UNAUTHORIZED: no token, or a token that is invalid or expired' },
  403: { name: 'Forbidden', description: 'FORBIDDEN: the token lacks the permission' },
  404: { name: 'NotFound', description: "NOT_FOUND: no such resource in the caller's tenant (another tenant's resource is 404 too)" },
  409: { name: 'Conflict', description: 'CONFLICT: the id exists, not enough stock, a concurrent change, or a status that may not follow' },
  412: { name: 'PreconditionFailed', description: 'PRECONDITION_FAILED: If-Match does not match the current ETag' },
  413: { name: 'PayloadTooLarge', description: 'PAYLOAD_TOO_LARGE: a body over 64 KiB' },
  429: { name: 'RateLimited', description: 'RATE_LIMITED: too many requests; retry after Retry-After seconds', retryAfter: true },
  503: { name: 'Unavailable', description: 'UNAVAILABLE: a dependency is down; retry after Retry-After seconds', retryAfter: true },
};

/**
 * zod refinements have no JSON Schema form; the two the request schemas have are restated here,
 * keyed by the schema they refine, so a change to either shows up next to its schema.
 */
const REFINEMENTS = new Map<z.core.$ZodType, Json>([
  [updateProductSchema, { minProperties: 1 }],
  [stockAdjustmentSchema.shape.delta, { not: { const: 0 } }],
]);

/**
 * io 'input': request schemas as a client sends them (defaults make fields optional), and response
 * objects without additionalProperties: false, so adding a field is not a breaking change.
 */
const JSON_SCHEMA_OPTIONS = {
  io: 'input',
  override: ({ zodSchema, jsonSchema }) => {
    const extra = REFINEMENTS.get(zodSchema);
    if (extra) Object.assign(jsonSchema, extra);
  },
} satisfies z.core.ToJSONSchemaParams;

function componentSchemas(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(COMPONENTS)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, { ...JSON_SCHEMA_OPTIONS, uri: (id) => `#/components/schemas/${id}` });
  const out: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    // The document's jsonSchemaDialect names the dialect; zod's $id is the fragment URI, which
    // 2020-12 does not allow in $id.
    const { $schema: _dialect, $id: _id, ...rest } = schema as Json;
    out[id] = rest;
  }
  return out;
}

/** A standalone schema (parameters): no dialect keyword. */
function inlineSchema(schema: z.ZodType): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, JSON_SCHEMA_OPTIONS) as Json;
  return rest;
}

const ref = (name: ComponentName) => ({ $ref: `#/components/schemas/${name}` });

function tagOf(route: RestRoute): string {
  const [first, second] = route.path.split('/').filter(Boolean);
  return first === 'api' ? (second ?? 'api') : (first ?? 'root');
}

function parameters(route: RestRoute, spec: OperationSpec): Json[] {
  const out: Json[] = [];
  for (const name of route.path.match(/\{[^}]+\}/g) ?? []) {
    out.push({
      name: name.slice(1, -1),
      in: 'path',
      required: true,
      description: 'An id: 1 to 64 of A-Z a-z 0-9 _ -',
      schema: inlineSchema(idSchema),
    });
  }
  if (spec.query) {
    const query = inlineSchema(spec.query) as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, schema] of Object.entries(query.properties ?? {})) {
      const { description, ...rest } = schema;
      out.push({
        name,
        in: 'query',
        required: (query.required ?? []).includes(name),
        ...(typeof description === 'string' ? { description } : {}),
        schema: rest,
      });
    }
  }
  if (spec.conditional) {
    out.push({
      name: 'If-None-Match',
      in: 'header',
      required: false,
      description: 'An ETag from an earlier answer: 304 when it still matches',
      schema: { type: 'string' },
    });
  }
  if (spec.ifMatch) {
    out.push({
      name: 'If-Match',
      in: 'header',
      required: false,
      description: 'The ETag the change is based on: 412 when the product has changed since',
      schema: { type: 'string' },
    });
  }
  return out;
}

function successResponse(route: RestRoute, spec: OperationSpec): Json {
  const { success } = spec;
  const cache = CACHE_HEADERS[route.cacheClass];
  const headers: Record<string, Json> = {
    'Cache-Control': {
      description: `Always \`${cache['Cache-Control']}\` (cache class ${route.cacheClass}).${spec.cacheNote ? ` ${spec.cacheNote}` : ''}`,
      schema: { type: 'string', examples: [cache['Cache-Control']] },
    },
  };
  if (cache.Vary) headers.Vary = { description: `\`${cache.Vary}\``, schema: { type: 'string', examples: [cache.Vary] } };
  if (spec.conditional) headers.ETag = { description: 'Strong ETag of the body', schema: { type: 'string' } };
  if (success.location) headers.Location = { description: 'Path of the created resource', schema: { type: 'string' } };
  const response: Json = { description: success.description, headers };
  if (success.data !== undefined) {
    const data = typeof success.data === 'string' ? ref(success.data) : { anyOf: success.data.map((d) => ref(d)) };
    const body = success.list
      ? {
          type: 'object',
          properties: {
            data: { type: 'array', items: data },
            nextCursor: {
              type: ['string', 'null'],
              description:
                'Pass as cursor for the next page (signed for this listing; opaque). null only on the last page: a shorter page can still have one, so follow it until null',
            },
          },
          required: ['data', 'nextCursor'],
        }
      : { type: 'object', properties: { data }, required: ['data'] };
    response.content = { 'application/json': { schema: body } };
  }
  return response;
}

function errorStatuses(route: RestRoute, spec: OperationSpec): number[] {
  const statuses = new Set<number>(spec.errors ?? []);
  const hasId = route.path.includes('{');
  if (hasId || spec.query || spec.body) statuses.add(400);
  if (hasId) statuses.add(404);
  if (spec.body) statuses.add(413);
  if (route.permission) [401, 403, 429].forEach((s) => statuses.add(s));
  return [...statuses].sort((a, b) => a - b);
}

function operation(route: RestRoute, spec: OperationSpec): Json {
  const responses: Record<string, Json> = { [String(spec.success.status)]: successResponse(route, spec) };
  if (spec.conditional) responses['304'] = { description: 'Not modified: If-None-Match matched the ETag (no body)' };
  for (const status of errorStatuses(route, spec)) {
    const error = ERRORS[status];
    if (!error) throw new Error(`${route.name}: no error response defined for ${status}`);
    responses[String(status)] = { $ref: `#/components/responses/${error.name}` };
  }
  const params = parameters(route, spec);
  return {
    operationId: route.name,
    summary: route.summary,
    tags: [tagOf(route)],
    ...(route.permission
      ? { description: `Needs the \`${route.permission}\` permission.`, security: [{ bearerAuth: [] }], 'x-permission': route.permission }
      : { description: 'Public: no token.', security: [] }),
    'x-cache-class': route.cacheClass,
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(spec.body ? { requestBody: { required: true, content: { 'application/json': { schema: ref(spec.body) } } } } : {}),
    responses,
  };
}

export interface OpenApiOptions {
  /** @default http://127.0.0.1:3000 (the local stack) */
  readonly serverUrl?: string;
  /** @default REST_ROUTES */
  readonly routes?: readonly RestRoute[];
}

export function openApiDocument(options: OpenApiOptions = {}): Json {
  const routes = options.routes ?? REST_ROUTES;
  const names = new Set(routes.map((r) => r.name));
  const unknown = Object.keys(OPERATIONS).filter((name) => !names.has(name));
  if (unknown.length > 0) throw new Error(`OPERATIONS names routes that are not in the route table: ${unknown.join(', ')}`);

  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) {
    const spec = OPERATIONS[route.name];
    if (!spec) throw new Error(`route ${route.name} (${route.method} ${route.path}) has no entry in openapi/document.ts OPERATIONS`);
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation(route, spec);
  }

  const responses: Record<string, Json> = {};
  for (const { name, description, retryAfter } of Object.values(ERRORS)) {
    responses[name] = {
      description,
      ...(retryAfter ? { headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer', minimum: 0 } } } } : {}),
      content: { 'application/json': { schema: ref('Error') } },
    };
  }

  return {
    openapi: OPENAPI_VERSION,
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'shop-edge REST API',
      version: '0.1.0',
      summary: 'Caching and real-time layer of a multi-tenant shop system',
      description:
        'Generated from functions/routes.ts and the zod schemas of functions/catalog/model.ts (`npm run openapi`). ' +
        'Every success body is `{"data": ...}` (pages add `nextCursor`); every error is `{"error": {"code", "message"}}`. ' +
        'Prices and totals are integer minor units. Headers, caching rules and versions: docs/contract.md. The WebSocket protocol (live stock, orders, dashboard): asyncapi.json. ' +
        "Browsers on the deployment's corsOrigins may call every route (CORS, with preflights on every path): docs/contract.md, CORS.",
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [
      { url: options.serverUrl ?? DEFAULT_SERVER_URL, description: 'The local stack (npm start); in AWS, the CloudFront distribution' },
    ],
    tags: [
      { name: 'products', description: "A tenant's catalogue and live stock" },
      { name: 'orders', description: 'Orders, reserving stock' },
      { name: 'marketplace', description: 'Listed products of every tenant (public)' },
      { name: 'health', description: 'Liveness' },
    ],
    paths,
    components: {
      schemas: componentSchemas(),
      responses,
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'Claims: sub, tenantId, permissions (products:read, products:write, stock:write, orders:read, orders:write, dashboard:read); iss, aud and exp are checked.',
        },
      },
    },
  };
}
