/**
 * Running a route's function, shared by $connect, messages and $disconnect: the requestContext
 * API Gateway puts in every WebSocket event, and its Lambda permission check (a function whose
 * permissions do not allow the route is refused, as API Gateway refuses it). One builder, so the
 * three kinds of event cannot drift apart in shape.
 */
import { requestTime, routeArn, shortId } from '../api-gateway';
import type { LiveConnection } from '../connections-endpoint';
import type { WebSocketApiDefinition, WebSocketRouteDefinition } from '../ws-api';

export type RouteEventType = 'CONNECT' | 'MESSAGE' | 'DISCONNECT';

/** Whom an event is about: the connection, and the client as its upgrade request showed it. */
export interface Peer {
  readonly connectionId: string;
  readonly connectedAt: number;
  readonly domainName: string;
  readonly ip: string;
  readonly userAgent: string | undefined;
}

/** The peer of an open connection (an empty User-Agent is left out of its events). */
export function peerOf(connection: LiveConnection, domainName: string): Peer {
  return {
    connectionId: connection.id,
    connectedAt: connection.connectedAt,
    domainName,
    ip: connection.sourceIp,
    userAgent: connection.userAgent || undefined,
  };
}

export type RouteInvoker = ReturnType<typeof createRouteInvoker>;

export function createRouteInvoker(api: WebSocketApiDefinition) {
  const { stage, apiId } = api;
  const mayInvoke = api.mayInvoke ?? (() => true);

  const requestContext = (peer: Peer, routeKey: string, eventType: RouteEventType, now = Date.now()) => {
    const requestId = shortId();
    return {
      routeKey,
      eventType,
      extendedRequestId: requestId,
      requestTime: requestTime(new Date(now)),
      messageDirection: 'IN' as const,
      stage,
      connectedAt: peer.connectedAt,
      requestTimeEpoch: now,
      identity: { sourceIp: peer.ip, ...(peer.userAgent !== undefined ? { userAgent: peer.userAgent } : {}) },
      requestId,
      domainName: peer.domainName,
      connectionId: peer.connectionId,
      apiId,
    };
  };

  /** Runs a route's function; API Gateway refuses when its Lambda permission does not allow the route. */
  const run = async (route: WebSocketRouteDefinition, event: unknown): Promise<unknown> => {
    if (!mayInvoke(route.fn, routeArn(apiId, stage, route.routeKey))) {
      throw new Error(`Execution failed due to configuration error: Invalid permissions on Lambda function ${route.fn.name}`);
    }
    return route.fn.invoke(event);
  };

  return { requestContext, run };
}
