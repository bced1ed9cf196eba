/**
 * Typed errors: the domain throws these, the HTTP layer maps them to the contract's
 * {"error":{"code","message"}} body. Anything else becomes a 500 whose body never echoes internals.
 */
/**
 * Every error code of the contract, with its HTTP status and what it means: the one table the
 * typed errors below, the gateway's own answers (gateway-errors.ts), the local fronts and the
 * OpenAPI document take their codes and statuses from.
 */
export const ERRORS = {
  BAD_REQUEST: { status: 400, name: 'BadRequest', meaning: 'an invalid id, query or body' },
  UNAUTHORIZED: { status: 401, name: 'Unauthorized', meaning: 'no token, or a token that is invalid or expired' },
  FORBIDDEN: { status: 403, name: 'Forbidden', meaning: 'the token lacks the permission' },
  NOT_FOUND: { status: 404, name: 'NotFound', meaning: "no such resource in the caller's tenant (another tenant's resource is 404 too)" },
  CONFLICT: {
    status: 409,
    name: 'Conflict',
    meaning: 'the id exists, not enough stock, a concurrent change, or a status that may not follow',
  },
  PRECONDITION_FAILED: { status: 412, name: 'PreconditionFailed', meaning: 'If-Match does not match the current ETag' },
  PAYLOAD_TOO_LARGE: { status: 413, name: 'PayloadTooLarge', meaning: 'a body over 64 KiB' },
  RATE_LIMITED: { status: 429, name: 'RateLimited', meaning: 'too many requests; retry after Retry-After seconds', retryAfter: true },
  UNAVAILABLE: { status: 503, name: 'Unavailable', meaning: 'a dependency is down; retry after Retry-After seconds', retryAfter: true },
  INTERNAL: { status: 500, name: 'Internal', meaning: 'an error of ours; the body never says more' },
} as const satisfies Readonly<Record<string, { status: number; name: string; meaning: string; retryAfter?: true }>>;

export type ErrorCode = keyof typeof ERRORS;
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ErrorCode,
    message: string,
    /** Extra response headers (Retry-After). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }

  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export class BadRequestError extends HttpError {
  constructor(message: string) {
    super(ERRORS.BAD_REQUEST.status, 'BAD_REQUEST', message);
  }
}
export class UnauthorizedError extends HttpError {
  constructor(message = 'Missing or invalid token') {
    super(ERRORS.UNAUTHORIZED.status, 'UNAUTHORIZED', message);
  }
}
export class ForbiddenError extends HttpError {
  constructor(message = 'Not allowed') {
    super(ERRORS.FORBIDDEN.status, 'FORBIDDEN', message);
  }
}
export class NotFoundError extends HttpError {
  constructor(message = 'Not found') {
    super(ERRORS.NOT_FOUND.status, 'NOT_FOUND', message);
  }
}
export class ConflictError extends HttpError {
  constructor(message: string) {
    super(ERRORS.CONFLICT.status, 'CONFLICT', message);
  }
}
export class PreconditionFailedError extends HttpError {
  constructor(message = 'The resource has changed (ETag mismatch)') {
    super(ERRORS.PRECONDITION_FAILED.status, 'PRECONDITION_FAILED', message);
  }
}
export class PayloadTooLargeError extends HttpError {
  constructor(message = 'Body exceeds 64 KiB') {
    super(ERRORS.PAYLOAD_TOO_LARGE.status, 'PAYLOAD_TOO_LARGE', message);
  }
}
export class RateLimitedError extends HttpError {
  constructor(retryAfterSeconds: number) {
    super(ERRORS.RATE_LIMITED.status, 'RATE_LIMITED', 'Too many requests', {
      'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))),
    });
  }
}
export class UnavailableError extends HttpError {
  constructor(message = 'A backing service is unavailable, try again shortly', retryAfterSeconds = 2) {
    super(ERRORS.UNAVAILABLE.status, 'UNAVAILABLE', message, { 'Retry-After': String(retryAfterSeconds) });
  }
}

/** The `name` of a thrown value, when it has a string one (anything can be thrown, even undefined). */
export function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'name' in error && typeof error.name === 'string' ? error.name : undefined;
}

/** The HTTP status of the answer an AWS SDK error came from (undefined when there was none). */
export function httpStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return undefined;
  const metadata = error.$metadata as { httpStatusCode?: unknown } | null | undefined;
  return typeof metadata?.httpStatusCode === 'number' ? metadata.httpStatusCode : undefined;
}
