/**
 * The OpenAPI 3.1 document of the REST API, generated from the route table (functions/routes.ts:
 * paths, methods, permissions, cache classes, summaries, what each answers, and the query and body
 * schemas the handler chain validates with, from functions/shared/requests.ts), the response
 * schemas (./schemas.ts) and the exact cache headers (functions/shared/cache-headers.ts). JSON
 * Schema comes from zod 4's toJSONSchema.
 *
 * Written to openapi.json by `npm run openapi`; served at /openapi.json by the local stack.
 */
import { toJSONSchema, type $ZodType, type ToJSONSchemaParams } from 'zod/v4/core';
import { REST_ROUTES, type ResponseSchemaName, type RestRoute } from '../functions/routes';
import { CACHE_HEADERS } from '../functions/shared/cache-headers';
import { ERROR_CODES, ERRORS } from '../functions/shared/errors';
import {
  createOrderSchema,
  createProductSchema,
  idSchema,
  stockAdjustmentSchema,
  updateOrderSchema,
  updateProductSchema,
} from '../functions/shared/requests';
import * as z from '../functions/shared/zod';
import {
  availabilitySchema,
  errorSchema,
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
} satisfies Readonly<Record<ResponseSchemaName | `${string}Request` | 'Error' | 'OrderLine' | 'Availability', $ZodType>>;
type ComponentName = keyof typeof COMPONENTS;

/** A route's body schema is a component: its name, found by identity. */
function componentOf(schema: $ZodType, route: RestRoute): ComponentName {
  const found = (Object.keys(COMPONENTS) as ComponentName[]).find((name) => COMPONENTS[name] === schema);
  if (!found) throw new Error(`${route.name}: its body schema is not a component of openapi/document.ts COMPONENTS`);
  return found;
}

type Success = NonNullable<RestRoute['success']>;

function successOf(route: RestRoute): Success {
  if (!route.success)
    throw new Error(`route ${route.name} (${route.method} ${route.path}) says nothing of its success in functions/routes.ts`);
  return route.success;
}

/** The error answers a route can document, by status (a 500 is never documented: its body says nothing). */
const ERRORS_BY_STATUS: Readonly<Record<number, { name: string; description: string; retryAfter?: boolean }>> = Object.fromEntries(
  ERROR_CODES.filter((code) => code !== 'INTERNAL').map((code) => {
    const { status, name, meaning, ...rest } = ERRORS[code];
    return [status, { name, description: `${code}: ${meaning}`, ...('retryAfter' in rest ? { retryAfter: true } : {}) }];
  }),
);

/**
 * zod refinements have no JSON Schema form; the two the request schemas have are restated here,
 * keyed by the schema they refine, so a change to either shows up next to its schema.
 */
const REFINEMENTS = new Map<$ZodType, Json>([
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
} satisfies ToJSONSchemaParams;

function componentSchemas(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(COMPONENTS)) registry.add(schema, { id });
  const { schemas } = toJSONSchema(registry, { ...JSON_SCHEMA_OPTIONS, uri: (id) => `#/components/schemas/${id}` });
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
function inlineSchema(schema: $ZodType): Json {
  const { $schema: _dialect, ...rest } = toJSONSchema(schema, JSON_SCHEMA_OPTIONS) as Json;
  return rest;
}

const ref = (name: ComponentName) => ({ $ref: `#/components/schemas/${name}` });

function tagOf(route: RestRoute): string {
  const [first, second] = route.path.split('/').filter(Boolean);
  return first === 'api' ? (second ?? 'api') : (first ?? 'root');
}

function parameters(route: RestRoute): Json[] {
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
  if (route.query) {
    const query = inlineSchema(route.query) as { properties?: Record<string, Json>; required?: string[] };
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
  if (route.conditional) {
    out.push({
      name: 'If-None-Match',
      in: 'header',
      required: false,
      description: 'An ETag from an earlier answer: 304 when it still matches',
      schema: { type: 'string' },
    });
  }
  if (route.ifMatch) {
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

function successResponse(route: RestRoute): Json {
  const success = successOf(route);
  const cache = CACHE_HEADERS[route.cacheClass];
  const headers: Record<string, Json> = {
    'Cache-Control': {
      description: `Always \`${cache['Cache-Control']}\` (cache class ${route.cacheClass}).${route.cacheNote ? ` ${route.cacheNote}` : ''}`,
      schema: { type: 'string', examples: [cache['Cache-Control']] },
    },
  };
  if (cache.Vary) headers.Vary = { description: `\`${cache.Vary}\``, schema: { type: 'string', examples: [cache.Vary] } };
  if (route.conditional) headers.ETag = { description: 'Strong ETag of the body', schema: { type: 'string' } };
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

function errorStatuses(route: RestRoute): number[] {
  const statuses = new Set<number>(route.errors ?? []);
  const hasId = route.path.includes('{');
  if (hasId || route.query || route.body) statuses.add(400);
  if (hasId) statuses.add(404);
  if (route.body) statuses.add(413);
  if (route.permission) [401, 403, 429].forEach((s) => statuses.add(s));
  return [...statuses].sort((a, b) => a - b);
}

function operation(route: RestRoute): Json {
  const responses: Record<string, Json> = { [String(successOf(route).status)]: successResponse(route) };
  if (route.conditional) responses['304'] = { description: 'Not modified: If-None-Match matched the ETag (no body)' };
  for (const status of errorStatuses(route)) {
    const error = ERRORS_BY_STATUS[status];
    if (!error) throw new Error(`${route.name}: no error response defined for ${status}`);
    responses[String(status)] = { $ref: `#/components/responses/${error.name}` };
  }
  const params = parameters(route);
  return {
    operationId: route.name,
    summary: route.summary,
    tags: [tagOf(route)],
    ...(route.permission
      ? { description: `Needs the \`${route.permission}\` permission.`, security: [{ bearerAuth: [] }], 'x-permission': route.permission }
      : { description: 'Public: no token.', security: [] }),
    'x-cache-class': route.cacheClass,
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(route.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: ref(componentOf(route.body, route)) } } } }
      : {}),
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
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) (paths[route.path] ??= {})[route.method.toLowerCase()] = operation(route);

  const responses: Record<string, Json> = {};
  for (const { name, description, retryAfter } of Object.values(ERRORS_BY_STATUS)) {
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
        'Generated from functions/routes.ts and the zod schemas of functions/shared/requests.ts (`npm run openapi`). ' +
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
