/**
 * The WebSocket front: an API Gateway WebSocket API serving a WebSocketApiDefinition (ws-api.ts:
 * the route table's in the source mode, the template's in the as-deployed mode), on one HTTP
 * server that also serves the @connections management endpoint (see connections-endpoint.ts),
 * and optionally on HTTPS too (the name the functions call in the as-deployed mode).
 *  - $connect: the REQUEST authorizer reads the `token` query parameter (401 on the upgrade when
 *    refused), then the $connect handler (a non-2xx answer refuses the upgrade with that status);
 *  - messages: route selection on $request.body.action, `$default` for anything else; a route's
 *    `{statusCode, body}` sends `body` back (two-way route);
 *  - $disconnect on every close;
 *  - API Gateway's limits: 128 KB messages (close 1009), 10-minute idle timeout and 2-hour
 *    connections (both configurable).
 *
 * This module is its public entry; the parts are in ws-front/: handshake.ts (path check,
 * authorizer, $connect), connections.ts (ids, idle and maximum age, $disconnect, the drain),
 * frames.ts (receive stamps, route selection, replies), invocation.ts (the events' requestContext,
 * the Lambda permission check), management.ts (@connections, HTTPS), server.ts (the wiring, the
 * servers, the shutdown) and options.ts.
 */
export { startWebSocketFront } from './ws-front/server';
export { selectRoute } from './ws-front/frames';
export { IDLE_TIMEOUT_MS, MAX_CONNECTION_MS, MAX_MESSAGE_BYTES, type WebSocketFront, type WebSocketFrontOptions } from './ws-front/options';
