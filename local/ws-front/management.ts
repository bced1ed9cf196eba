/**
 * The bridge to the @connections management API (../connections-endpoint.ts): the endpoint over
 * the connection table, the listener the front's servers share (a failure is logged and answers
 * 500), and the HTTPS server that serves it under its public name in the as-deployed mode (only
 * @connections there: anything else is 403).
 */
import type { IncomingMessage, RequestListener, Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import {
  createConnectionsEndpoint,
  type ConnectionRegistry,
  type ConnectionsEndpointOptions,
  type ManagementThrottle,
} from '../connections-endpoint';
import { describeError, type Logger } from '../log';

export interface ManagementOptions {
  readonly registry: ConnectionRegistry;
  readonly stage: string;
  readonly latencyMs: number;
  /** One bucket for the plain and the HTTPS server. @default the environment's (see connections-endpoint.ts) */
  readonly throttle?: ManagementThrottle;
  readonly maxMessageBytes: number;
  readonly logger: Logger;
  readonly authorize?: ConnectionsEndpointOptions['authorize'];
}

export interface Management {
  /** True when the request is for the management API. */
  handles(req: IncomingMessage): boolean;
  readonly serve: RequestListener;
  /** The HTTPS server of the management API (not listening yet). */
  tlsServer(tls: { readonly cert: string; readonly key: string }): Server;
  /** Calls answered 429 by the account throttle so far. */
  throttled(): number;
}

export function createManagement(options: ManagementOptions): Management {
  const { logger } = options;
  const endpoint = createConnectionsEndpoint({
    registry: options.registry,
    stage: options.stage,
    latencyMs: options.latencyMs,
    ...(options.throttle !== undefined ? { throttle: options.throttle } : {}),
    maxMessageBytes: options.maxMessageBytes,
    logger,
    ...(options.authorize !== undefined ? { authorize: options.authorize } : {}),
  });
  const serve: RequestListener = (req, res) => {
    endpoint.handle(req, res).catch((error: unknown) => {
      logger.error(`@connections: ${describeError(error)}`);
      if (!res.headersSent) res.writeHead(500).end();
    });
  };
  return {
    handles: (req) => endpoint.handles(req),
    serve,
    throttled: () => endpoint.throttled(),
    tlsServer: (tls) =>
      createTlsServer({ cert: tls.cert, key: tls.key }, (req, res) => {
        if (endpoint.handles(req)) {
          serve(req, res);
          return;
        }
        res.writeHead(403, { 'Content-Type': 'application/json' }).end('{"message":"Forbidden"}');
      }),
  };
}
