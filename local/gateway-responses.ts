/**
 * How a local front answers when API Gateway answers itself: a gateway response type (401 for a
 * refused token, 403 for a denied policy, 429 throttled, ...) rendered from the API's gateway
 * responses the way API Gateway renders them. A type the API does not customise falls back to
 * DEFAULT_4XX or DEFAULT_5XX, then to API Gateway's own default ({"message": "..."}).
 *
 * The source mode renders the project's table (functions/shared/gateway-errors.ts, which the
 * CDK deploys); the as-deployed mode renders the synthesized template's GatewayResponse resources.
 */
import type { GatewayResponseDefinition, GatewayResponseType } from '../functions/shared/gateway-errors';

export type { GatewayResponseType } from '../functions/shared/gateway-errors';

export interface GatewayAnswer {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** x-amzn-ErrorType */
  readonly errorType: string;
}

export interface GatewayContext {
  readonly requestId: string;
  /** The request's headers (lower-case names), for the headers mapped from them. @default none */
  readonly requestHeaders?: Readonly<Record<string, string | string[] | undefined>>;
}

export type GatewayResponder = (type: GatewayResponseType, context: GatewayContext) => GatewayAnswer;

/** API Gateway's defaults: status, message ($context.error.message) and x-amzn-ErrorType. */
const DEFAULTS: Readonly<Record<GatewayResponseType, { status: number; message: string | null; errorType: string }>> = {
  UNAUTHORIZED: { status: 401, message: 'Unauthorized', errorType: 'UnauthorizedException' },
  EXPIRED_TOKEN: { status: 403, message: 'The security token included in the request is expired', errorType: 'ExpiredTokenException' },
  ACCESS_DENIED: { status: 403, message: 'User is not authorized to access this resource', errorType: 'AccessDeniedException' },
  INVALID_SIGNATURE: { status: 403, message: 'Invalid signature', errorType: 'InvalidSignatureException' },
  INVALID_API_KEY: { status: 403, message: 'Forbidden', errorType: 'ForbiddenException' },
  WAF_FILTERED: { status: 403, message: 'Forbidden', errorType: 'ForbiddenException' },
  MISSING_AUTHENTICATION_TOKEN: { status: 403, message: 'Missing Authentication Token', errorType: 'MissingAuthenticationTokenException' },
  RESOURCE_NOT_FOUND: { status: 404, message: 'Not Found', errorType: 'NotFoundException' },
  BAD_REQUEST_BODY: { status: 400, message: 'Invalid request body', errorType: 'BadRequestException' },
  BAD_REQUEST_PARAMETERS: { status: 400, message: 'Missing required request parameters', errorType: 'BadRequestException' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported Media Type', errorType: 'UnsupportedMediaTypeException' },
  REQUEST_TOO_LARGE: { status: 413, message: 'Request Too Long', errorType: 'RequestTooLargeException' },
  THROTTLED: { status: 429, message: 'Too Many Requests', errorType: 'TooManyRequestsException' },
  QUOTA_EXCEEDED: { status: 429, message: 'Limit Exceeded', errorType: 'LimitExceededException' },
  DEFAULT_4XX: { status: 400, message: 'Bad Request', errorType: 'BadRequestException' },
  AUTHORIZER_FAILURE: { status: 500, message: null, errorType: 'AuthorizerFailureException' },
  AUTHORIZER_CONFIGURATION_ERROR: { status: 500, message: null, errorType: 'AuthorizerConfigurationException' },
  INTEGRATION_FAILURE: { status: 504, message: 'Internal server error', errorType: 'InternalServerErrorException' },
  INTEGRATION_TIMEOUT: { status: 504, message: 'Endpoint request timed out', errorType: 'IntegrationTimeoutException' },
  API_CONFIGURATION_ERROR: { status: 500, message: 'Internal server error', errorType: 'InternalServerErrorException' },
  DEFAULT_5XX: { status: 502, message: 'Internal server error', errorType: 'InternalServerErrorException' },
};

/** A responder for an API whose gateway responses are `responses` (by type). */
export function createGatewayResponder(responses: ReadonlyMap<string, Partial<GatewayResponseDefinition>>): GatewayResponder {
  return (type, context) => {
    const fallback = DEFAULTS[type];
    const family = fallback.status >= 500 ? 'DEFAULT_5XX' : 'DEFAULT_4XX';
    const response = responses.get(type) ?? responses.get(family);
    const { message } = fallback;
    const template = response?.templates?.['application/json'] ?? '{"message":$context.error.messageString}';
    const body = template
      .replaceAll('$context.error.messageString', JSON.stringify(message))
      .replaceAll('$context.error.message', message ?? '')
      .replaceAll('$context.requestId', context.requestId);
    const fromRequest: Record<string, string> = {};
    for (const [name, source] of Object.entries(response?.fromRequest ?? {})) {
      const value = context.requestHeaders?.[source.toLowerCase()];
      // API Gateway leaves out a header mapped from a request header the request does not carry.
      if (typeof value === 'string' && value !== '') fromRequest[name] = value;
    }
    return {
      statusCode: response?.statusCode ?? fallback.status,
      headers: { 'Content-Type': 'application/json', ...(response?.headers ?? {}), ...fromRequest },
      body,
      errorType: fallback.errorType,
    };
  };
}
