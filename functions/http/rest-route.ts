/**
 * Builds a REST handler from its route table entry: Powertools logging and metrics, error
 * mapping, permission, rate limit and cache headers come from the table; the handler supplies
 * only what it does. Requests are parsed and validated here, before any Redis or DynamoDB call.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { z } from 'zod';
import { appServices, type AppServices } from '../app';
import { REST_ROUTES, type RestRoute } from '../routes';
import { BadRequestError, PayloadTooLargeError } from '../shared/errors';
import { requireId } from '../shared/ids';
import { logger, metrics, metricsEnabled } from '../shared/observability';
import { ifNoneMatchHolds } from '../shared/etags';
import { CACHE_HEADERS } from './cache-control';
import { pageCursors, type PageCursors } from './cursors';
import { callerOf, cacheHeaders, cors, errorResponses, JSON_HEADERS, rateLimit, requirePermission, type Caller } from './middlewares';

export const MAX_BODY_BYTES = 64 * 1024;

export interface RestRequest {
  readonly event: APIGatewayProxyEvent;
  readonly services: AppServices;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The authorizer's caller; throws 401 on a public route. */
  caller(): Caller;
  /** A path parameter checked against the id pattern (400 otherwise). */
  id(name: string): string;
  /** The query string validated by a schema; repeated or unknown parameters are 400. */
  query<S extends z.ZodType>(schema: S): z.infer<S>;
  /** The JSON body validated by a schema (413 over 64 KiB, 400 when not JSON or invalid). */
  body<S extends z.ZodType>(schema: S): z.infer<S>;
  /**
   * The cursors of this route's listing of `owner` (a tenant id, or "marketplace"), positions of
   * `parts` ids: open the request's before reading anything, seal the next page's.
   */
  cursors(owner: string, parts: number): Promise<PageCursors>;
}

export interface RestResponse {
  readonly status?: number;
  /** Wrapped as {"data": ...} unless raw is set. */
  readonly data?: unknown;
  readonly nextCursor?: string | null;
  readonly etag?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export type RestAction = (request: RestRequest) => Promise<RestResponse>;

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

function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

function requestOf(route: RestRoute, event: APIGatewayProxyEvent, services: AppServices): RestRequest {
  const headers = lowerCaseHeaders(event);
  return {
    event,
    services,
    headers,
    cursors: async (owner, parts) => pageCursors(await services.cursors(), { route: route.name, owner, parts }),
    caller: () => callerOf(event),
    id: (name) => requireId(event.pathParameters?.[name], name),
    query: (schema) => {
      const multi = event.multiValueQueryStringParameters ?? {};
      for (const [key, values] of Object.entries(multi)) {
        if ((values?.length ?? 0) > 1) throw new BadRequestError(`query parameter ${key} given more than once`);
      }
      const parsed = schema.safeParse({ ...(event.queryStringParameters ?? {}) });
      if (!parsed.success) throw new BadRequestError(`invalid query: ${formatIssues(parsed.error)}`);
      return parsed.data;
    },
    body: (schema) => {
      const raw = event.body ?? '';
      const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
      if (bytes.length > MAX_BODY_BYTES) throw new PayloadTooLargeError();
      const type = headers['content-type'];
      if (type !== undefined && !/^application\/(.+\+)?json\b/i.test(type))
        throw new BadRequestError('Content-Type must be application/json');
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      } catch {
        throw new BadRequestError('body must be valid UTF-8 JSON');
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) throw new BadRequestError(`invalid body: ${formatIssues(parsed.error)}`);
      return parsed.data;
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

export function restRoute(name: string, action: RestAction) {
  const route = routeNamed(name);
  const core = async (event: APIGatewayProxyEvent, _context: Context): Promise<APIGatewayProxyResult> => {
    const request = requestOf(route, event, await appServices());
    return toResult(request, await action(request));
  };
  // cors first: its after and onError run last, on the answer every other middleware shaped.
  const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>().use(cors()).use(injectLambdaContext(logger));
  if (metricsEnabled) handler.use(logMetrics(metrics, { captureColdStartMetric: true }));
  handler.use(errorResponses()).use(cacheHeaders(CACHE_HEADERS[route.cacheClass]));
  if (route.permission) {
    handler.use(requirePermission(route.permission)).use(rateLimit(async () => (await appServices()).rateLimiter));
  }
  return handler.handler(core);
}
