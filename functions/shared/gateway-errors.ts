/**
 * The errors API Gateway answers itself (before or instead of a function), in the contract's
 * shape {"error":{"code","message"}} with the contract's status, JSON, no-store (no cache ever
 * keeps an error) and Retry-After where a client should wait. One table for every place that
 * answers them: the CDK renders it as the REST API's gateway responses, the local front answers
 * from it. Imports nothing from aws-cdk-lib.
 */
import { CORS_EXPOSE_HEADERS } from './cors';
import { ERRORS, type ErrorCode } from './errors';

/** The error codes API Gateway can answer with (a function's own INTERNAL never comes from it). */
export type GatewayErrorCode = Exclude<ErrorCode, 'INTERNAL'>;

/** Each contract error code's HTTP status (functions/shared/errors.ts). */
export const ERROR_STATUS: Readonly<Record<GatewayErrorCode, number>> = Object.fromEntries(
  Object.entries(ERRORS).map(([code, { status }]) => [code, status]),
) as Record<GatewayErrorCode, number>;

/** API Gateway's gateway response types (ResponseType in the CDK). */
export type GatewayResponseType =
  | 'UNAUTHORIZED'
  | 'EXPIRED_TOKEN'
  | 'ACCESS_DENIED'
  | 'INVALID_SIGNATURE'
  | 'INVALID_API_KEY'
  | 'WAF_FILTERED'
  | 'MISSING_AUTHENTICATION_TOKEN'
  | 'RESOURCE_NOT_FOUND'
  | 'BAD_REQUEST_BODY'
  | 'BAD_REQUEST_PARAMETERS'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'REQUEST_TOO_LARGE'
  | 'THROTTLED'
  | 'QUOTA_EXCEEDED'
  | 'DEFAULT_4XX'
  | 'AUTHORIZER_FAILURE'
  | 'AUTHORIZER_CONFIGURATION_ERROR'
  | 'INTEGRATION_FAILURE'
  | 'INTEGRATION_TIMEOUT'
  | 'API_CONFIGURATION_ERROR'
  | 'DEFAULT_5XX';

export interface GatewayError {
  readonly type: GatewayResponseType;
  readonly code: GatewayErrorCode;
  /** Static text: API Gateway's own message may name internals, so it is never echoed. */
  readonly message: string;
  /** Seconds a client should wait (429 and 503). */
  readonly retryAfterSeconds?: number;
}

export const GATEWAY_ERRORS: readonly GatewayError[] = [
  { type: 'UNAUTHORIZED', code: 'UNAUTHORIZED', message: 'Missing or invalid bearer token' },
  { type: 'EXPIRED_TOKEN', code: 'UNAUTHORIZED', message: 'Expired token' },
  { type: 'ACCESS_DENIED', code: 'FORBIDDEN', message: 'Access denied' },
  { type: 'INVALID_SIGNATURE', code: 'FORBIDDEN', message: 'Access denied' },
  { type: 'INVALID_API_KEY', code: 'FORBIDDEN', message: 'Access denied' },
  { type: 'WAF_FILTERED', code: 'FORBIDDEN', message: 'Request blocked' },
  // API Gateway answers an unknown path or method with "Missing Authentication Token".
  { type: 'MISSING_AUTHENTICATION_TOKEN', code: 'NOT_FOUND', message: 'No such route' },
  { type: 'RESOURCE_NOT_FOUND', code: 'NOT_FOUND', message: 'Not found' },
  { type: 'BAD_REQUEST_BODY', code: 'BAD_REQUEST', message: 'The request body is not valid' },
  { type: 'BAD_REQUEST_PARAMETERS', code: 'BAD_REQUEST', message: 'The request parameters are not valid' },
  { type: 'UNSUPPORTED_MEDIA_TYPE', code: 'BAD_REQUEST', message: 'Unsupported media type' },
  { type: 'REQUEST_TOO_LARGE', code: 'PAYLOAD_TOO_LARGE', message: 'The request is too large' },
  { type: 'THROTTLED', code: 'RATE_LIMITED', message: 'Too many requests', retryAfterSeconds: 1 },
  { type: 'QUOTA_EXCEEDED', code: 'RATE_LIMITED', message: 'Too many requests', retryAfterSeconds: 60 },
  { type: 'DEFAULT_4XX', code: 'BAD_REQUEST', message: 'Bad request' },
  { type: 'AUTHORIZER_FAILURE', code: 'UNAVAILABLE', message: 'Service temporarily unavailable', retryAfterSeconds: 1 },
  { type: 'AUTHORIZER_CONFIGURATION_ERROR', code: 'UNAVAILABLE', message: 'Service temporarily unavailable', retryAfterSeconds: 1 },
  { type: 'INTEGRATION_FAILURE', code: 'UNAVAILABLE', message: 'Service temporarily unavailable', retryAfterSeconds: 1 },
  { type: 'INTEGRATION_TIMEOUT', code: 'UNAVAILABLE', message: 'Service temporarily unavailable', retryAfterSeconds: 1 },
  { type: 'DEFAULT_5XX', code: 'UNAVAILABLE', message: 'Service temporarily unavailable', retryAfterSeconds: 1 },
];

/** The JSON body of an error, as the functions answer it too. */
export function errorBody(code: GatewayErrorCode, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/** A gateway response as API Gateway keeps it: status, static headers, a body per content type. */
export interface GatewayResponseDefinition {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Headers whose value is a request header's (answer header -> request header name): API
   * Gateway's `method.request.header.<name>` mapping; left out when the request has none.
   */
  readonly fromRequest?: Readonly<Record<string, string>>;
  readonly templates: Readonly<Record<string, string>>;
}

/** The table above as gateway responses: what the CDK deploys and the local front answers. */
export function gatewayResponses(): ReadonlyMap<GatewayResponseType, GatewayResponseDefinition> {
  return new Map(
    GATEWAY_ERRORS.map((e) => [
      e.type,
      {
        statusCode: ERROR_STATUS[e.code],
        headers: {
          'Content-Type': 'application/json',
          'Cache-Control': 'no-store',
          ...(e.retryAfterSeconds !== undefined ? { 'Retry-After': String(e.retryAfterSeconds) } : {}),
          'Access-Control-Expose-Headers': CORS_EXPOSE_HEADERS.join(', '),
          Vary: 'Origin',
        },
        // A page on another origin must be able to read a 401 or a 429 (to refresh its token, to
        // wait). A gateway response's values are static or copied from the request: API Gateway
        // cannot check the Origin against a list here, so it echoes it. These bodies are the fixed
        // texts above, never data; the functions' answers and the preflights check the list.
        fromRequest: { 'Access-Control-Allow-Origin': 'Origin' },
        templates: { 'application/json': errorBody(e.code, e.message) },
      },
    ]),
  );
}
