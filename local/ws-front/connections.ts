/**
 * The open connections and their lifetimes: connection ids (never one issued twice in the front's
 * life, so a stale id can only be gone), the registry the @connections endpoint reads, API
 * Gateway's idle timeout and maximum connection duration (both close 1001), $disconnect after
 * every close, and the drain on shutdown. What a frame means is frames.ts's business: here a
 * frame only restarts the idle clock and moves LastActiveAt before it is handed on.
 */
import type { WebSocket } from 'ws';
import { shortId } from '../api-gateway';
import type { ConnectionRegistry, LiveConnection } from '../connections-endpoint';
import { describeError } from '../log';
import type { WebSocketApiDefinition } from '../ws-api';
import { peerOf, type Peer, type RouteInvoker } from './invocation';
import type { FrontRuntime } from './options';

/** Takes one connection's frames, in the order they are read; close() waits for what it returns. */
export type FrameHandler = (payload: Buffer, isBinary: boolean) => Promise<void>;

export interface ConnectionTableOptions {
  readonly api: WebSocketApiDefinition;
  readonly invoker: RouteInvoker;
  readonly runtime: FrontRuntime;
  /** The frame handler of a connection just opened. */
  readonly frames: (connection: LiveConnection, domainName: string, authorizerContext: Record<string, unknown> | undefined) => FrameHandler;
  readonly idleTimeoutMs: number;
  readonly maxConnectionMs: number;
}

export interface ConnectionTable extends ConnectionRegistry {
  /** A fresh connection id. */
  newId(): string;
  /** Ids of the open connections. */
  ids(): string[];
  /** Admits a connection whose upgrade completed: its timers, its frames, its $disconnect. */
  open(ws: WebSocket, peer: Peer, authorizerContext: Record<string, unknown> | undefined): void;
  /** Runs $disconnect (when the API has one); a failure is logged. */
  disconnect(peer: Peer, authorizerContext: Record<string, unknown> | undefined, code: number, reason: string): Promise<void>;
  /** Closes every connection (1001), gives the close handshakes a second, then cuts what is left. */
  drain(): Promise<void>;
}

export function createConnectionTable(options: ConnectionTableOptions): ConnectionTable {
  const { api, invoker, idleTimeoutMs, maxConnectionMs } = options;
  const { logger, log, track } = options.runtime;
  const live = new Map<string, LiveConnection>();
  const issued = new Set<string>();

  const newId = (): string => {
    let id = shortId();
    while (issued.has(id)) id = shortId();
    issued.add(id);
    return id;
  };

  const disconnect = async (
    peer: Peer,
    authorizerContext: Record<string, unknown> | undefined,
    code: number,
    reason: string,
  ): Promise<void> => {
    const route = api.routes.get('$disconnect');
    if (route === undefined) return;
    const requestContext = {
      ...invoker.requestContext(peer, '$disconnect', 'DISCONNECT'),
      disconnectStatusCode: code,
      disconnectReason: reason,
      ...(authorizerContext ? { authorizer: authorizerContext } : {}),
    };
    try {
      await invoker.run(route, { headers: { Host: peer.domainName, 'X-Forwarded-For': peer.ip }, requestContext, isBase64Encoded: false });
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
    const maxTimer = setTimeout(goAway('Maximum connection duration'), maxConnectionMs);
    idleTimer.unref();
    maxTimer.unref();

    ws.on('error', (error) => {
      // ws closes the socket itself (1009 for an oversize message); only report the rest.
      if (!/Max payload size exceeded/.test(error.message)) logger.warn(`connection ${id}: ${error.message}`);
    });
    const onFrame = options.frames(connection, domainName, authorizerContext);
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      const payload = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      connection.lastActiveAt = Date.now();
      clearTimeout(idleTimer);
      idleTimer = setTimeout(goAway('Idle timeout'), idleTimeoutMs);
      idleTimer.unref();
      void track(onFrame(payload, isBinary));
    });
    ws.on('close', (code: number, reason: Buffer) => {
      clearTimeout(idleTimer);
      clearTimeout(maxTimer);
      live.delete(id);
      log(`DISCONNECT ${id} (${code})`);
      void track(disconnect(peerOf(connection, domainName), authorizerContext, code, reason.toString()));
    });
  };

  return {
    get: (id) => live.get(id),
    newId,
    ids: () => [...live.keys()],
    open(ws, peer, authorizerContext) {
      const connection: LiveConnection = {
        id: peer.connectionId,
        ws,
        connectedAt: peer.connectedAt,
        lastActiveAt: peer.connectedAt,
        sourceIp: peer.ip,
        userAgent: peer.userAgent ?? '',
      };
      live.set(peer.connectionId, connection);
      log(`CONNECT ${peer.connectionId}`);
      attach(connection, peer.domainName, authorizerContext);
    },
    disconnect,
    async drain() {
      for (const connection of live.values()) connection.ws.close(1001, 'Going away');
      // Give the close handshakes a moment, then cut what is left.
      const deadline = Date.now() + 1000;
      while (live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      for (const connection of live.values()) connection.ws.terminate();
    },
  };
}
