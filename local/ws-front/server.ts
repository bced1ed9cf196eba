/**
 * The front put together: the options resolved to their defaults, the parts wired, one HTTP
 * server for the upgrades and the @connections endpoint (anything else: 426), the optional HTTPS
 * management server, and the shutdown: refuse new upgrades, drain the connections, stop the
 * servers, then wait for every function run still going ($disconnect included).
 */
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { errorBody } from '../api-gateway';
import { DEFAULT_HOST, DEFAULT_STAGE } from '../dev-defaults';
import { silentLogger } from '../log';
import { closeServer, listen } from '../rest-front';
import { webSocketApiFromRouteTable } from '../ws-api';
import { createConnectionTable } from './connections';
import { createFrameRouter } from './frames';
import { createHandshake } from './handshake';
import { createRouteInvoker } from './invocation';
import { createManagement } from './management';
import {
  IDLE_TIMEOUT_MS,
  MAX_CONNECTION_MS,
  MAX_MESSAGE_BYTES,
  type FrontRuntime,
  type WebSocketFront,
  type WebSocketFrontOptions,
} from './options';

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
  const { stage } = api;
  const host = options.host ?? DEFAULT_HOST;
  const logger = options.logger ?? silentLogger;
  const maxMessageBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;

  const pending = new Set<Promise<unknown>>();
  let closing = false;
  const runtime: FrontRuntime = {
    logger,
    log: (line) => {
      if (options.logRequests) logger.info(line);
    },
    track: (p) => {
      pending.add(p);
      void p.finally(() => pending.delete(p)).catch(() => undefined);
      return p;
    },
  };

  const invoker = createRouteInvoker(api);
  const connections = createConnectionTable({
    api,
    invoker,
    runtime,
    frames: createFrameRouter({ api, invoker, runtime }),
    idleTimeoutMs: options.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
    maxConnectionMs: options.maxConnectionMs ?? MAX_CONNECTION_MS,
  });
  const handshake = createHandshake({ api, invoker, connections, runtime, host, maxMessageBytes, closing: () => closing });
  const management = createManagement({
    registry: connections,
    stage,
    latencyMs: options.managementLatencyMs ?? 0,
    ...(options.managementThrottle !== undefined ? { throttle: options.managementThrottle } : {}),
    maxMessageBytes,
    logger,
    ...(options.management?.authorize !== undefined ? { authorize: options.management.authorize } : {}),
  });

  const server = createServer((req, res) => {
    if (management.handles(req)) {
      management.serve(req, res);
      return;
    }
    const body = errorBody('BAD_REQUEST', 'Expected a WebSocket upgrade (or the @connections management API)');
    res.writeHead(426, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Upgrade: 'websocket' });
    res.end(body);
  });
  server.requestTimeout = 0;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    handshake.upgrade(req, socket, head);
  });
  await listen(server, options.port ?? 0, host);
  const port = (server.address() as AddressInfo).port;
  // The management API under its public name: only @connections, over TLS.
  const tls = options.management?.tls;
  const tlsServer = tls === undefined ? undefined : management.tlsServer(tls);
  if (tlsServer !== undefined) await listen(tlsServer, 0, host);

  return {
    url: `ws://${host}:${port}`,
    port,
    managementEndpoint: `http://${host}:${port}/${stage}`,
    managementTlsPort: tlsServer === undefined ? undefined : (tlsServer.address() as AddressInfo).port,
    server,
    managementThrottled: () => management.throttled(),
    connectionIds: () => connections.ids(),
    async close() {
      closing = true;
      await connections.drain();
      await closeServer(server);
      if (tlsServer !== undefined) await closeServer(tlsServer);
      await Promise.allSettled([...pending]);
      handshake.close();
    },
  };
}
