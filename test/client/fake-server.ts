/**
 * A small shop-edge WebSocket server on a free port, for the client tests: it answers subscribe
 * with `subscribed` and the snapshot the test sets, unsubscribe with `unsubscribed`, ping with
 * `pong`; the test pushes messages to a channel's subscribers, drops connections, refuses
 * handshakes and ends sessions.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { frameText } from '../support/ws';

export interface FakeConnection {
  readonly id: number;
  readonly token: string | null;
  readonly ws: WebSocket;
  /** Client messages as received, parsed. */
  readonly received: Array<{ action?: string; channel?: string; seq?: number }>;
  readonly subscriptions: Set<string>;
  /** When the client or the server closed it (ms), undefined while open. */
  closedAt?: number;
  closeCode?: number;
}

export interface FakeServerOptions {
  /** The current state of a channel, for `subscribed`. */
  snapshot?: (channel: string) => unknown;
}

export class FakeServer {
  readonly connections: FakeConnection[] = [];
  /** Handshakes refused so far, with their status and when (ms). */
  readonly refusals: Array<{ token: string | null; status: number; at: number }> = [];
  /** Refuse handshakes with this status (all, or those the predicate picks). */
  refuse: { status: number; when?: (token: string | null) => boolean } | undefined;
  answerPings = true;
  /** Subscribes of the connections it picks are answered `unsubscribed`, as when a later unsubscribe overtook them. */
  overtakeSubscribes: ((connection: FakeConnection) => boolean) | undefined;
  /** Subscribes of the connections it picks wait (unregistered, unanswered) for releaseSubscribes(). */
  holdSubscribes: ((connection: FakeConnection) => boolean) | undefined;
  private held: Array<{ connection: FakeConnection; channel: string }> = [];
  snapshot: (channel: string) => unknown;
  private readonly wss = new WebSocketServer({ noServer: true });
  private nextId = 1;

  private constructor(
    private readonly http: Server,
    readonly url: string,
    options: FakeServerOptions,
  ) {
    this.snapshot = options.snapshot ?? (() => null);
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
  }

  static async start(options: FakeServerOptions = {}): Promise<FakeServer> {
    const http = createServer((_req, res) => res.writeHead(426).end());
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    return new FakeServer(http, `ws://127.0.0.1:${port}/prod`, options);
  }

  get live(): FakeConnection[] {
    return this.connections.filter((c) => c.closedAt === undefined);
  }

  /** Every client message of one action, over all connections. */
  sent(action: string, channel?: string): Array<{ action?: string; channel?: string; seq?: number }> {
    return this.connections
      .flatMap((c) => c.received)
      .filter((m) => m.action === action && (channel === undefined || m.channel === channel));
  }

  /** Sends to every open connection subscribed to the channel; returns how many got it. */
  push(channel: string, message: unknown): number {
    const targets = this.live.filter((c) => c.subscriptions.has(channel));
    for (const c of targets) c.ws.send(JSON.stringify(message));
    return targets.length;
  }

  send(connection: FakeConnection, message: unknown): void {
    connection.ws.send(JSON.stringify(message));
  }

  /** Registers and answers the held subscribes. */
  releaseSubscribes(): void {
    for (const { connection, channel } of this.held.splice(0)) this.subscribe(connection, channel);
  }

  get heldSubscribes(): number {
    return this.held.length;
  }

  /** Ends a session as the server does when its token expired: error UNAUTHORIZED, then a normal close. */
  endSession(connection: FakeConnection): void {
    connection.ws.send(JSON.stringify({ type: 'error', code: 'UNAUTHORIZED', message: 'token expired: reconnect with a fresh token' }));
    connection.ws.close(1000);
  }

  /** Cuts every open connection without a closing handshake (as a network failure would). */
  dropAll(): void {
    for (const c of this.live) c.ws.terminate();
  }

  async stop(): Promise<void> {
    for (const c of this.connections) c.ws.terminate();
    this.wss.close();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined); // a client that gives up mid-handshake resets the socket
    const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
    const refuse = this.refuse;
    if (refuse && (!refuse.when || refuse.when(token))) {
      this.refusals.push({ token, status: refuse.status, at: Date.now() });
      socket.end(`HTTP/1.1 ${refuse.status} Refused\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws, token));
  }

  private subscribe(connection: FakeConnection, channel: string): void {
    if (connection.closedAt !== undefined) return;
    connection.subscriptions.add(channel);
    connection.ws.send(JSON.stringify({ type: 'subscribed', channel, snapshot: this.snapshot(channel) }));
  }

  private attach(ws: WebSocket, token: string | null): void {
    const connection: FakeConnection = { id: this.nextId++, token, ws, received: [], subscriptions: new Set() };
    this.connections.push(connection);
    ws.on('error', () => undefined); // resets from clients that drop: the close event records them
    ws.on('close', (code) => {
      connection.closedAt = Date.now();
      connection.closeCode = code;
    });
    ws.on('message', (data) => {
      let message: { action?: string; channel?: string; seq?: number };
      try {
        message = JSON.parse(frameText(data)) as typeof message;
      } catch {
        return;
      }
      connection.received.push(message);
      const channel = String(message.channel);
      switch (message.action ?? '') {
        case 'subscribe':
          if (this.overtakeSubscribes?.(connection)) ws.send(JSON.stringify({ type: 'unsubscribed', channel }));
          else if (this.holdSubscribes?.(connection)) this.held.push({ connection, channel });
          else this.subscribe(connection, channel);
          break;
        case 'unsubscribe':
          connection.subscriptions.delete(channel);
          ws.send(JSON.stringify({ type: 'unsubscribed', channel }));
          break;
        case 'ping':
          if (this.answerPings) ws.send(JSON.stringify({ type: 'pong' }));
          break;
      }
    });
  }
}

/** Polls until the condition holds; fails with the description after timeoutMs. */
export async function waitFor(description: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${description}`);
    await sleep(5);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
