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
 */
import type { IncomingMessage, RequestListener, Server } from 'node:http';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { WebSocketServer } from 'ws';
import type { WebSocketRoute } from '../functions/routes';
import {
  GATEWAY_ERRORS,
  errorBody,
  parseHeaders,
  routeArn,
  parseQuery,
  requestTime,
  shortId,
  sourceIp,
  type GatewayError,
} from './api-gateway';
import { LocalAuthorizer, type AuthorizerContext } from './authorizer';
import {
  createConnectionsEndpoint,
  type ConnectionsEndpointOptions,
  type ConnectionRegistry,
  type LiveConnection,
} from './connections-endpoint';
import { DEFAULT_HOST, DEFAULT_STAGE } from './dev-defaults';
import type { HandlerLoader } from './handlers';
import { closeServer, listen, type AuthorizerSettings } from './rest-front';
import { describeError, silentLogger, type Logger } from './log';
import { TokenBucket } from './token-bucket';
import { webSocketApiFromRouteTable, type WebSocketApiDefinition, type WebSocketRouteDefinition } from './ws-api';

/** API Gateway's WebSocket message payload limit. */
export const MAX_MESSAGE_BYTES = 128 * 1024;
export const IDLE_TIMEOUT_MS = 10 * 60 * 1000;
export const MAX_CONNECTION_MS = 2 * 60 * 60 * 1000;

export interface WebSocketFrontOptions {
  /** The API to serve. @default the route table's (built from `routes`, `loadHandler`, `authorizer`, `stage`) */
  readonly api?: WebSocketApiDefinition;
  /** @default WEBSOCKET_ROUTES */
  readonly routes?: readonly WebSocketRoute[];
  /** @default the repository-root loader */
  readonly loadHandler?: HandlerLoader;
  /** The $connect authorizer; null: none. @default AUTHORIZER of the route table (no result cache) */
  readonly authorizer?: AuthorizerSettings | null;
  /** @default 127.0.0.1 */
  readonly host?: string;
  /** 0 picks a free port. @default 0 */
  readonly port?: number;
  /** @default local */
  readonly stage?: string;
  /** @default 128 KiB */
  readonly maxMessageBytes?: number;
  /** Closed (1001) after this long without a message from the client. @default 10 min */
  readonly idleTimeoutMs?: number;
  /** Closed (1001) this long after connecting. @default 2 h */
  readonly maxConnectionMs?: number;
  /** Artificial delay before every management API call is answered (benchmarks). @default 0 */
  readonly managementLatencyMs?: number;
  /** Function timeout of every route. @default 29 s */
  readonly timeoutMs?: number;
  /** One line per connect, message and disconnect. @default false */
  readonly logRequests?: boolean;
  /** @default silent */
  readonly logger?: Logger;
  /**
   * The management API also on HTTPS (its own port), with this certificate, and a check of every
   * call (IAM in the as-deployed mode). @default plain HTTP on the front's port only, no check
   */
  readonly management?: {
    readonly tls?: { readonly cert: string; readonly key: string };
    readonly authorize?: ConnectionsEndpointOptions['authorize'];
  };
}

export interface WebSocketFront {
  /** ws://host:port */
  readonly url: string;
  readonly port: number;
  /** http://host:port/stage: what WS_MANAGEMENT_ENDPOINT should be. */
  readonly managementEndpoint: string;
  /** The HTTPS port of the management API, when `management.tls` was given. */
  readonly managementTlsPort: number | undefined;
  readonly server: Server;
  /** Ids of the open connections. */
  connectionIds(): string[];
  /** Closes every connection (running $disconnect) and the server. */
  close(): Promise<void>;
}

type RouteEventType = 'CONNECT' | 'MESSAGE' | 'DISCONNECT';

export async function startWebSocketFront(options: WebSocketFrontOptions = {}): Promise<WebSocketFront> {
  const timeoutMs = options.timeoutMs ?? 29_000;
  const api =
    options.api ??
    webSocketApiFromRouteTable({
      ...(options.routes !== undefined ? { routes: options.routes } : {}),
      ...(options.loadHandler !== undefined ? { loadHandler: options.loadHandler } : {}),
      ...(options.authorizer !== undefined ? { authorizer: options.authorizer } : {}),
      stage: options.stage ?? DEFAULT_STAGE,
      timeoutMs,
    });
  const { routes, stage, apiId } = api;
  const host = options.host ?? DEFAULT_HOST;
  const logger = options.logger ?? silentLogger;
  const idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  const maxConnectionMs = options.maxConnectionMs ?? MAX_CONNECTION_MS;
  const connectAuthorizer = routes.get('$connect')?.authorizer;
  // API Gateway does not cache WebSocket authorizer results in a way a client could observe:
  // each connection is authorized once, on $connect.
  const authorizer = connectAuthorizer === undefined ? undefined : new LocalAuthorizer({ fn: connectAuthorizer.fn, logger });
  const throttle = api.throttle === undefined ? undefined : new TokenBucket(api.throttle.rateLimit, api.throttle.burstLimit);
  const mayInvoke = api.mayInvoke ?? (() => true);

  const live = new Map<string, LiveConnection>();
  const issued = new Set<string>();
  const pending = new Set<Promise<unknown>>();
  let closing = false;
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => undefined);
    return p;
  };
  const log = (line: string) => {
    if (options.logRequests) logger.info(line);
  };

  const newConnectionId = (): string => {
    let id = shortId();
    while (issued.has(id)) id = shortId();
    issued.add(id);
    return id;
  };

  const baseContext = (
    connectionId: string,
    routeKey: string,
    eventType: RouteEventType,
    connectedAt: number,
    domainName: string,
    ip: string,
    userAgent: string | undefined,
    now = Date.now(),
  ) => {
    const requestId = shortId();
    return {
      routeKey,
      eventType,
      extendedRequestId: requestId,
      requestTime: requestTime(new Date(now)),
      messageDirection: 'IN' as const,
      stage,
      connectedAt,
      requestTimeEpoch: now,
      identity: { sourceIp: ip, ...(userAgent !== undefined ? { userAgent } : {}) },
      requestId,
      domainName,
      connectionId,
      apiId,
    };
  };

  /** Runs a route's function; API Gateway refuses when its Lambda permission does not allow the route. */
  const runRoute = async (route: WebSocketRouteDefinition, event: unknown): Promise<unknown> => {
    if (!mayInvoke(route.fn, routeArn(apiId, stage, route.routeKey))) {
      throw new Error(`Execution failed due to configuration error: Invalid permissions on Lambda function ${route.fn.name}`);
    }
    return route.fn.invoke(event);
  };

  const refuse = (
    socket: Duplex,
    error: GatewayError | { status: number; code: 'FORBIDDEN' | 'INTERNAL' | 'UNAUTHORIZED'; message: string; type?: string },
  ) => {
    if (socket.destroyed) return;
    const body = errorBody(error.code, error.message);
    socket.end(
      `HTTP/1.1 ${error.status} ${statusText(error.status)}\r\n` +
        'Content-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        ('type' in error && error.type ? `x-amzn-ErrorType: ${error.type}\r\n` : '') +
        'Connection: close\r\n\r\n' +
        body,
    );
  };

  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes ?? MAX_MESSAGE_BYTES, clientTracking: false });

  const onUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (closing || (url.pathname !== '/' && url.pathname !== `/${stage}` && url.pathname !== `/${stage}/`)) {
      refuse(socket, GATEWAY_ERRORS.notFound);
      return;
    }
    const connectionId = newConnectionId();
    const connectedAt = Date.now();
    const ip = sourceIp(req);
    const userAgent = req.headers['user-agent'];
    const domainName = req.headers.host ?? host;
    const { headers, multiValueHeaders } = parseHeaders(req.rawHeaders, { 'X-Forwarded-For': ip, 'X-Forwarded-Proto': 'http' });
    const query = parseQuery(url.searchParams);
    const context = () => baseContext(connectionId, '$connect', 'CONNECT', connectedAt, domainName, ip, userAgent);

    let authorizerContext: Record<string, unknown> | undefined;
    if (authorizer !== undefined) {
      const authorizerEvent = {
        type: 'REQUEST',
        methodArn: routeArn(apiId, stage, '$connect'),
        headers,
        multiValueHeaders,
        queryStringParameters: query.queryStringParameters,
        multiValueQueryStringParameters: query.multiValueQueryStringParameters,
        stageVariables: null,
        requestContext: context(),
      } as unknown as APIGatewayRequestAuthorizerEvent;
      const identity = identityOf(connectAuthorizer?.identitySources ?? [], headers, url.searchParams);
      const outcome = await authorizer.authorize(authorizerEvent, authorizerEvent.methodArn, identity);
      if (outcome.kind !== 'allow') {
        log(`CONNECT refused by the authorizer (${outcome.kind})`);
        if (outcome.kind === 'unauthorized') {
          refuse(socket, GATEWAY_ERRORS.unauthorized);
          return;
        }
        if (outcome.kind === 'forbidden') {
          refuse(socket, GATEWAY_ERRORS.accessDenied);
          return;
        }
        refuse(socket, GATEWAY_ERRORS.authorizerFailure);
        return;
      }
      authorizerContext = { ...(outcome.context satisfies AuthorizerContext), integrationLatency: outcome.latencyMs };
    }
    const withAuthorizer = <T extends object>(ctx: T) => (authorizerContext ? { ...ctx, authorizer: authorizerContext } : ctx);

    const connectRoute = routes.get('$connect');
    if (connectRoute !== undefined) {
      const event = {
        headers,
        multiValueHeaders,
        queryStringParameters: query.queryStringParameters ?? undefined,
        multiValueQueryStringParameters: query.multiValueQueryStringParameters ?? undefined,
        requestContext: withAuthorizer(context()),
        isBase64Encoded: false,
      };
      let status: number;
      try {
        const result = await track(runRoute(connectRoute, event));
        status = statusOf(result);
      } catch (error) {
        logger.error(`${connectRoute.name} failed: ${describeError(error)}`);
        status = 502;
      }
      if (status < 200 || status > 299) {
        log(`CONNECT ${connectionId} refused by ${connectRoute.name} (${status})`);
        const code = status === 401 ? 'UNAUTHORIZED' : status >= 500 ? 'INTERNAL' : 'FORBIDDEN';
        const message = status >= 500 ? 'Internal server error' : status === 401 ? 'Unauthorized' : 'Forbidden';
        refuse(socket, { status: status >= 400 ? status : 403, code, message });
        return;
      }
    }
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have set it during the awaits above
    if (socket.destroyed || closing) {
      // The client left while $connect ran: API Gateway still sends $disconnect.
      void track(disconnect(connectionId, connectedAt, domainName, ip, userAgent, authorizerContext, 1006, 'Client left during $connect'));
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const connection: LiveConnection = {
        id: connectionId,
        ws,
        connectedAt,
        lastActiveAt: connectedAt,
        sourceIp: ip,
        userAgent: userAgent ?? '',
      };
      live.set(connectionId, connection);
      log(`CONNECT ${connectionId}`);
      attach(connection, domainName, authorizerContext);
    });
  };

  const disconnect = async (
    connectionId: string,
    connectedAt: number,
    domainName: string,
    ip: string,
    userAgent: string | undefined,
    authorizerContext: Record<string, unknown> | undefined,
    code: number,
    reason: string,
  ): Promise<void> => {
    const route = routes.get('$disconnect');
    if (route === undefined) return;
    const requestContext = {
      ...baseContext(connectionId, '$disconnect', 'DISCONNECT', connectedAt, domainName, ip, userAgent),
      disconnectStatusCode: code,
      disconnectReason: reason,
      ...(authorizerContext ? { authorizer: authorizerContext } : {}),
    };
    try {
      await runRoute(route, { headers: { Host: domainName, 'X-Forwarded-For': ip }, requestContext, isBase64Encoded: false });
    } catch (error) {
      logger.error(`${route.name} failed: ${describeError(error)}`);
    }
  };

  const attach = (connection: LiveConnection, domainName: string, authorizerContext: Record<string, unknown> | undefined): void => {
    const { ws, id } = connection;
    const goAway = (why: string) => () => {
      if (ws.readyState === ws.OPEN) ws.close(1001, why);
    };
    let idleTimer = setTimeout(goAway('Idle timeout'), idleTimeoutMs);
    // The gateway stamps each frame as it reads it off the connection. This process may read
    // several frames of one connection in one turn after a stall (a loaded machine), frames a
    // gateway would have stamped milliseconds apart: they keep distinct, increasing times, in the
    // order they came, so the routes order them as the gateway would (message-order.ts).
    let lastReceivedAt = 0;
    const maxTimer = setTimeout(goAway('Maximum connection duration'), maxConnectionMs);
    idleTimer.unref();
    maxTimer.unref();

    ws.on('error', (error) => {
      // ws closes the socket itself (1009 for an oversize message); only report the rest.
      if (!/Max payload size exceeded/.test(error.message)) logger.warn(`connection ${id}: ${error.message}`);
    });
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      const payload = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      connection.lastActiveAt = Date.now();
      clearTimeout(idleTimer);
      idleTimer = setTimeout(goAway('Idle timeout'), idleTimeoutMs);
      idleTimer.unref();
      const receivedAt = Math.max(Date.now(), lastReceivedAt + 1);
      lastReceivedAt = receivedAt;
      void track(onMessage(connection, payload, isBinary, domainName, authorizerContext, receivedAt));
    });
    ws.on('close', (code: number, reason: Buffer) => {
      clearTimeout(idleTimer);
      clearTimeout(maxTimer);
      live.delete(id);
      log(`DISCONNECT ${id} (${code})`);
      void track(
        disconnect(
          id,
          connection.connectedAt,
          domainName,
          connection.sourceIp,
          connection.userAgent || undefined,
          authorizerContext,
          code,
          reason.toString(),
        ),
      );
    });
  };

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
      ...baseContext(
        connection.id,
        routeKey,
        'MESSAGE',
        connection.connectedAt,
        domainName,
        connection.sourceIp,
        connection.userAgent || undefined,
        receivedAt,
      ),
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
      const result = await runRoute(route, event);
      log(`MESSAGE ${connection.id} -> ${route.name}`);
      // Only a route with a route response sends the integration's answer back (two-way).
      const body = route.twoWay ? bodyOf(result) : undefined;
      if (body !== undefined) reply(body);
    } catch (error) {
      logger.error(`${route.name} failed: ${describeError(error)}`);
      reply(JSON.stringify({ message: 'Internal server error', connectionId: connection.id, requestId: requestContext.requestId }));
    }
  };

  const registry: ConnectionRegistry = { get: (id) => live.get(id) };
  const management = createConnectionsEndpoint({
    registry,
    stage,
    latencyMs: options.managementLatencyMs ?? 0,
    maxMessageBytes: options.maxMessageBytes ?? MAX_MESSAGE_BYTES,
    logger,
    ...(options.management?.authorize !== undefined ? { authorize: options.management.authorize } : {}),
  });
  const serveManagement: RequestListener = (req, res) => {
    management.handle(req, res).catch((error: unknown) => {
      logger.error(`@connections: ${describeError(error)}`);
      if (!res.headersSent) res.writeHead(500).end();
    });
  };

  const server = createServer((req, res) => {
    if (management.handles(req)) {
      serveManagement(req, res);
      return;
    }
    const body = errorBody('BAD_REQUEST', 'Expected a WebSocket upgrade (or the @connections management API)');
    res.writeHead(426, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Upgrade: 'websocket' });
    res.end(body);
  });
  server.requestTimeout = 0;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    onUpgrade(req, socket, head).catch((error: unknown) => {
      logger.error(`$connect: ${describeError(error)}`);
      refuse(socket, GATEWAY_ERRORS.integrationFailure);
    });
  });
  await listen(server, options.port ?? 0, host);
  const port = (server.address() as AddressInfo).port;
  // The management API under its public name: only @connections, over TLS.
  const tls = options.management?.tls;
  const tlsServer =
    tls === undefined
      ? undefined
      : createTlsServer({ cert: tls.cert, key: tls.key }, (req, res) => {
          if (management.handles(req)) {
            serveManagement(req, res);
            return;
          }
          res.writeHead(403, { 'Content-Type': 'application/json' }).end('{"message":"Forbidden"}');
        });
  if (tlsServer !== undefined) await listen(tlsServer, 0, host);

  return {
    url: `ws://${host}:${port}`,
    port,
    managementEndpoint: `http://${host}:${port}/${stage}`,
    managementTlsPort: tlsServer === undefined ? undefined : (tlsServer.address() as AddressInfo).port,
    server,
    connectionIds: () => [...live.keys()],
    async close() {
      closing = true;
      for (const connection of live.values()) connection.ws.close(1001, 'Going away');
      // Give the close handshakes a moment, then cut what is left.
      const deadline = Date.now() + 1000;
      while (live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      for (const connection of live.values()) connection.ws.terminate();
      await closeServer(server);
      if (tlsServer !== undefined) await closeServer(tlsServer);
      await Promise.allSettled([...pending]);
      wss.close();
    },
  };
}

/** The identity source values joined, or undefined when one is missing or empty (API Gateway: 401). */
function identityOf(sources: readonly string[], headers: Record<string, string>, query: URLSearchParams): string | undefined {
  const values: string[] = [];
  for (const source of sources) {
    const parameter = /^route\.request\.querystring\.(.+)$/.exec(source)?.[1];
    const header = /^route\.request\.header\.(.+)$/.exec(source)?.[1];
    const value =
      parameter !== undefined
        ? (query.get(parameter) ?? undefined)
        : header !== undefined
          ? Object.entries(headers).find(([name]) => name.toLowerCase() === header.toLowerCase())?.[1]
          : undefined;
    if (value === undefined || value === '') return undefined;
    values.push(value);
  }
  return values.join(',');
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

function statusOf(result: unknown): number {
  if (typeof result === 'object' && result !== null && 'statusCode' in result) {
    const status = Number(result.statusCode);
    return Number.isInteger(status) ? status : 502;
  }
  // A handler that returns nothing (or a non-object) is a success for API Gateway.
  return 200;
}

function bodyOf(result: unknown): string | undefined {
  if (typeof result !== 'object' || result === null) return undefined;
  const body = (result as { body?: unknown }).body;
  if (body === undefined || body === null) return undefined;
  return typeof body === 'string' ? body : JSON.stringify(body);
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
  };
  return texts[status] ?? 'Error';
}
