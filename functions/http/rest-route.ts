/**
 * Builds a REST handler from its route table entry: Powertools logging and metrics, error
 * mapping, permission, rate limit and cache headers come from the table; the handler supplies
 * only what it does. Requests are parsed and validated here, before any Redis or DynamoDB call.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { $ZodError, $ZodType, output } from 'zod/v4/core';
import { REST_ROUTES, type RestRoute, type RestRouteName, type RestRouteNamed } from '../routes';
import { CACHE_HEADERS } from '../shared/cache-headers';
import { BadRequestError, PayloadTooLargeError } from '../shared/errors';
import { requireId } from '../shared/ids';
import { metrics, metricsEnabled } from '../shared/metrics';
import { logger } from '../shared/observability';
import * as z from '../shared/zod';
import { ifNoneMatchHolds } from '../shared/etags';
import { pageCursors, type CursorSigner, type PageCursors } from './cursors';
import { callerOf, cacheHeaders, cors, errorResponses, JSON_HEADERS, rateLimit, requirePermission, type Caller } from './middlewares';
import type { RateLimiter } from './rate-limiter';

export const MAX_BODY_BYTES = 64 * 1024;

/** What a route's schema in the route table parses to; undefined when the route declares none. */
type Parsed<S> = S extends $ZodType ? output<S> : undefined;

export interface RestRequest<Query = unknown, Body = unknown> {
  readonly event: APIGatewayProxyEvent;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The query string, validated by the route's query schema (repeated or unknown parameters are 400). */
  readonly query: Query;
  /** The JSON body, validated by the route's body schema (413 over 64 KiB, 400 when not JSON or invalid). */
  readonly body: Body;
  /** The authorizer's caller; throws 401 on a public route. */
  caller(): Caller;
  /** A path parameter, already checked against the id pattern (400 otherwise) before the handler ran. */
  id(name: string): string;
  /**
   * The cursors of this route's listing of `owner` (a tenant id, or "marketplace"), positions of
   * `parts` ids: open the request's before reading anything, seal the next page's.
   */
  cursors(owner: string, parts: number): Promise<PageCursors>;
}

/** The request of a route of the table, typed by its schemas. */
export type RequestOf<N extends RestRouteName> = RestRequest<
  Parsed<RestRouteNamed<N> extends { readonly query: infer Q } ? Q : undefined>,
  Parsed<RestRouteNamed<N> extends { readonly body: infer B } ? B : undefined>
>;

export interface RestResponse {
  readonly status?: number;
  /** Answered as {"data": ...} (with nextCursor when set); absent: no body. */
  readonly data?: unknown;
  readonly nextCursor?: string | null;
  readonly etag?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Builds one service on first use and shares it for the container's life (functions/composition/). */
export type Providers<S> = { readonly [K in keyof S]: () => Promise<S[K]> };

/** What a handler hands the chain: its services, and what its route's permission and listing need. */
export interface RestWiring<S> {
  /** The services the action is handed, by name; nothing else is built. */
  readonly services: Providers<S>;
  /** The per-user limit's counter: required when the route has a permission. */
  readonly rateLimiter?: () => Promise<RateLimiter>;
  /** The page-cursor signer: required when the action lists pages (request.cursors). */
  readonly cursorSigner?: () => Promise<CursorSigner>;
}

export function routeNamed(name: string): RestRoute {
  const route = REST_ROUTES.find((r) => r.name === name);
  if (!route) throw new Error(`no route named ${name} in the route table`);
  return route;
}

function lowerCaseHeaders(event: APIGatewayProxyEvent): Record<string, string> {
  const out: Record<string, string> = {};
  // null, not {}, in an API Gateway console test without headers (the type does not say so).
  const headers = event.headers as APIGatewayProxyEvent['headers'] | null;
  for (const [k, v] of Object.entries(headers ?? {})) if (typeof v === 'string') out[k.toLowerCase()] = v;
  return out;
}

function formatIssues(error: $ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

function validated(schema: $ZodType, value: unknown, what: 'query' | 'body'): unknown {
  const parsed = z.safeParse(schema, value);
  if (!parsed.success) throw new BadRequestError(`invalid ${what}: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

function parseQuery(route: RestRoute, event: APIGatewayProxyEvent): unknown {
  if (!route.query) return undefined;
  const multi = event.multiValueQueryStringParameters ?? {};
  for (const [key, values] of Object.entries(multi)) {
    if ((values?.length ?? 0) > 1) throw new BadRequestError(`query parameter ${key} given more than once`);
  }
  return validated(route.query, { ...(event.queryStringParameters ?? {}) }, 'query');
}

function parseBody(route: RestRoute, event: APIGatewayProxyEvent, headers: Readonly<Record<string, string>>): unknown {
  if (!route.body) return undefined;
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) throw new PayloadTooLargeError();
  const type = headers['content-type'];
  if (type !== undefined && !/^application\/(.+\+)?json\b/i.test(type)) throw new BadRequestError('Content-Type must be application/json');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new BadRequestError('body must be valid UTF-8 JSON');
  }
  return validated(route.body, json, 'body');
}

function requestOf(route: RestRoute, event: APIGatewayProxyEvent, cursorSigner: RestWiring<object>['cursorSigner']): RestRequest {
  const headers = lowerCaseHeaders(event);
  // In the order a client would fix them: the query, the path's ids, then the body.
  const query = parseQuery(route, event);
  const ids: Record<string, string> = {};
  for (const placeholder of route.path.match(/\{[^}]+\}/g) ?? []) {
    const name = placeholder.slice(1, -1);
    ids[name] = requireId(event.pathParameters?.[name], name);
  }
  const body = parseBody(route, event, headers);
  return {
    event,
    headers,
    query,
    body,
    caller: () => callerOf(event),
    id: (name) => {
      const id = ids[name];
      if (id === undefined) throw new Error(`route ${route.name} has no path parameter ${name}`);
      return id;
    },
    cursors: async (owner, parts) => {
      if (!cursorSigner) throw new Error(`route ${route.name} lists pages: its handler must wire a cursorSigner`);
      return pageCursors(await cursorSigner(), { route: route.name, owner, parts });
    },
  };
}

function toResult(request: RestRequest, response: RestResponse): APIGatewayProxyResult {
  const status = response.status ?? 200;
  const headers: Record<string, string> = { ...(response.headers ?? {}) };
  if (response.etag) headers.ETag = response.etag;
  // Judged after the action, so only for reads: GET and HEAD have nothing to undo.
  const ifNoneMatch = request.headers['if-none-match'];
  const isRead = request.event.httpMethod === 'GET' || request.event.httpMethod === 'HEAD';
  if (status === 200 && isRead && ifNoneMatch !== undefined && !ifNoneMatchHolds(ifNoneMatch, response.etag)) {
    return { statusCode: 304, headers, body: '' };
  }
  if (response.data === undefined) return { statusCode: status, headers, body: '' };
  const body = response.nextCursor === undefined ? { data: response.data } : { data: response.data, nextCursor: response.nextCursor };
  return { statusCode: status, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

async function resolve<S extends object>(providers: Providers<S>): Promise<S> {
  const names = Object.keys(providers) as (keyof S)[];
  const values = await Promise.all(names.map((name) => providers[name]()));
  return Object.fromEntries(names.map((name, i) => [name, values[i]])) as S;
}

/**
 * The handler of the route `name`: the chain validates what the route table says the route takes
 * (path ids, query, body) before any service is built or called, then hands the action its services.
 */
export function restRoute<N extends RestRouteName, S extends object>(
  name: N,
  wiring: RestWiring<S>,
  action: (request: RequestOf<N>, services: S) => Promise<RestResponse>,
) {
  const route = routeNamed(name);
  const { rateLimiter } = wiring;
  if (route.permission && !rateLimiter) throw new Error(`route ${name} needs a permission, so a per-user rate limit: wire a rateLimiter`);
  const core = async (event: APIGatewayProxyEvent, _context: Context): Promise<APIGatewayProxyResult> => {
    const request = requestOf(route, event, wiring.cursorSigner);
    const services = await resolve(wiring.services);
    return toResult(request, await action(request as RequestOf<N>, services));
  };
  // cors first: its after and onError run last, on the answer every other middleware shaped.
  const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>().use(cors()).use(injectLambdaContext(logger));
  if (metricsEnabled) handler.use(logMetrics(metrics, { captureColdStartMetric: true }));
  handler.use(errorResponses()).use(cacheHeaders(CACHE_HEADERS[route.cacheClass]));
  if (route.permission && rateLimiter) handler.use(requirePermission(route.permission)).use(rateLimit(rateLimiter));
  return handler.handler(core);
}
