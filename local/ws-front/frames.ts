/**
 * Frames to routes: each frame stamped as it is read (requestTimeEpoch, strictly increasing per
 * connection), route selection on $request.body.<field> with $default for anything else, the
 * stage throttle, the route's function run, and what goes back on the connection: a two-way
 * route's body, or API Gateway's own Forbidden / Too Many Requests / Internal server error.
 */
import { shortId } from '../api-gateway';
import type { LiveConnection } from '../connections-endpoint';
import { describeError } from '../log';
import { TokenBucket } from '../token-bucket';
import type { WebSocketApiDefinition } from '../ws-api';
import type { FrameHandler } from './connections';
import { peerOf, type RouteInvoker } from './invocation';
import type { FrontRuntime } from './options';

export interface FrameRouterOptions {
  readonly api: WebSocketApiDefinition;
  readonly invoker: RouteInvoker;
  readonly runtime: FrontRuntime;
}

/** The frame handler of each connection, for the connection table to call as frames are read. */
export function createFrameRouter(options: FrameRouterOptions) {
  const { api, invoker } = options;
  const { logger, log } = options.runtime;
  const { routes } = api;
  const throttle = api.throttle === undefined ? undefined : new TokenBucket(api.throttle.rateLimit, api.throttle.burstLimit);

  const onMessage = async (
    connection: LiveConnection,
    payload: Buffer,
    isBinary: boolean,
    domainName: string,
    authorizerContext: Record<string, unknown> | undefined,
    receivedAt: number,
  ): Promise<void> => {
    const text = isBinary ? undefined : payload.toString('utf8');
    const routeKey = selectRoute(text, routes, api.routeSelectionField);
    const route = routes.get(routeKey);
    const requestContext = {
      ...invoker.requestContext(peerOf(connection, domainName), routeKey, 'MESSAGE', receivedAt),
      messageId: shortId(),
      ...(authorizerContext ? { authorizer: authorizerContext } : {}),
    };
    const reply = (body: string) => {
      if (connection.ws.readyState === connection.ws.OPEN) connection.ws.send(body);
    };
    if (route === undefined) {
      log(`MESSAGE ${connection.id} -> no route`);
      reply(JSON.stringify({ message: 'Forbidden', connectionId: connection.id, requestId: requestContext.requestId }));
      return;
    }
    if (throttle !== undefined && !throttle.take()) {
      log(`MESSAGE ${connection.id} -> throttled`);
      reply(JSON.stringify({ message: 'Too Many Requests', connectionId: connection.id, requestId: requestContext.requestId }));
      return;
    }
    const event = {
      requestContext,
      body: text ?? payload.toString('base64'),
      isBase64Encoded: isBinary,
    };
    try {
      const result = await invoker.run(route, event);
      log(`MESSAGE ${connection.id} -> ${route.name}`);
      // Only a route with a route response sends the integration's answer back (two-way).
      const body = route.twoWay ? bodyOf(result) : undefined;
      if (body !== undefined) reply(body);
    } catch (error) {
      logger.error(`${route.name} failed: ${describeError(error)}`);
      reply(JSON.stringify({ message: 'Internal server error', connectionId: connection.id, requestId: requestContext.requestId }));
    }
  };

  return (connection: LiveConnection, domainName: string, authorizerContext: Record<string, unknown> | undefined): FrameHandler => {
    // The gateway stamps each frame as it reads it off the connection. This process may read
    // several frames of one connection in one turn after a stall (a loaded machine), frames a
    // gateway would have stamped milliseconds apart: they keep distinct, increasing times, in the
    // order they came, so the routes order them as the gateway would (message-order.ts).
    let lastReceivedAt = 0;
    return (payload, isBinary) => {
      const receivedAt = Math.max(Date.now(), lastReceivedAt + 1);
      lastReceivedAt = receivedAt;
      return onMessage(connection, payload, isBinary, domainName, authorizerContext, receivedAt);
    };
  };
}

/** $request.body.<field> when the frame is a JSON object naming a declared, non-$ route; else $default. */
export function selectRoute(text: string | undefined, routes: ReadonlyMap<string, unknown>, field = 'action'): string {
  if (text === undefined) return '$default';
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      const action = (parsed as Record<string, unknown>)[field];
      if (typeof action === 'string' && !action.startsWith('$') && routes.has(action)) return action;
    }
  } catch {
    // not JSON: $default
  }
  return '$default';
}

function bodyOf(result: unknown): string | undefined {
  if (typeof result !== 'object' || result === null) return undefined;
  const body = (result as { body?: unknown }).body;
  if (body === undefined || body === null) return undefined;
  return typeof body === 'string' ? body : JSON.stringify(body);
}
