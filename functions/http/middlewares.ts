/**
 * The middy middlewares every REST route is built from. Each does one thing; rest-route.ts
 * stacks them from the route table, so a handler file holds only its domain call.
 */
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { Permission } from '../routes';
import { ForbiddenError, HttpError, RateLimitedError, UnauthorizedError } from '../shared/errors';
import { isValidId } from '../shared/ids';
import { logger } from '../shared/observability';
import { corsHeaders, CORS_ORIGINS_ENV, originsFromEnvironment, varyWithOrigin } from '../shared/cors';
import type { RateLimiter } from './rate-limiter';

export interface Caller {
  readonly tenantId: string;
  readonly userId: string;
  readonly permissions: ReadonlySet<string>;
}

/** What API Gateway hands over from the authorizer's context. */
export function callerOf(event: APIGatewayProxyEvent, now = Date.now()): Caller {
  const context = (event.requestContext.authorizer ?? {}) as Record<string, unknown>;
  const { tenantId, userId, permissions, exp } = context;
  if (!isValidId(tenantId) || typeof userId !== 'string' || userId === '') throw new UnauthorizedError();
  // API Gateway keeps the authorizer's Allow for its cache TTL (5 minutes) whatever the token's
  // exp: the route itself refuses a call past it. (The context arrives stringified on REST.)
  // A verdict cached before the authorizer passed exp has none, and stands.
  if (exp !== undefined && exp !== null && exp !== '') {
    const expiresAtMs = Number(exp) * 1000;
    if (!Number.isFinite(expiresAtMs) || now >= expiresAtMs) throw new UnauthorizedError('Token expired');
  }
  return { tenantId, userId, permissions: new Set(typeof permissions === 'string' ? permissions.split(' ').filter(Boolean) : []) };
}

export const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8' } as const;

export function errorResponse(error: HttpError): APIGatewayProxyResult {
  return {
    statusCode: error.statusCode,
    headers: { ...JSON_HEADERS, 'Cache-Control': 'no-store', ...error.headers },
    body: JSON.stringify(error.toJSON()),
  };
}

/** Typed errors become the contract's body; anything else is a 500 that never echoes internals. */
export function errorResponses(): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> {
  return {
    onError: (request) => {
      const { error } = request;
      if (error instanceof HttpError) {
        if (error.statusCode >= 500) logger.error('request failed', { error });
        request.response = errorResponse(error);
        return;
      }
      logger.error('unhandled error', { error: error as Error });
      const unavailable = isUnavailable(error);
      request.response = errorResponse(
        unavailable
          ? new HttpError(503, 'UNAVAILABLE', 'A backing service is unavailable, try again shortly', { 'Retry-After': '2' })
          : new HttpError(500, 'INTERNAL', 'Internal error'),
      );
    },
  };
}

/** Network failures, timeouts and throttling of a backing service: the client should retry. */
export function isUnavailable(error: unknown, depth = 0): boolean {
  const e = error as
    { name?: string; code?: string; message?: string; cause?: unknown; $metadata?: { httpStatusCode?: number } } | undefined;
  if (!e || depth > 3) return false;
  const names = [
    'TimeoutError',
    'RequestTimeout',
    'ProvisionedThroughputExceededException',
    'ThrottlingException',
    'RequestLimitExceeded',
    'ServiceUnavailable',
    'InternalServerError',
  ];
  if (names.includes(e.name ?? '')) return true;
  if (/\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|EAI_AGAIN)\b/.test(`${e.code ?? ''} ${e.message ?? ''}`))
    return true;
  // An AWS SDK error without an HTTP status never got an answer.
  if (e.$metadata && (e.$metadata.httpStatusCode === undefined || e.$metadata.httpStatusCode >= 500)) return true;
  return isUnavailable(e.cause, depth + 1);
}

export function requirePermission(permission: Permission | undefined): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> {
  return {
    before: (request) => {
      if (!permission) return;
      const caller = callerOf(request.event);
      if (!caller.permissions.has(permission)) throw new ForbiddenError(`missing permission ${permission}`);
    },
  };
}

export function rateLimit(limiter: () => Promise<RateLimiter>): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> {
  return {
    before: async (request) => {
      const caller = callerOf(request.event);
      const decision = await (await limiter()).check(caller.tenantId, caller.userId);
      if (!decision.allowed) throw new RateLimitedError(decision.retryAfterSeconds);
    },
  };
}

/** Applies the route's cache headers to successful responses that did not choose their own. */
export function cacheHeaders(headers: Readonly<Record<string, string>>): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> {
  return {
    after: (request) => {
      const response = request.response;
      if (!response || response.statusCode >= 400) return;
      response.headers = { ...headers, ...response.headers };
    },
  };
}

/**
 * CORS on every answer of the function, errors included: the request's Origin echoed when the
 * deployment allows it (CORS_ORIGINS), and `Vary: Origin` always (a browser cache must not hand
 * one origin's answer to another). Registered first, so it sees the final answer.
 */
export function cors(origins: () => readonly string[] = allowedOrigins): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> {
  const apply = (request: { event: APIGatewayProxyEvent; response: APIGatewayProxyResult | null | undefined }): void => {
    const response = request.response;
    if (!response) return;
    const headers = (request.event.headers as APIGatewayProxyEvent['headers'] | null) ?? {};
    const name = Object.keys(headers).find((n) => n.toLowerCase() === 'origin');
    const { Vary, ...allow } = corsHeaders(origins(), name === undefined ? undefined : headers[name]);
    const existing = response.headers ?? {};
    const varyName = Object.keys(existing).find((n) => n.toLowerCase() === 'vary') ?? 'Vary';
    const vary = existing[varyName];
    response.headers = { ...existing, ...allow, [varyName]: varyWithOrigin(typeof vary === 'string' ? vary : Vary) };
  };
  return { after: apply, onError: apply };
}

let origins: readonly string[] | undefined;
function allowedOrigins(): readonly string[] {
  origins ??= originsFromEnvironment(process.env[CORS_ORIGINS_ENV]);
  return origins;
}
