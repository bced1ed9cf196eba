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
 *
 * Every call takes a token of one bucket shared by all callers, as API Gateway's account throttle
 * does (10,000 requests a second, burst 5,000, unless WS_MANAGEMENT_THROTTLE_RATE /
 * WS_MANAGEMENT_THROTTLE_BURST or the `throttle` option say otherwise); a call without one is
 * answered 429 TooManyRequestsException {"message":"Too Many Requests"}, before it is authorized.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebSocket } from 'ws';
import { describeError, type Logger } from './log';
import { TokenBucket } from './token-bucket';

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

/** Requests a second and burst of the account throttle every management API call counts against. */
export interface ManagementThrottle {
  readonly rateLimit: number;
  readonly burstLimit: number;
}

/** API Gateway's default account throttle (its quotas page: 10,000 requests a second, burst 5,000). */
export const ACCOUNT_THROTTLE: ManagementThrottle = { rateLimit: 10_000, burstLimit: 5_000 };

export const THROTTLE_RATE_ENV = 'WS_MANAGEMENT_THROTTLE_RATE';
export const THROTTLE_BURST_ENV = 'WS_MANAGEMENT_THROTTLE_BURST';

/** The throttle WS_MANAGEMENT_THROTTLE_RATE and WS_MANAGEMENT_THROTTLE_BURST set, ACCOUNT_THROTTLE's values where unset. */
export function managementThrottleFromEnvironment(env: NodeJS.ProcessEnv = process.env): ManagementThrottle {
  const read = (name: string, fallback: number, min: number): number => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number of at least ${min} (got ${text})`);
    return value;
  };
  return {
    rateLimit: read(THROTTLE_RATE_ENV, ACCOUNT_THROTTLE.rateLimit, 0),
    burstLimit: read(THROTTLE_BURST_ENV, ACCOUNT_THROTTLE.burstLimit, 1),
  };
}

export interface ConnectionsEndpointOptions {
  readonly registry: ConnectionRegistry;
  readonly stage: string;
  /** The account throttle. @default managementThrottleFromEnvironment() */
  readonly throttle?: ManagementThrottle;
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
  /** Calls answered 429 by the throttle so far. */
  throttled(): number;
}

const PATH = /^(?:\/([^/]+))?\/@connections\/([^/]+)\/?$/;

export function createConnectionsEndpoint(options: ConnectionsEndpointOptions): ConnectionsEndpoint {
  const maxMessageBytes = options.maxMessageBytes ?? 128 * 1024;
  const latencyMs = options.latencyMs ?? 0;
  const throttle = options.throttle ?? managementThrottleFromEnvironment();
  const bucket = new TokenBucket(throttle.rateLimit, throttle.burstLimit);
  let throttled = 0;

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
    if (!bucket.take()) {
      throttled++;
      sendError(res, 429, 'TooManyRequestsException', 'Too Many Requests');
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
    throttled: () => throttled,
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
