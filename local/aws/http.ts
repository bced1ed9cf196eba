/** What the local AWS endpoints share: a bounded body reader, a listener with timeouts, request ids. */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface LocalEndpoint {
  /** http://127.0.0.1:<port>, for a client's `endpoint` */
  readonly url: string;
  readonly port: number;
  /** Stops listening and ends every open connection (a held request included). */
  close(): Promise<void>;
}

export interface ListenOptions {
  /** @default 0, a free port */
  readonly port?: number;
  /** @default 127.0.0.1 */
  readonly host?: string;
  /** Longest time a client may take to send a whole request. @default 30 s */
  readonly requestTimeoutMs?: number;
  /** Serve HTTPS with this certificate (PEM), as the AWS endpoint it plays does. @default plain HTTP */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** An HTTP server for one endpoint, with the timeouts a server facing slow or stuck clients needs. */
export async function listen(handler: RequestListener, options: ListenOptions = {}): Promise<{ server: Server; endpoint: LocalEndpoint }> {
  const server: Server =
    options.tls === undefined ? createServer(handler) : createTlsServer({ cert: options.tls.cert, key: options.tls.key }, handler);
  server.requestTimeout = options.requestTimeoutMs ?? 30_000;
  server.headersTimeout = Math.min(server.requestTimeout, 10_000);
  // Above the SDK's idle socket reuse, so a kept-alive socket is not closed under a request.
  server.keepAliveTimeout = 65_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const endpoint: LocalEndpoint = {
    url: `${options.tls === undefined ? 'http' : 'https'}://${host}:${String(port)}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
  return { server, endpoint };
}

/** The body, or 'too-large' once it passes the limit (the rest is drained, not kept). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => {
      resolve(size > limit ? 'too-large' : Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

export function requestId(): string {
  return randomUUID();
}

/** An awsJson1_0 / awsJson1_1 error: the SDK reads the code from `__type` (after any `#`) and the message from `message` or `Message`. */
export function sendJsonError(
  res: ServerResponse,
  status: number,
  contentType: string,
  type: string,
  message: string,
  messageKey: 'message' | 'Message' = 'message',
): void {
  const body = JSON.stringify({ __type: type, [messageKey]: message });
  const id = requestId();
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'x-amzn-RequestId': id,
  });
  res.end(body);
}

export function sendJson(res: ServerResponse, contentType: string, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'x-amzn-RequestId': requestId() });
  res.end(body);
}

/** A plain-object JSON body, or undefined when it is not one. */
export function parseJsonObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.length === 0 ? '{}' : body.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Keeps the last `limit` entries (a ring: pushing is O(1)). */
export class BoundedLog<T> {
  private readonly entries: T[] = [];
  private next = 0;
  constructor(private readonly limit: number) {}
  push(entry: T): void {
    if (this.entries.length < this.limit) this.entries.push(entry);
    else this.entries[this.next] = entry;
    this.next = (this.next + 1) % this.limit;
  }
  /** Oldest first. */
  all(): T[] {
    return this.entries.length < this.limit ? [...this.entries] : [...this.entries.slice(this.next), ...this.entries.slice(0, this.next)];
  }
  clear(): void {
    this.entries.length = 0;
    this.next = 0;
  }
}
