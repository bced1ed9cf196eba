/**
 * Lambda authorizer (REQUEST type) for the REST API (Authorization header) and the WebSocket
 * $connect (token query parameter: browsers cannot set headers on a WebSocket). The policy covers
 * the whole stage, so API Gateway's cached result serves every route; the routes check permissions.
 */
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { bearerToken, tokenVerifier } from '../auth/verify-token';
import { logger, withLogContext } from '../shared/observability';

function header(event: APIGatewayRequestAuthorizerEvent, name: string): string | undefined {
  const found = Object.entries(event.headers ?? {}).find(([k]) => k.toLowerCase() === name);
  return found?.[1] ?? undefined;
}

/** arn:aws:execute-api:region:account:apiId/stage/METHOD/path → arn:…:apiId/stage/* */
function stageWideArn(methodArn: string): string {
  const [apiArn, stage] = methodArn.split('/');
  return `${apiArn}/${stage}/*`;
}

export const handler = withLogContext(async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
  // The query parameter is for the WebSocket handshake only: on REST a token in the URL would end
  // up in access logs and caches.
  const onWebSocket = event.methodArn.endsWith('/$connect');
  const token = onWebSocket ? (event.queryStringParameters?.token ?? undefined) : bearerToken(header(event, 'authorization'));
  try {
    if (!token) throw new Error('no token');
    const identity = await tokenVerifier()(token);
    return {
      principalId: identity.userId,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: stageWideArn(event.methodArn) }],
      },
      // exp: the WebSocket session ends with the token (API Gateway passes the context to every
      // route of the connection, and stringifies it).
      context: {
        tenantId: identity.tenantId,
        userId: identity.userId,
        permissions: identity.permissions.join(' '),
        exp: identity.expiresAt,
      },
    };
  } catch (error) {
    logger.info('token refused', { reason: (error as Error).message });
    // API Gateway turns exactly this message into a 401.
    throw new Error('Unauthorized');
  }
});
