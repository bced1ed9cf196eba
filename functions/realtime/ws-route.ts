/**
 * Builds a WebSocket route handler from its route table entry. Replies go back through the
 * Management API (the same path the fan-out uses), so every route behaves alike locally and on AWS.
 * A reply that ends the session (UNAUTHORIZED) is followed by DeleteConnection: API Gateway then
 * closes the socket (with 1000: it has no way to send a close code of ours) and runs $disconnect.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyResultV2, APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { WEBSOCKET_ROUTES } from '../routes';
import { appConfig } from '../shared/config';
import { isValidId } from '../shared/ids';
import { logger } from '../shared/observability';
import type { ConnectionNotifier, ConnectionRecord } from './ports';
import type { ReceivedMessage } from './message-order';
import { endsSession, type ServerMessage } from './messages';
import { errorReply, type Identity, type RealtimeService } from './realtime-service';

type WsEvent = Omit<APIGatewayProxyWebsocketEventV2, 'requestContext'> & {
  requestContext: Omit<APIGatewayProxyWebsocketEventV2['requestContext'], 'connectedAt'> & {
    authorizer?: Record<string, unknown>;
    connectedAt?: number;
  };
};

export interface WsMessageContext {
  readonly connection: ConnectionRecord;
  /** The parsed JSON body (undefined when the frame was not JSON). */
  readonly body: Record<string, unknown> | undefined;
  /** When API Gateway received the message, and its id: the order of the connection's messages. */
  readonly received: ReceivedMessage;
  /** The sessions of the container, built once (functions/composition/realtime.ts). */
  readonly realtime: RealtimeService;
}

/** What a handler hands the chain: the session service, built on first use and shared by the container. */
export interface WsWiring {
  readonly realtime: () => Promise<RealtimeService>;
  /**
   * How replies reach the connection: the management API at an endpoint (functions/realtime/notifier.ts).
   * Required by the message routes; $connect and $disconnect reply with their status alone.
   */
  readonly replies?: (endpoint: string) => ConnectionNotifier;
}

export type WsAction = (context: WsMessageContext) => Promise<ServerMessage | undefined>;

const OK = { statusCode: 200 } as const;
/** API Gateway refuses the upgrade with the status $connect answers. */
const UNAUTHORIZED = { statusCode: 401 } as const;
/**
 * The user's or the tenant's connections are at their cap. API Gateway answers the handshake with
 * the status alone (a $connect's body reaches no client), so 429 is the whole reason a client sees;
 * the log says which cap it was.
 */
const TOO_MANY_CONNECTIONS = { statusCode: 429 } as const;

function managementEndpoint(event: WsEvent): string {
  const { domainName, stage } = event.requestContext;
  return appConfig().wsManagementEndpoint ?? `https://${domainName}/${stage}`;
}

function parseBody(raw: string | undefined): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(raw ?? '');
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The authorizer's context (API Gateway passes its values as strings). */
function identityOf(event: WsEvent): Identity | undefined {
  const { tenantId, userId, principalId, permissions, exp } = event.requestContext.authorizer ?? {};
  const user = typeof userId === 'string' ? userId : principalId;
  const tokenExpiresAt = typeof exp === 'number' ? exp : typeof exp === 'string' && /^\d{1,12}$/.test(exp) ? Number(exp) : undefined;
  if (!isValidId(tenantId) || typeof user !== 'string' || user === '' || tokenExpiresAt === undefined) return undefined;
  return {
    tenantId,
    userId: user,
    permissions: typeof permissions === 'string' ? permissions.split(' ').filter(Boolean) : [],
    tokenExpiresAt,
  };
}

function receivedOf(event: WsEvent): ReceivedMessage {
  const { requestTimeEpoch, messageId } = event.requestContext as { requestTimeEpoch?: unknown; messageId?: unknown };
  return {
    at: typeof requestTimeEpoch === 'number' ? requestTimeEpoch : Date.now(),
    messageId: typeof messageId === 'string' ? messageId : '',
  };
}

async function handle(routeKey: string, event: WsEvent, wiring: WsWiring, action: WsAction | undefined): Promise<APIGatewayProxyResultV2> {
  const realtime = await wiring.realtime();
  const { connectionId } = event.requestContext;
  if (routeKey === '$connect') {
    const identity = identityOf(event);
    if (!identity) return UNAUTHORIZED;
    const outcome = await realtime.connect(connectionId, identity, event.requestContext.connectedAt ?? Date.now());
    if (outcome === 'too-many-connections' || outcome === 'tenant-at-limit') {
      logger.info('connection refused: too many connections', {
        tenantId: identity.tenantId,
        limit: outcome === 'tenant-at-limit' ? 'tenant' : 'user',
      });
      return TOO_MANY_CONNECTIONS;
    }
    return outcome === 'connected' ? OK : UNAUTHORIZED;
  }
  if (routeKey === '$disconnect') {
    await realtime.disconnect(connectionId);
    return OK;
  }
  const notifier = (wiring.replies as NonNullable<WsWiring['replies']>)(managementEndpoint(event));
  let reply: ServerMessage | undefined;
  try {
    const admitted = await realtime.admit(connectionId);
    reply =
      'reply' in admitted
        ? admitted.reply
        : await action?.({ connection: admitted.connection, body: parseBody(event.body), received: receivedOf(event), realtime });
  } catch (error) {
    logger.error('websocket route failed', { error: error as Error, routeKey });
    reply = errorReply(error);
  }
  const posted = reply ? await notifier.post(connectionId, reply) : 'sent';
  if (posted === 'gone') await realtime.disconnect(connectionId);
  else if (endsSession(reply)) await notifier.disconnect(connectionId); // $disconnect follows
  return OK;
}

export function wsRoute(name: string, wiring: WsWiring, action?: WsAction) {
  const route = WEBSOCKET_ROUTES.find((r) => r.name === name);
  if (!route) throw new Error(`no WebSocket route named ${name} in the route table`);
  const replies = route.routeKey !== '$connect' && route.routeKey !== '$disconnect';
  if (replies && !wiring.replies) throw new Error(`WebSocket route ${name} replies: wire how replies reach the connection`);
  return middy<WsEvent, APIGatewayProxyResultV2>()
    .use(injectLambdaContext(logger))
    .handler((event) => handle(route.routeKey, event, wiring, action));
}
