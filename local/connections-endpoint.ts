/**
 * The API Gateway Management API (`@connections`) of the local WebSocket front, so handlers use
 * the real @aws-sdk/client-apigatewaymanagementapi client with only the endpoint changed:
 *   POST   /{stage}/@connections/{id}   send the body to the client       (200)
 *   GET    /{stage}/@connections/{id}   {connectedAt, identity, lastActiveAt}
 *   DELETE /{stage}/@connections/{id}   close the connection              (204)
 * The stage segment is optional. A connection that is not open answers 410 GoneException; a
 * message over 128 KB answers 413 PayloadTooLargeException. Without an `authorize` hook any
 * caller is served and signatures are not checked; with one (as deployed: SigV4 and IAM's
 * execute-api:ManageConnections, see local/aws/connections-iam.ts) a call it refuses is answered
 * with its status and error type, before the connection is looked up.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebSocket } from 'ws';
import { describeError, type Logger } from './log';

export interface LiveConnection {
  readonly id: string;
  readonly ws: WebSocket;
  /** epoch ms */
  readonly connectedAt: number;
  /** epoch ms of the last message in either direction */
  lastActiveAt: number;
  readonly sourceIp: string;
  readonly userAgent: string;
}

export interface ConnectionRegistry {
  get(connectionId: string): LiveConnection | undefined;
}

/** One management API call, as the authorize hook sees it. */
export interface ConnectionsCall {
  readonly method: 'POST' | 'GET' | 'DELETE';
  /** Decoded, as in the execute-api resource ARN. */
  readonly connectionId: string;
  readonly stage: string;
  readonly req: IncomingMessage;
  /** The body as received (empty when it was over the limit). */
  readonly body: Buffer;
}

export type ConnectionsAuthorization =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      readonly status: number;
      /** x-amzn-ErrorType, the error name the SDK surfaces (AccessDeniedException, UnrecognizedClientException, ...) */
      readonly type: string;
      readonly message: string;
      /** API Gateway writes IAM denials as {"Message": ...}, its other errors as {"message": ...}. @default 'message' */
      readonly messageKey?: 'message' | 'Message';
    };

export interface ConnectionsEndpointOptions {
  readonly registry: ConnectionRegistry;
  readonly stage: string;
  /** Decides each call before it is served. @default every call is served */
  readonly authorize?: (call: ConnectionsCall) => Promise<ConnectionsAuthorization>;
  /** Delay before each call is answered (benchmarks). @default 0 */
  readonly latencyMs?: number;
  /** @default 128 KiB */
  readonly maxMessageBytes?: number;
  readonly logger: Logger;
}

export interface ConnectionsEndpoint {
  /** True when the request is for the management API. */
  handles(req: IncomingMessage): boolean;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

const PATH = /^(?:\/([^/]+))?\/@connections\/([^/]+)\/?$/;

export function createConnectionsEndpoint(options: ConnectionsEndpointOptions): ConnectionsEndpoint {
  const maxMessageBytes = options.maxMessageBytes ?? 128 * 1024;
  const latencyMs = options.latencyMs ?? 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const match = PATH.exec(new URL(req.url ?? '/', 'http://localhost').pathname);
    const body = await readBody(req, maxMessageBytes);
    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
    if (match === null || (match[1] !== undefined && match[1] !== options.stage)) {
      sendError(res, 403, 'ForbiddenException', 'Forbidden');
      return;
    }
    let connectionId: string;
    try {
      connectionId = decodeURIComponent(match[2] as string);
    } catch {
      sendError(res, 400, 'BadRequestException', 'Invalid connectionId');
      return;
    }
    const method = req.method;
    if (options.authorize !== undefined && (method === 'POST' || method === 'GET' || method === 'DELETE')) {
      // An oversized message is refused for its size first; its signature cannot be checked on a body that was not kept.
      if (method === 'POST' && body === 'too-large') {
        sendError(res, 413, 'PayloadTooLargeException', 'Message too long');
        return;
      }
      const verdict = await options.authorize({
        method,
        connectionId,
        stage: options.stage,
        req,
        body: body === 'too-large' ? Buffer.alloc(0) : body,
      });
      if (!verdict.allowed) {
        sendError(res, verdict.status, verdict.type, verdict.message, verdict.messageKey);
        return;
      }
    }
    const connection = options.registry.get(connectionId);
    const open = connection !== undefined && connection.ws.readyState === connection.ws.OPEN;
    // Always set on a server's request (the type is shared with client responses).
    switch (req.method ?? '') {
      case 'POST': {
        if (body === 'too-large') {
          sendError(res, 413, 'PayloadTooLargeException', 'Message too long');
          return;
        }
        if (!open) {
          sendError(res, 410, 'GoneException', null);
          return;
        }
        await new Promise<void>((resolve) => {
          connection.ws.send(body, { binary: !isUtf8(body) }, (error) => {
            if (error) options.logger.warn(`@connections POST ${connectionId}: ${describeError(error)}`);
            resolve();
          });
        });
        connection.lastActiveAt = Date.now();
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 0 });
        res.end();
        return;
      }
      case 'GET': {
        if (!open) {
          sendError(res, 410, 'GoneException', null);
          return;
        }
        const info = JSON.stringify({
          connectedAt: new Date(connection.connectedAt).toISOString(),
          identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
          lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
        });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(info) });
        res.end(info);
        return;
      }
      case 'DELETE': {
        if (!open) {
          sendError(res, 410, 'GoneException', null);
          return;
        }
        connection.ws.close(1000, 'Closed by the management API');
        res.writeHead(204);
        res.end();
        return;
      }
      default: {
        sendError(res, 403, 'ForbiddenException', 'Forbidden');
        return;
      }
    }
  };

  return {
    handles: (req) => PATH.test(new URL(req.url ?? '/', 'http://localhost').pathname),
    handle,
  };
}

/** The body, or 'too-large' once it passes the limit (the rest is drained, not kept). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** AWS restJson1 error: the SDK reads the type from x-amzn-ErrorType. */
function sendError(
  res: ServerResponse,
  status: number,
  type: string,
  message: string | null,
  messageKey: 'message' | 'Message' = 'message',
): void {
  const body = JSON.stringify({ [messageKey]: message });
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'x-amzn-ErrorType': type });
  res.end(body);
}
