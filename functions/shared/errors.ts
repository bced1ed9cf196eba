/**
 * Typed errors: the domain throws these, the HTTP layer maps them to the contract's
 * {"error":{"code","message"}} body. Anything else becomes a 500 whose body never echoes internals.
 */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PRECONDITION_FAILED'
  | 'PAYLOAD_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

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
    super(400, 'BAD_REQUEST', message);
  }
}
export class UnauthorizedError extends HttpError {
  constructor(message = 'Missing or invalid token') {
    super(401, 'UNAUTHORIZED', message);
  }
}
export class ForbiddenError extends HttpError {
  constructor(message = 'Not allowed') {
    super(403, 'FORBIDDEN', message);
  }
}
export class NotFoundError extends HttpError {
  constructor(message = 'Not found') {
    super(404, 'NOT_FOUND', message);
  }
}
export class ConflictError extends HttpError {
  constructor(message: string) {
    super(409, 'CONFLICT', message);
  }
}
export class PreconditionFailedError extends HttpError {
  constructor(message = 'The resource has changed (ETag mismatch)') {
    super(412, 'PRECONDITION_FAILED', message);
  }
}
export class PayloadTooLargeError extends HttpError {
  constructor(message = 'Body exceeds 64 KiB') {
    super(413, 'PAYLOAD_TOO_LARGE', message);
  }
}
export class RateLimitedError extends HttpError {
  constructor(retryAfterSeconds: number) {
    super(429, 'RATE_LIMITED', 'Too many requests', { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) });
  }
}
export class UnavailableError extends HttpError {
  constructor(message = 'A backing service is unavailable, try again shortly', retryAfterSeconds = 2) {
    super(503, 'UNAVAILABLE', message, { 'Retry-After': String(retryAfterSeconds) });
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
