/**
 * Small pieces both fronts share: API Gateway's ARNs, timestamps, ids, request parsing and the
 * contract's error body for the answers API Gateway itself gives.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { ErrorCode } from '../functions/shared/errors';
import { DEFAULT_REGION, LOCAL_ACCOUNT_ID } from './dev-defaults';

/** A contract error code (functions/shared/errors.ts) the fronts answer with themselves. */
export type GatewayErrorCode = Extract<
  ErrorCode,
  'BAD_REQUEST' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'NOT_FOUND' | 'PAYLOAD_TOO_LARGE' | 'RATE_LIMITED' | 'UNAVAILABLE' | 'INTERNAL'
>;

/** The contract's error body: {"error":{"code","message"}}. */
export function errorBody(code: GatewayErrorCode, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/** API Gateway's own answers (not the integration's), with the contract's error body. */
export const GATEWAY_ERRORS = {
  unauthorized: { status: 401, type: 'UnauthorizedException', code: 'UNAUTHORIZED', message: 'Unauthorized' },
  accessDenied: {
    status: 403,
    type: 'AccessDeniedException',
    code: 'FORBIDDEN',
    message: 'User is not authorized to access this resource',
  },
  missingToken: { status: 403, type: 'MissingAuthenticationTokenException', code: 'FORBIDDEN', message: 'Missing Authentication Token' },
  notFound: { status: 404, type: 'ResourceNotFoundException', code: 'NOT_FOUND', message: 'Not Found' },
  tooLarge: { status: 413, type: 'RequestTooLargeException', code: 'PAYLOAD_TOO_LARGE', message: 'Request Too Long' },
  authorizerFailure: { status: 500, type: 'AuthorizerConfigurationException', code: 'INTERNAL', message: 'Internal server error' },
  integrationFailure: { status: 502, type: 'BadGatewayException', code: 'INTERNAL', message: 'Internal server error' },
  integrationTimeout: { status: 504, type: 'IntegrationTimeoutException', code: 'UNAVAILABLE', message: 'Endpoint request timed out' },
} as const satisfies Record<string, { status: number; type: string; code: GatewayErrorCode; message: string }>;

export type GatewayError = (typeof GATEWAY_ERRORS)[keyof typeof GATEWAY_ERRORS];

export function sendGatewayError(
  res: ServerResponse,
  error: GatewayError,
  requestId: string,
  extraHeaders: Record<string, string> = {},
): void {
  const body = errorBody(error.code, error.message);
  res.writeHead(error.status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    'x-amzn-RequestId': requestId,
    'x-amzn-ErrorType': error.type,
    ...extraHeaders,
  });
  res.end(body);
}

export function region(): string {
  return process.env.AWS_REGION || DEFAULT_REGION;
}

/** arn:aws:execute-api:region:account:apiId/stage/METHOD/path (path without its leading slash). */
export function methodArn(apiId: string, stage: string, verb: string, path: string): string {
  return `arn:aws:execute-api:${region()}:${LOCAL_ACCOUNT_ID}:${apiId}/${stage}/${verb}/${path.replace(/^\//, '')}`;
}

/** arn:aws:execute-api:region:account:apiId/stage/routeKey (WebSocket APIs). */
export function routeArn(apiId: string, stage: string, routeKey: string): string {
  return `arn:aws:execute-api:${region()}:${LOCAL_ACCOUNT_ID}:${apiId}/${stage}/${routeKey}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** API Gateway's requestTime: 09/Apr/2015:12:34:56 +0000. */
/** The caller's identity in a REST proxy event, as API Gateway fills it for a request without IAM or Cognito auth. */
export function callerIdentity(sourceIp: string, userAgent: string | null): APIGatewayProxyEvent['requestContext']['identity'] {
  return {
    accessKey: null,
    accountId: null,
    apiKey: null,
    apiKeyId: null,
    caller: null,
    clientCert: null,
    cognitoAuthenticationProvider: null,
    cognitoAuthenticationType: null,
    cognitoIdentityId: null,
    cognitoIdentityPoolId: null,
    principalOrgId: null,
    sourceIp,
    user: null,
    userAgent,
    userArn: null,
  };
}

export function requestTime(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} +0000`;
}

/** API Gateway's short ids (extendedRequestId, x-amz-apigw-id, connectionId): 16 base64-ish chars. */
export function shortId(): string {
  return `${randomBytes(11).toString('base64url')}=`;
}

export function sourceIp(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
}

export interface ParsedHeaders {
  readonly headers: Record<string, string>;
  readonly multiValueHeaders: Record<string, string[]>;
}

/** Headers with their names as sent (API Gateway keeps the case); `headers` keeps the last value. */
export function parseHeaders(rawHeaders: readonly string[], extra: Record<string, string> = {}): ParsedHeaders {
  // Prototype-less maps: a header or parameter named __proto__ or constructor is just a name.
  const multiValueHeaders = Object.create(null) as Record<string, string[]>;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const value = rawHeaders[i + 1] as string;
    (multiValueHeaders[name] ??= []).push(value);
  }
  for (const [name, value] of Object.entries(extra)) {
    const existing = Object.keys(multiValueHeaders).find((n) => n.toLowerCase() === name.toLowerCase());
    if (existing === undefined) multiValueHeaders[name] = [value];
    else multiValueHeaders[existing] = [value];
  }
  const headers = Object.create(null) as Record<string, string>;
  for (const [name, values] of Object.entries(multiValueHeaders)) headers[name] = values[values.length - 1] as string;
  return { headers, multiValueHeaders };
}

export function headerValue(headers: Record<string, string>, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === lower) return value;
  return undefined;
}

export interface ParsedQuery {
  readonly queryStringParameters: Record<string, string> | null;
  readonly multiValueQueryStringParameters: Record<string, string[]> | null;
}

/** Query parameters, decoded; `queryStringParameters` keeps the last value; null when none. */
export function parseQuery(search: URLSearchParams): ParsedQuery {
  const multi = Object.create(null) as Record<string, string[]>;
  for (const [name, value] of search) (multi[name] ??= []).push(value);
  if (Object.keys(multi).length === 0) return { queryStringParameters: null, multiValueQueryStringParameters: null };
  const single = Object.create(null) as Record<string, string>;
  for (const [name, values] of Object.entries(multi)) single[name] = values[values.length - 1] as string;
  return { queryStringParameters: single, multiValueQueryStringParameters: multi };
}
