/**
 * The upgrade, everything API Gateway does before a WebSocket exists: the path check (the stage
 * or /), the $connect REQUEST authorizer (each connection authorized once: nothing a client could
 * see is cached), the $connect route (a non-2xx answer refuses the upgrade with that status),
 * and only then the 101 and the connection's admission to the table. A refusal is a plain HTTP
 * answer written on the raw socket, with API Gateway's error body.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { WebSocketServer } from 'ws';
import { GATEWAY_ERRORS, errorBody, parseHeaders, parseQuery, routeArn, sourceIp, type GatewayError } from '../api-gateway';
import { LocalAuthorizer, type AuthorizerContext } from '../authorizer';
import { describeError } from '../log';
import type { WebSocketApiDefinition } from '../ws-api';
import type { ConnectionTable } from './connections';
import type { Peer, RouteInvoker } from './invocation';
import type { FrontRuntime } from './options';

export interface HandshakeOptions {
  readonly api: WebSocketApiDefinition;
  readonly invoker: RouteInvoker;
  readonly connections: ConnectionTable;
  readonly runtime: FrontRuntime;
  /** The domain name of the events when the request has no Host header. */
  readonly host: string;
  /** Larger messages close the connection with 1009. */
  readonly maxMessageBytes: number;
  /** True once close() started: new upgrades are refused, and one under way is dropped. */
  readonly closing: () => boolean;
}

export interface Handshake {
  /** The server's 'upgrade' listener. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Last step of the shutdown. */
  close(): void;
}

type Refusal =
  GatewayError | { status: number; code: 'FORBIDDEN' | 'INTERNAL' | 'UNAUTHORIZED' | 'RATE_LIMITED'; message: string; type?: string };

export function createHandshake(options: HandshakeOptions): Handshake {
  const { api, invoker, connections, host } = options;
  const { logger, log, track } = options.runtime;
  const { routes, stage, apiId } = api;
  const connectAuthorizer = routes.get('$connect')?.authorizer;
  // API Gateway does not cache WebSocket authorizer results in a way a client could observe:
  // each connection is authorized once, on $connect.
  const authorizer = connectAuthorizer === undefined ? undefined : new LocalAuthorizer({ fn: connectAuthorizer.fn, logger });
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes, clientTracking: false });

  const onUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (options.closing() || (url.pathname !== '/' && url.pathname !== `/${stage}` && url.pathname !== `/${stage}/`)) {
      refuse(socket, GATEWAY_ERRORS.notFound);
      return;
    }
    const connectionId = connections.newId();
    const connectedAt = Date.now();
    const ip = sourceIp(req);
    const userAgent = req.headers['user-agent'];
    const domainName = req.headers.host ?? host;
    const peer: Peer = { connectionId, connectedAt, domainName, ip, userAgent };
    const { headers, multiValueHeaders } = parseHeaders(req.rawHeaders, { 'X-Forwarded-For': ip, 'X-Forwarded-Proto': 'http' });
    const query = parseQuery(url.searchParams);
    const context = () => invoker.requestContext(peer, '$connect', 'CONNECT');

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
        const result = await track(invoker.run(connectRoute, event));
        status = statusOf(result);
      } catch (error) {
        logger.error(`${connectRoute.name} failed: ${describeError(error)}`);
        status = 502;
      }
      if (status < 200 || status > 299) {
        log(`CONNECT ${connectionId} refused by ${connectRoute.name} (${status})`);
        const code = status === 401 ? 'UNAUTHORIZED' : status === 429 ? 'RATE_LIMITED' : status >= 500 ? 'INTERNAL' : 'FORBIDDEN';
        const message =
          status >= 500 ? 'Internal server error' : status === 401 ? 'Unauthorized' : status === 429 ? 'Too Many Requests' : 'Forbidden';
        refuse(socket, { status: status >= 400 ? status : 403, code, message });
        return;
      }
    }
    // Asked again after the awaits: the client may have left (closed its socket, or half-closed
    // it: ws then drops the socket without opening a connection), or close() begun, while
    // $connect ran. $connect succeeded, so API Gateway sends $disconnect: what $connect recorded
    // (the connection, its place in its user's and tenant's counts) is released.
    const upgrade = { opened: false };
    if (!socket.destroyed && !options.closing()) {
      // handleUpgrade calls back at once, or not at all.
      wss.handleUpgrade(req, socket, head, (ws) => {
        upgrade.opened = true;
        connections.open(ws, peer, authorizerContext);
      });
    }
    if (!upgrade.opened) {
      // Never left half-open: the server's close() waits for every socket it accepted.
      socket.destroy();
      const reason = options.closing() ? 'Going away' : 'Client left during $connect';
      void track(connections.disconnect(peer, authorizerContext, 1006, reason));
    }
  };

  return {
    upgrade(req, socket, head) {
      onUpgrade(req, socket, head).catch((error: unknown) => {
        logger.error(`$connect: ${describeError(error)}`);
        refuse(socket, GATEWAY_ERRORS.integrationFailure);
      });
    },
    close: () => wss.close(),
  };
}

function refuse(socket: Duplex, error: Refusal): void {
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

function statusOf(result: unknown): number {
  if (typeof result === 'object' && result !== null && 'statusCode' in result) {
    const status = Number(result.statusCode);
    return Number.isInteger(status) ? status : 502;
  }
  // A handler that returns nothing (or a non-object) is a success for API Gateway.
  return 200;
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
  };
  return texts[status] ?? 'Error';
}
