/**
 * Errors that API Gateway answers itself (before or instead of a function) in the contract's
 * shape {"error":{"code","message"}} with the contract's status, JSON content type and no-store
 * (so no cache ever keeps an error).
 */
import { ResponseType, type RestApiBase } from 'aws-cdk-lib/aws-apigateway';
import type { ErrorCode as ContractErrorCode } from '../../functions/shared/errors';

/** The error codes of the REST contract ("Errors"), with their statuses. */
export type ErrorCode = Exclude<ContractErrorCode, 'INTERNAL'>;

export const ERROR_STATUS: Readonly<Record<ErrorCode, string>> = {
  BAD_REQUEST: '400',
  UNAUTHORIZED: '401',
  FORBIDDEN: '403',
  NOT_FOUND: '404',
  CONFLICT: '409',
  PRECONDITION_FAILED: '412',
  PAYLOAD_TOO_LARGE: '413',
  RATE_LIMITED: '429',
  UNAVAILABLE: '503',
};

export interface GatewayError {
  readonly type: ResponseType;
  readonly code: ErrorCode;
  /** Static text: API Gateway's own message may name internals, so it is never echoed. */
  readonly message: string;
  /** Seconds a client should wait (429 and 503). */
  readonly retryAfterSeconds?: number;
}

export const GATEWAY_ERRORS: readonly GatewayError[] = [
  { type: ResponseType.UNAUTHORIZED, code: 'UNAUTHORIZED', message: 'Missing or invalid bearer token' },
  { type: ResponseType.EXPIRED_TOKEN, code: 'UNAUTHORIZED', message: 'Expired token' },
  { type: ResponseType.ACCESS_DENIED, code: 'FORBIDDEN', message: 'Access denied' },
  { type: ResponseType.INVALID_SIGNATURE, code: 'FORBIDDEN', message: 'Access denied' },
  { type: ResponseType.INVALID_API_KEY, code: 'FORBIDDEN', message: 'Access denied' },
  { type: ResponseType.WAF_FILTERED, code: 'FORBIDDEN', message: 'Request blocked' },
  // API Gateway answers an unknown path or method with "Missing Authentication Token".
  { type: ResponseType.MISSING_AUTHENTICATION_TOKEN, code: 'NOT_FOUND', message: 'No such route' },
  { type: ResponseType.RESOURCE_NOT_FOUND, code: 'NOT_FOUND', message: 'Not found' },
  { type: ResponseType.BAD_REQUEST_BODY, code: 'BAD_REQUEST', message: 'The request body is not valid' },
  { type: ResponseType.BAD_REQUEST_PARAMETERS, code: 'BAD_REQUEST', message: 'The request parameters are not valid' },
  { type: ResponseType.UNSUPPORTED_MEDIA_TYPE, code: 'BAD_REQUEST', message: 'Unsupported media type' },
  { type: ResponseType.REQUEST_TOO_LARGE, code: 'PAYLOAD_TOO_LARGE', message: 'The request is too large' },
  { type: ResponseType.THROTTLED, code: 'RATE_LIMITED', message: 'Too many requests', retryAfterSeconds: 1 },
  { type: ResponseType.QUOTA_EXCEEDED, code: 'RATE_LIMITED', message: 'Too many requests', retryAfterSeconds: 60 },
  { type: ResponseType.DEFAULT_4XX, code: 'BAD_REQUEST', message: 'Bad request' },
  { type: ResponseType.AUTHORIZER_FAILURE, code: 'UNAVAILABLE', message: 'Service temporarily unavailable', retryAfterSeconds: 1 },
  {
    type: ResponseType.AUTHORIZER_CONFIGURATION_ERROR,
    code: 'UNAVAILABLE',
    message: 'Service temporarily unavailable',
    retryAfterSeconds: 1,
  },
  { type: ResponseType.INTEGRATION_FAILURE, code: 'UNAVAILABLE', message: 'Service temporarily unavailable', retryAfterSeconds: 1 },
  { type: ResponseType.INTEGRATION_TIMEOUT, code: 'UNAVAILABLE', message: 'Service temporarily unavailable', retryAfterSeconds: 1 },
  { type: ResponseType.DEFAULT_5XX, code: 'UNAVAILABLE', message: 'Service temporarily unavailable', retryAfterSeconds: 1 },
];

/** The JSON body of an error, as the functions answer it too. */
export function errorBody(code: ErrorCode, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

export function addGatewayErrors(api: RestApiBase): void {
  for (const e of GATEWAY_ERRORS) {
    const headers: Record<string, string> = {
      'Content-Type': "'application/json'",
      'Cache-Control': "'no-store'",
    };
    if (e.retryAfterSeconds !== undefined) headers['Retry-After'] = `'${e.retryAfterSeconds}'`;
    api.addGatewayResponse(pascalCase(e.type.responseType), {
      type: e.type,
      statusCode: ERROR_STATUS[e.code],
      responseHeaders: headers,
      templates: { 'application/json': errorBody(e.code, e.message) },
    });
  }
}

function pascalCase(value: string): string {
  return value
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}
