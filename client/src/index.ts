/**
 * @shop-edge/client: live product stock, orders and dashboard figures over the shop-edge
 * WebSocket, for browsers and Node (22+, or any runtime given a WebSocket constructor).
 *
 *   const client = connect('wss://ws.example.com/prod', () => auth.currentToken());
 *   const stop = client.subscribe('product:p-1', (message) => render(message));
 *
 * - Reconnects on its own, with exponential backoff and full jitter, for as long as the user has
 *   not closed it; resubscribes every channel, and the snapshots bring it up to date.
 * - Drops every message whose version is not newer than what the channel's subscribers already
 *   have (duplicates, reordering, the overlap of two connections); see ./versions.ts.
 * - Pings under the 10-minute idle timeout; replaces its connection before the 2-hour limit, and
 *   before its token expires (with a token provider), by opening the new one first (no gap), and
 *   takes a dead one (no reply to a ping) for lost.
 * - Token refused on the handshake (401/403), or the session ended by the server (error
 *   UNAUTHORIZED: the token expired): see `TokenProvider` and README.md. A handshake refused with
 *   429 (the user or the tenant has as many connections as the server allows) backs off
 *   exponentially with jitter (1 s doubling to 30 s, never at once) and is reported ('limited').
 * - Numbers its subscribe and unsubscribe messages (`seq`): the server applies the later of two
 *   that cross.
 */
import { backoffDelay, limitedDelay } from './backoff';
import {
  channelOf,
  parseServerMessage,
  type Channel,
  type ChannelMessage,
  type ClientMessage,
  type ErrorMessage,
  type ServerMessage,
} from './messages';
import { ChannelVersions } from './versions';

// Types only, and the two helpers: the schemas stay out of the bundle (import them from
// '@shop-edge/client/messages').
export type * from './messages';
export { channelOf, parseServerMessage } from './messages';
export { backoffDelay, limitedDelay } from './backoff';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline';

/** closed: by `close()`; unauthorized: the token was refused and no other one was supplied. */
export type OfflineReason = 'closed' | 'unauthorized';

export interface StateInfo {
  /** Set when the state is `offline`. */
  readonly reason?: OfflineReason;
  /** Set when the state is `reconnecting`: what ended the connection, when known. */
  readonly cause?: string;
}

/**
 * A handshake refused with 429: the user (10 by default) or the tenant (10,000 by default) has as
 * many connections open as the server allows. The server does not say which; a slot frees when
 * another connection closes, so the client waits `retryInMs` before its next attempt.
 */
export interface LimitedInfo {
  readonly status: 429;
  readonly reason: 'too-many-connections';
  /** Refusals in a row, counting this one (from 1); a connection that opens resets it. */
  readonly refusals: number;
  /** When the next attempt is made. */
  readonly retryInMs: number;
  /** A refused replacement of an open connection (which stays in use meanwhile), not a (re)connect. */
  readonly handover: boolean;
}

export interface TokenRequest {
  /**
   * connect: the first connection; reconnect: after a lost connection; handover: the connection
   * opened to replace one near the 2-hour limit or near its token's `exp`; refused: the last
   * handshake was refused with `status` (401 or 403), so the token must change; expired: the
   * server ended the session (error UNAUTHORIZED: its token expired), so a fresh token is needed.
   */
  readonly reason: 'connect' | 'reconnect' | 'handover' | 'refused' | 'expired';
  readonly status?: number;
}

/**
 * Called before every connection attempt (so a reconnect two hours later does not present an
 * expired JWT). Returns the token, or null/undefined to give up: the client goes `offline` with
 * reason `unauthorized`. A throw or a rejection counts as a failed attempt (retried with backoff).
 */
export type TokenProvider = (request: TokenRequest) => string | null | undefined | Promise<string | null | undefined>;

/** The part of the WHATWG WebSocket the client uses (browsers, Node 22+, the `ws` package). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- runtimes type their events differently
  addEventListener(type: 'open' | 'message' | 'error' | 'close', listener: (event: any) => void): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ClientOptions {
  /** @default globalThis.WebSocket */
  readonly WebSocket?: WebSocketConstructor;
  /** Backoff ceiling of the first retry. @default 250 */
  readonly backoffBaseMs?: number;
  /** Largest backoff ceiling. @default 30_000 */
  readonly backoffCapMs?: number;
  /**
   * Backoff ceiling of the first retry after a handshake refused with 429 (too many connections),
   * doubling with each refusal in a row up to `backoffCapMs`; the wait is in [ceiling / 2, ceiling). @default 1_000
   */
  readonly limitedBackoffBaseMs?: number;
  /** A connection open this long resets the backoff. @default 10_000 */
  readonly stableAfterMs?: number;
  /** A handshake not done by then is abandoned (and retried). @default 15_000 */
  readonly connectTimeoutMs?: number;
  /** Under API Gateway's 10-minute idle timeout. @default 300_000 (5 min) */
  readonly pingIntervalMs?: number;
  /** No message at all this long after a ping: the connection is taken for dead. @default 30_000 */
  readonly pongTimeoutMs?: number;
  /** Replace the connection after this long, under API Gateway's 2-hour limit. @default 6_600_000 (110 min) */
  readonly maxConnectionAgeMs?: number;
  /**
   * With a token provider, replace the connection this long before its token's `exp` (read from
   * the JWT), with a fresh token: the server ends a session when its token expires. @default 60_000
   */
  readonly tokenRefreshLeadMs?: number;
  /** The replacement must have every subscription answered by then, or it is retried. @default 15_000 */
  readonly handoverTimeoutMs?: number;
  /** The replaced connection stays open this long, so nothing in flight on it is lost. @default 5_000 */
  readonly handoverLingerMs?: number;
  /**
   * The last callback of a channel leaving waits this long before `unsubscribe` is sent: a callback
   * joining meanwhile (a component remounting) keeps the subscription, with no churn. @default 1_000
   */
  readonly unsubscribeDelayMs?: number;
  /** [0, 1), for the jitter. @default Math.random */
  readonly random?: () => number;
}

export interface ShopEdgeClient {
  readonly state: ConnectionState;
  /**
   * Sends one `subscribe` per channel however many callbacks it has; a callback joining a channel
   * already subscribed first receives the current state (the snapshot and newer updates).
   * Returns the function that removes this callback (after the last one, `unsubscribe` is sent
   * once `unsubscribeDelayMs` has passed without a callback joining).
   */
  subscribe<C extends Channel>(channel: C, onMessage: (message: ChannelMessage<C>) => void): () => void;
  /** Connection state changes. Returns the function that removes the listener. */
  on(event: 'state', listener: (state: ConnectionState, info: StateInfo) => void): () => void;
  /** `{"type":"error"}` messages from the server (FORBIDDEN, RATE_LIMITED, BAD_REQUEST...). */
  on(event: 'error', listener: (error: ErrorMessage) => void): () => void;
  /** A handshake refused with 429 (too many connections of the user or the tenant), and when the client tries again. */
  on(event: 'limited', listener: (info: LimitedInfo) => void): () => void;
  /** Closes the connection for good: state `offline` (reason `closed`), no reconnect. */
  close(): void;
}

export function connect(url: string, token: string | TokenProvider, options: ClientOptions = {}): ShopEdgeClient {
  return new Client(url, token, options);
}

const DEFAULTS = {
  backoffBaseMs: 250,
  backoffCapMs: 30_000,
  limitedBackoffBaseMs: 1_000,
  stableAfterMs: 10_000,
  connectTimeoutMs: 15_000,
  pingIntervalMs: 5 * 60_000,
  pongTimeoutMs: 30_000,
  maxConnectionAgeMs: 110 * 60_000,
  tokenRefreshLeadMs: 60_000,
  handoverTimeoutMs: 15_000,
  handoverLingerMs: 5_000,
  unsubscribeDelayMs: 1_000,
} as const;

type Settings = { -readonly [K in keyof typeof DEFAULTS]: number } & { random: () => number };

type Timer = ReturnType<typeof setTimeout>;

const OPEN = 1;
const CONNECTING = 0;

interface Connection {
  /** connect: becomes the primary once open; handover: once every subscription is answered. */
  purpose: 'connect' | 'handover';
  socket?: WebSocketLike;
  opened: boolean;
  ended: boolean;
  /** Replaced by a handover: still delivering until it closes. */
  retired: boolean;
  /** HTTP status of a refused handshake, where the runtime reveals it (the `ws` package does). */
  status?: number;
  /** The `exp` of its token (epoch ms), when the token is a JWT that has one. */
  tokenExpiresAt?: number;
  /** Handover: the channels whose subscribe is still unanswered. */
  awaiting: Set<Channel>;
  timers: Map<'connect' | 'ping' | 'pong' | 'age' | 'handover' | 'linger', Timer>;
}

interface Subscriber {
  readonly onMessage: (message: ServerMessage) => void;
}

interface ChannelEntry {
  readonly subscribers: Set<Subscriber>;
  readonly versions: ChannelVersions;
  /** Set while the channel has no callback left and its `unsubscribe` waits. */
  idle?: Timer;
}

class Client implements ShopEdgeClient {
  state: ConnectionState = 'connecting';
  private readonly settings: Settings;
  private readonly WebSocketClass: WebSocketConstructor;
  private readonly tokenProvider: TokenProvider | undefined;
  private readonly channels = new Map<Channel, ChannelEntry>();
  private readonly stateListeners = new Set<(state: ConnectionState, info: StateInfo) => void>();
  private readonly errorListeners = new Set<(error: ErrorMessage) => void>();
  private readonly limitedListeners = new Set<(info: LimitedInfo) => void>();
  /** Handshakes refused with 429 in a row (reconnects; handovers count their own). */
  private limitedRefusals = 0;
  private limitedHandovers = 0;
  private primary: Connection | undefined;
  /** The connection being opened: a (re)connect, or the replacement of the primary. */
  private candidate: Connection | undefined;
  private retryTimer: Timer | undefined;
  private stableTimer: Timer | undefined;
  private attempt = 0;
  private handoverAttempt = 0;
  /** A static token that was refused on a handover: no more handovers with it. */
  private handoverDisabled = false;
  private refusedStatus: number | undefined;
  /** The server ended the last session (error UNAUTHORIZED): the next token must be fresh. */
  private sessionEnded = false;
  /** The `seq` of the last subscribe or unsubscribe sent. */
  private seq = 0;
  private everConnected = false;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly token: string | TokenProvider,
    options: ClientOptions,
  ) {
    new URL(url, baseUrl()); // throws on a malformed URL now, not on every retry
    const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WebSocketClass) throw new Error('no WebSocket in this runtime: pass options.WebSocket (e.g. the ws package)');
    this.WebSocketClass = WebSocketClass;
    this.tokenProvider = typeof token === 'function' ? token : undefined;
    const { WebSocket: _ctor, random, ...intervals } = options;
    // Plain JavaScript callers can pass anything, undefined included (Object.entries' type says number).
    const entries: [string, unknown][] = Object.entries(intervals);
    const defined = Object.fromEntries(entries.filter(([, value]) => value !== undefined));
    for (const [name, value] of Object.entries(defined)) {
      if (!(name in DEFAULTS)) throw new Error(`unknown option ${name}`);
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
        throw new Error(`option ${name} must be a positive number of milliseconds, not ${String(value)}`);
    }
    this.settings = { ...DEFAULTS, ...defined, random: random ?? Math.random };
    this.open('connect');
  }

  subscribe<C extends Channel>(channel: C, onMessage: (message: ChannelMessage<C>) => void): () => void {
    const subscriber: Subscriber = { onMessage: onMessage as (message: ServerMessage) => void };
    let entry = this.channels.get(channel);
    if (!entry) {
      entry = { subscribers: new Set(), versions: new ChannelVersions(channel) };
      this.channels.set(channel, entry);
      this.sendToLive({ action: 'subscribe', channel });
    } else {
      clearTimeout(entry.idle);
      entry.idle = undefined;
      const current = entry.versions.replay();
      const joined = entry;
      if (current.length > 0) {
        queueMicrotask(() => {
          if (!joined.subscribers.has(subscriber)) return;
          for (const message of current) invoke(subscriber.onMessage, message);
        });
      }
    }
    entry.subscribers.add(subscriber);
    const owner = entry;
    return () => {
      if (!owner.subscribers.delete(subscriber) || owner.subscribers.size > 0) return;
      owner.idle = setTimeout(() => {
        if (owner.subscribers.size > 0 || this.channels.get(channel) !== owner) return;
        this.channels.delete(channel);
        this.sendToLive({ action: 'unsubscribe', channel });
      }, this.settings.unsubscribeDelayMs);
    };
  }

  on(event: 'state', listener: (state: ConnectionState, info: StateInfo) => void): () => void;
  on(event: 'error', listener: (error: ErrorMessage) => void): () => void;
  on(event: 'limited', listener: (info: LimitedInfo) => void): () => void;
  on(
    event: 'state' | 'error' | 'limited',
    listener: ((state: ConnectionState, info: StateInfo) => void) | ((error: ErrorMessage) => void) | ((info: LimitedInfo) => void),
  ): () => void {
    const listeners = (event === 'state' ? this.stateListeners : event === 'error' ? this.errorListeners : this.limitedListeners) as Set<
      typeof listener
    >;
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }

  close(): void {
    this.stop('closed');
  }

  // -------------------------------------------------------------------------------------------
  // Connections

  private open(purpose: Connection['purpose']): void {
    const connection: Connection = { purpose, opened: false, ended: false, retired: false, awaiting: new Set(), timers: new Map() };
    this.candidate = connection;
    const request: TokenRequest =
      this.refusedStatus !== undefined
        ? { reason: 'refused', status: this.refusedStatus }
        : this.sessionEnded
          ? { reason: 'expired' }
          : { reason: purpose === 'handover' ? 'handover' : this.everConnected ? 'reconnect' : 'connect' };
    void this.tokenFor(request).then(
      (token) => {
        if (connection.ended || this.stopped) return;
        if (token === null || token === undefined || token === '') {
          this.stop('unauthorized');
          return;
        }
        this.refusedStatus = undefined;
        this.sessionEnded = false;
        this.attach(connection, token);
      },
      (error: unknown) => this.lost(connection, `token provider failed: ${describe(error)}`),
    );
  }

  private async tokenFor(request: TokenRequest): Promise<string | null | undefined> {
    return this.tokenProvider ? this.tokenProvider(request) : (this.token as string);
  }

  private attach(connection: Connection, token: string): void {
    const address = new URL(this.url, baseUrl());
    address.searchParams.set('token', token);
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketClass(address.toString());
    } catch (error) {
      this.lost(connection, describe(error));
      return;
    }
    connection.socket = socket;
    const exp = jwtExpiry(token);
    if (exp !== undefined) connection.tokenExpiresAt = exp;
    this.setTimer(connection, 'connect', this.settings.connectTimeoutMs, () => this.lost(connection, 'handshake timed out'));
    socket.addEventListener('open', () => {
      if (!connection.ended) this.opened(connection);
    });
    socket.addEventListener('message', (event: { data?: unknown }) => {
      if (!connection.ended) this.received(connection, event.data);
    });
    socket.addEventListener('error', (event: { message?: unknown; error?: { message?: unknown } }) => {
      // ws puts the handshake status in the message; browsers tell nothing.
      const text = [event.message, event.error?.message].filter((m) => typeof m === 'string').join(' ');
      const status = /Unexpected server response: (\d{3})/.exec(text)?.[1];
      if (status) connection.status = Number(status);
    });
    socket.addEventListener('close', (event: { code?: number; reason?: string }) => {
      const cause = connection.status
        ? `handshake refused (${connection.status})`
        : `closed (${event.code ?? 'no code'}${event.reason ? `: ${event.reason}` : ''})`;
      this.lost(connection, cause);
    });
  }

  private opened(connection: Connection): void {
    connection.opened = true;
    if (connection.purpose === 'handover') this.limitedHandovers = 0;
    else this.limitedRefusals = 0;
    this.clearTimer(connection, 'connect');
    this.setInterval(connection, 'ping', this.settings.pingIntervalMs, () => this.ping(connection));
    for (const channel of this.channels.keys()) this.send(connection, { action: 'subscribe', channel });
    if (connection.purpose === 'connect') {
      this.promote(connection);
      return;
    }
    connection.awaiting = new Set(this.channels.keys());
    if (connection.awaiting.size === 0) this.promote(connection);
    else
      this.setTimer(connection, 'handover', this.settings.handoverTimeoutMs, () =>
        this.lost(connection, 'handover: subscriptions not answered in time'),
      );
  }

  /** The connection becomes the one in use; the one it replaces lingers, then closes. */
  private promote(connection: Connection): void {
    const previous = this.primary;
    if (this.candidate === connection) this.candidate = undefined;
    this.primary = connection;
    this.clearTimer(connection, 'handover');
    this.handoverAttempt = 0;
    this.setTimer(connection, 'age', this.handoverDelay(connection), () => this.startHandover());
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => (this.attempt = 0), this.settings.stableAfterMs);
    this.everConnected = true;
    if (previous && previous !== connection) this.retire(previous);
    this.setState('connected', {});
  }

  /**
   * Before API Gateway's 2 hours, and with a token provider before the token expires: a token
   * too close to its `exp` (a provider that returned the same one) waits for the server to end
   * the session instead, so a handover is never repeated in a loop.
   */
  private handoverDelay(connection: Connection): number {
    const age = this.settings.maxConnectionAgeMs;
    if (!this.tokenProvider || connection.tokenExpiresAt === undefined) return age;
    const beforeExpiry = connection.tokenExpiresAt - Date.now() - this.settings.tokenRefreshLeadMs;
    return beforeExpiry > 0 ? Math.min(age, beforeExpiry) : age;
  }

  private retire(connection: Connection): void {
    connection.retired = true;
    for (const name of ['ping', 'pong', 'age'] as const) this.clearTimer(connection, name);
    this.setTimer(connection, 'linger', this.settings.handoverLingerMs, () => this.end(connection, 'replaced'));
  }

  private startHandover(): void {
    if (this.stopped || this.candidate || this.handoverDisabled || !this.primary) return;
    this.open('handover');
  }

  /** A connection or an attempt ended: closed, refused, timed out, or found dead. */
  private lost(connection: Connection, cause: string): void {
    if (connection.ended) return;
    this.end(connection);
    if (this.stopped || connection.retired) return;
    if (connection === this.primary) {
      this.primary = undefined;
      clearTimeout(this.stableTimer);
      const next = this.candidate;
      if (next?.opened) {
        this.promote(next); // the replacement is subscribing already: it takes over now
        return;
      }
      if (next)
        next.purpose = 'connect'; // the replacement becomes the reconnect attempt
      else this.retryLater();
      this.setState(this.everConnected ? 'reconnecting' : 'connecting', { cause });
      return;
    }
    if (connection !== this.candidate) return;
    this.candidate = undefined;
    const refused = !connection.opened && (connection.status === 401 || connection.status === 403);
    if (refused) {
      if (!this.tokenProvider) {
        // The same token will be refused again. A handover can wait for the primary's end.
        if (connection.purpose === 'handover' && this.primary) this.handoverDisabled = true;
        else this.stop('unauthorized');
        return;
      }
      this.refusedStatus = connection.status;
    }
    // 429: the user or the tenant has as many connections as the server allows; one frees when
    // another closes. Backed off on its own count of refusals in a row, never at once.
    const tooMany = !connection.opened && connection.status === 429;
    if (connection.purpose === 'handover' && this.primary) {
      const attempt = this.handoverAttempt++;
      const delay = tooMany ? this.limited(this.limitedHandovers++, true) : backoffDelay(attempt, this.backoff(), this.settings.random);
      this.retryTimer = setTimeout(() => this.startHandover(), delay);
      return;
    }
    this.retryLater(tooMany ? this.limited(this.limitedRefusals++, false) : undefined);
    this.setState(this.everConnected ? 'reconnecting' : 'connecting', { cause });
  }

  /** The wait after the `attempt`-th refusal in a row (from 0) with 429, reported to the 'limited' listeners. */
  private limited(attempt: number, handover: boolean): number {
    const { limitedBackoffBaseMs: baseMs, backoffCapMs } = this.settings;
    const retryInMs = limitedDelay(attempt, { baseMs, capMs: Math.max(baseMs, backoffCapMs) }, this.settings.random);
    const info: LimitedInfo = { status: 429, reason: 'too-many-connections', refusals: attempt + 1, retryInMs, handover };
    for (const listener of [...this.limitedListeners]) invoke(listener, info);
    return retryInMs;
  }

  /** Retries after `delay`, or else after the next full-jitter backoff. */
  private retryLater(delay?: number): void {
    clearTimeout(this.retryTimer);
    const wait = delay ?? backoffDelay(this.attempt++, this.backoff(), this.settings.random);
    this.retryTimer = setTimeout(() => {
      if (!this.stopped && !this.primary && !this.candidate) this.open('connect');
    }, wait);
  }

  private backoff() {
    return { baseMs: this.settings.backoffBaseMs, capMs: this.settings.backoffCapMs };
  }

  private end(connection: Connection, reason = 'client closing'): void {
    connection.ended = true;
    for (const timer of connection.timers.values()) clearTimeout(timer);
    connection.timers.clear();
    const socket = connection.socket;
    if (socket && (socket.readyState === OPEN || socket.readyState === CONNECTING)) {
      try {
        socket.close(1000, reason);
      } catch {
        // already closing
      }
    }
  }

  private stop(reason: OfflineReason): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.stableTimer);
    for (const entry of this.channels.values()) clearTimeout(entry.idle);
    for (const connection of [this.primary, this.candidate]) if (connection) this.end(connection);
    this.primary = undefined;
    this.candidate = undefined;
    this.setState('offline', { reason });
  }

  // -------------------------------------------------------------------------------------------
  // Messages

  private ping(connection: Connection): void {
    this.send(connection, { action: 'ping' });
    if (!connection.timers.has('pong')) {
      this.setTimer(connection, 'pong', this.settings.pongTimeoutMs, () => this.lost(connection, 'no reply to ping'));
    }
  }

  private received(connection: Connection, data: unknown): void {
    this.clearTimer(connection, 'pong'); // any message shows the connection is alive
    const message = parseServerMessage(data);
    if (!message) return;
    switch (message.type) {
      case 'pong':
        return;
      case 'unsubscribed':
        // A subscribe that an unsubscribe sent after it overtook: answered too.
        this.answered(connection, message.channel);
        return;
      case 'error':
        for (const listener of [...this.errorListeners]) invoke(listener, message);
        if (message.code === 'UNAUTHORIZED') {
          // The session is over (its token expired, or the server forgot it); the server closes
          // the connection: a new one, with a fresh token.
          if (!connection.retired) this.sessionEnded = true;
          this.lost(connection, `server: ${message.message}`);
          return;
        }
        this.answered(connection, message.channel);
        return;
      case 'subscribed':
        this.deliver(message);
        this.answered(connection, message.channel);
        return;
      case 'stock:update':
      case 'product:updated':
      case 'order:update':
      case 'dashboard:metric':
      case 'refetch':
        this.deliver(message);
    }
  }

  /**
   * A subscribe reply on a handover connection: once all are in, it takes over. An error that
   * names no channel (RATE_LIMITED, UNAVAILABLE) answers one of them.
   */
  private answered(connection: Connection, channel: string | undefined): void {
    if (connection.purpose !== 'handover' || connection !== this.candidate || !connection.opened) return;
    const answered = channel ?? connection.awaiting.values().next().value;
    if (answered !== undefined) connection.awaiting.delete(answered as Channel);
    if (connection.awaiting.size === 0) this.promote(connection);
  }

  private deliver(message: ServerMessage): void {
    const channel = channelOf(message);
    const entry = channel === undefined ? undefined : this.channels.get(channel);
    if (!entry || !entry.versions.accept(message)) return;
    for (const subscriber of [...entry.subscribers]) invoke(subscriber.onMessage, message);
  }

  /** To the connections that carry subscriptions: the primary and an open replacement. */
  private sendToLive(message: ClientMessage): void {
    for (const connection of [this.primary, this.candidate]) {
      if (!connection?.opened || connection.ended) continue;
      const handover = connection === this.candidate && connection.purpose === 'handover';
      this.send(connection, message);
      if (handover && message.action === 'subscribe') connection.awaiting.add(message.channel);
      if (handover && message.action === 'unsubscribe') this.answered(connection, message.channel);
    }
  }

  private send(connection: Connection, message: ClientMessage): void {
    if (!connection.socket || connection.socket.readyState !== OPEN) return;
    const numbered = message.action === 'ping' ? message : { ...message, seq: ++this.seq };
    try {
      connection.socket.send(JSON.stringify(numbered));
    } catch (error) {
      this.lost(connection, `send failed: ${describe(error)}`);
    }
  }

  private setState(state: ConnectionState, info: StateInfo): void {
    if (state === this.state) return;
    this.state = state;
    for (const listener of [...this.stateListeners]) invoke(listener, state, info);
  }

  private setTimer(connection: Connection, name: Parameters<Connection['timers']['set']>[0], ms: number, fn: () => void): void {
    clearTimeout(connection.timers.get(name));
    connection.timers.set(name, setTimeout(fn, ms));
  }

  private setInterval(connection: Connection, name: 'ping', ms: number, fn: () => void): void {
    clearTimeout(connection.timers.get(name));
    connection.timers.set(name, setInterval(fn, ms));
  }

  private clearTimer(connection: Connection, name: Parameters<Connection['timers']['set']>[0]): void {
    clearTimeout(connection.timers.get(name));
    connection.timers.delete(name);
  }
}

/** Calls a listener; its exception is reported, not thrown into the socket's event handler. */
function invoke<A extends unknown[]>(listener: (...args: A) => void, ...args: A): void {
  try {
    listener(...args);
  } catch (error) {
    const report = (globalThis as { reportError?: (error: unknown) => void }).reportError;
    if (report) report(error);
    else
      setTimeout(() => {
        throw error;
      });
  }
}

/** The `exp` of a JWT (epoch ms), without verifying it (only to schedule a refresh); else undefined. */
function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined || payload.length > 8192) return undefined;
  try {
    const text = atob(
      payload
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(payload.length / 4) * 4, '='),
    );
    const exp = (JSON.parse(text) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** In a page, a URL relative to it (`/ws`) is allowed, as the WebSocket constructor allows it. */
function baseUrl(): string | undefined {
  return (globalThis as { location?: { href?: string } }).location?.href;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
