/**
 * IAM for the local @connections management API (local/connections-endpoint.ts's `authorize`
 * hook): the caller is the SigV4 key of a registered principal, and each call needs
 * execute-api:ManageConnections on
 *   arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<POST|GET|DELETE>/@connections/<connection id>
 * (the REST API's ARN format, which API Gateway uses for @connections). API Gateway answers 403
 * in every case, with the error type in x-amzn-ErrorType.
 */
import type { ConnectionsAuthorization, ConnectionsCall } from '../connections-endpoint';
import { IamEvaluationError, type AuthenticationFailureKind, type IamAuthority } from './iam';

export interface ConnectionsIamOptions {
  readonly authority: IamAuthority;
  readonly region: string;
  readonly accountId: string;
  /** The WebSocket API's id, as in its execute-api ARNs. */
  readonly apiId: string;
}

const AUTH_ERRORS: Record<AuthenticationFailureKind, { type: string; message?: string }> = {
  missing: { type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' },
  incomplete: { type: 'IncompleteSignatureException' },
  'unknown-key': { type: 'UnrecognizedClientException' },
  'invalid-signature': { type: 'InvalidSignatureException' },
};

export function manageConnectionsArn(
  options: Omit<ConnectionsIamOptions, 'authority'>,
  call: Pick<ConnectionsCall, 'stage' | 'method' | 'connectionId'>,
): string {
  return `arn:aws:execute-api:${options.region}:${options.accountId}:${options.apiId}/${call.stage}/${call.method}/@connections/${call.connectionId}`;
}

/** The `authorize` hook of createConnectionsEndpoint for the as-deployed mode. */
export function connectionsAuthorizer(options: ConnectionsIamOptions): (call: ConnectionsCall) => Promise<ConnectionsAuthorization> {
  return async (call) => {
    const auth = await options.authority.authenticate(
      { method: call.method, url: call.req.url ?? '/', headers: call.req.headers, body: call.body },
      { service: 'execute-api', region: options.region },
    );
    if (!auth.ok) {
      const error = AUTH_ERRORS[auth.failure.kind];
      return { allowed: false, status: 403, type: error.type, message: error.message ?? auth.failure.message };
    }
    try {
      const decision = await options.authority.authorize({
        accessKeyId: auth.principal.accessKeyId,
        action: 'execute-api:ManageConnections',
        resource: manageConnectionsArn(options, call),
      });
      if (decision.allowed) return { allowed: true };
      return { allowed: false, status: 403, type: 'AccessDeniedException', message: decision.message, messageKey: 'Message' };
    } catch (error) {
      if (!(error instanceof IamEvaluationError)) throw error;
      return { allowed: false, status: 500, type: 'InternalServerErrorException', message: error.message };
    }
  };
}
