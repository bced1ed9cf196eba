/**
 * A black-box check of a running deployment (or of `npm start`), run after a deploy:
 *   npm run smoke -- --rest URL --ws URL --token JWT [--timeout MS]
 * Four checks, one line each (name, ok or FAIL, milliseconds), exit 1 when any fails:
 *   health     GET /health answers 200 with status ok
 *   read       GET /api/products?limit=5, then GET /api/products/{id} of a listed product
 *   write      creates a product of its own (smoke-<random>), subscribes to its WebSocket channel,
 *              adjusts its stock and waits at most 2 s for the stock:update, then deletes it
 *   bad-token  a token with a forged signature: REST 401 with the JSON error body, and the
 *              WebSocket upgrade refused with 401
 * The token needs products:read, products:write and stock:write (the printed dev tokens of
 * `npm start` have every permission). Uses only Node's fetch and the `ws` package, so it runs
 * wherever the repository is installed; every network call has a timeout (--timeout, default
 * 10 s), except the update's wait, which is bounded by the product's promise of 2 s.
 * Bad usage prints the usage and exits 2.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import WebSocket, { type RawData } from 'ws';

const USAGE = `usage: npm run smoke -- --rest URL --ws URL --token JWT [--timeout MS]
  --rest URL      the REST API's base URL (http:// or https://), e.g. http://127.0.0.1:3000
                  or the Cdn stack's https://<DistributionDomainName>
  --ws URL        the WebSocket URL (ws:// or wss://), e.g. ws://127.0.0.1:3001 or the Realtime
                  stack's WebSocketUrl
  --token JWT     a token with products:read, products:write and stock:write
  --timeout MS    bound of every network call (default 10000)`;

/** The product's promise: a committed change reaches a subscriber within 2 seconds. */
const UPDATE_BOUND_MS = 2000;
const DEFAULT_TIMEOUT_MS = 10_000;

interface Options {
  readonly rest: string;
  readonly ws: string;
  readonly token: string;
  readonly timeoutMs: number;
}

class UsageError extends Error {}

/** A check's outcome: a failure is thrown as a CheckFailure, with what was expected and what came back. */
class CheckFailure extends Error {}

function parseOptions(argv: readonly string[]): Options | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        rest: { type: 'string' },
        ws: { type: 'string' },
        token: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return 'help';
  const missing = (['rest', 'ws', 'token'] as const).filter((name) => !values[name]);
  if (missing.length > 0) throw new UsageError(`missing ${missing.map((name) => `--${name}`).join(', ')}`);
  const rest = baseUrl(values.rest as string, ['http:', 'https:'], '--rest');
  const ws = baseUrl(values.ws as string, ['ws:', 'wss:'], '--ws');
  const timeoutMs = values.timeout === undefined ? DEFAULT_TIMEOUT_MS : Number(values.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    throw new UsageError(`--timeout must be a positive number of milliseconds (got ${values.timeout})`);
  return { rest, ws, token: values.token as string, timeoutMs };
}

/** The URL without a trailing slash, so paths append to it (an execute-api URL has its stage as a path). */
function baseUrl(value: string, protocols: readonly string[], flag: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag} is not a URL (got ${value})`);
  }
  if (!protocols.includes(url.protocol))
    throw new UsageError(`${flag} must be a ${protocols.map((p) => p.slice(0, -1)).join(' or ')} URL (got ${value})`);
  if (url.search !== '' || url.hash !== '') throw new UsageError(`${flag} takes no query or fragment (got ${value})`);
  return url.href.replace(/\/+$/, '');
}

// ---------------------------------------------------------------------------------------------
// HTTP

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly json: unknown;
}

async function request(options: Options, method: string, path: string, init: { token?: string; body?: unknown } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (init.token !== undefined) headers.Authorization = `Bearer ${init.token}`;
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${options.rest}${path}`, {
      method,
      headers,
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    text = await response.text();
  } catch (error) {
    throw new CheckFailure(`${method} ${path}: expected an answer, got ${networkError(error, options.timeoutMs)}`);
  }
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json };
}

function networkError(error: unknown, timeoutMs?: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `none within ${timeoutMs ?? '?'} ms`;
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : undefined;
  return `${error instanceof Error ? error.message : String(error)}${detail === undefined ? '' : ` (${detail})`}`;
}

/** The answer, short enough for one line. */
function shown(answer: Answer): string {
  const body = answer.text.length > 300 ? `${answer.text.slice(0, 300)}...` : answer.text;
  return `${answer.status} ${body === '' ? '(no body)' : body}`;
}

function expectStatus(answer: Answer, status: number, what: string): void {
  if (answer.status !== status) throw new CheckFailure(`${what}: expected ${status}, got ${shown(answer)}`);
}

function field(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

// ---------------------------------------------------------------------------------------------
// WebSocket

/** An open connection that keeps every message, so none is missed between awaits. */
interface Socket {
  send(value: unknown): void;
  /** The first message (received before or after the call) that `match` accepts, within `timeoutMs`. */
  waitFor(match: (message: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<Record<string, unknown>>;
  close(): void;
}

/** A frame's text: with ws's default binaryType ('nodebuffer') every frame, fragmented or not, is one Buffer. */
function frameText(data: RawData): string {
  return (data as Buffer).toString('utf8');
}

function wsUrl(options: Options, token: string): string {
  const url = new URL(options.ws);
  url.searchParams.set('token', token);
  return url.href;
}

/** Opens a connection: resolves once open; rejects with the refused upgrade's status, an error, or a timeout. */
function openSocket(options: Options, token: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(options, token), { handshakeTimeout: options.timeoutMs });
    const received: Record<string, unknown>[] = [];
    const waiters = new Set<() => void>();
    ws.on('message', (data) => {
      try {
        received.push(JSON.parse(frameText(data)) as Record<string, unknown>);
      } catch {
        received.push({ unparsable: frameText(data) });
      }
      for (const waiter of waiters) waiter();
    });
    ws.on('close', () => {
      for (const waiter of waiters) waiter();
    });
    ws.on('unexpected-response', (_request, response) => {
      response.resume();
      ws.terminate();
      reject(new RefusedUpgrade(response.statusCode ?? 0));
    });
    // A handshake past handshakeTimeout is an error too ("Opening handshake has timed out").
    ws.on('error', (error) => reject(new SocketError(networkError(error))));
    ws.on('open', () => {
      resolve({
        send: (value) => ws.send(JSON.stringify(value)),
        close: () => ws.close(),
        waitFor: (match, timeoutMs, what) =>
          new Promise((found, fail) => {
            const check = () => {
              const message = received.find(match);
              if (message !== undefined) {
                done();
                found(message);
              } else if (ws.readyState === WebSocket.CLOSED) {
                done();
                fail(new CheckFailure(`expected ${what}, got the connection closed (received: ${describeMessages(received)})`));
              }
            };
            const timer = setTimeout(() => {
              done();
              fail(new CheckFailure(`expected ${what} within ${timeoutMs} ms, got none (received: ${describeMessages(received)})`));
            }, timeoutMs);
            const done = () => {
              clearTimeout(timer);
              waiters.delete(check);
            };
            waiters.add(check);
            check();
          }),
      });
    });
  });
}

/** The upgrade was answered with another status than 101. */
class RefusedUpgrade extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with ${status}`);
  }
}

/** No answer to the upgrade: refused connection, reset, TLS failure, handshake timeout. */
class SocketError extends Error {}

/** How an upgrade that did not open ended, for a failure message. */
function upgradeOutcome(error: unknown): string {
  if (error instanceof RefusedUpgrade) return `it refused with ${error.status}`;
  if (error instanceof SocketError) return error.message;
  throw error;
}

function describeMessages(messages: readonly Record<string, unknown>[]): string {
  if (messages.length === 0) return 'nothing';
  const text = messages.map((message) => JSON.stringify(message)).join(' ');
  return text.length > 400 ? `${text.slice(0, 400)}...` : text;
}

// ---------------------------------------------------------------------------------------------
// The checks

interface Check {
  readonly name: string;
  /** Resolves with an optional detail for the ok line; throws CheckFailure. */
  readonly run: (options: Options) => Promise<string | undefined>;
}

const health: Check = {
  name: 'health',
  async run(options) {
    const answer = await request(options, 'GET', '/health');
    expectStatus(answer, 200, 'GET /health');
    if (field(answer.json, 'data', 'status') !== 'ok')
      throw new CheckFailure(`GET /health: expected {"data":{"status":"ok",...}}, got ${shown(answer)}`);
    return `redis ${String(field(answer.json, 'data', 'redis'))}, dynamodb ${String(field(answer.json, 'data', 'dynamodb'))}`;
  },
};

const read: Check = {
  name: 'read',
  async run(options) {
    const list = await request(options, 'GET', '/api/products?limit=5', { token: options.token });
    expectStatus(list, 200, 'GET /api/products');
    const items = field(list.json, 'data');
    if (!Array.isArray(items)) throw new CheckFailure(`GET /api/products: expected {"data":[...]}, got ${shown(list)}`);
    // A product of an earlier smoke run can still be in a CDN copy of the list after its deletion.
    const ids = items.map((item) => field(item, 'id')).filter((id): id is string => typeof id === 'string');
    const id = ids.find((candidate) => !candidate.startsWith('smoke-')) ?? ids[0];
    if (id === undefined) {
      // A tenant without products (a new deployment): the one-product read must still reach the
      // table and answer the contract's 404.
      const missing = `smoke-absent-${randomBytes(6).toString('hex')}`;
      const answer = await request(options, 'GET', `/api/products/${missing}`, { token: options.token });
      expectStatus(answer, 404, `GET /api/products/${missing} (the list was empty)`);
      return 'list empty; a missing product answered 404';
    }
    const one = await request(options, 'GET', `/api/products/${id}`, { token: options.token });
    expectStatus(one, 200, `GET /api/products/${id}`);
    if (field(one.json, 'data', 'id') !== id)
      throw new CheckFailure(`GET /api/products/${id}: expected the product ${id}, got ${shown(one)}`);
    return `${items.length} listed, read ${id}`;
  },
};

const write: Check = {
  name: 'write',
  async run(options) {
    const id = `smoke-${new Date().toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(6).toString('hex')}`;
    const created = await request(options, 'POST', '/api/products', {
      token: options.token,
      body: { id, name: 'Smoke check product (deleted by the check)', price: 100, category: 'smoke', listed: false },
    });
    expectStatus(created, 201, 'POST /api/products (the token needs products:write)');
    let socket: Socket | undefined;
    let detail: string;
    try {
      socket = await openSocket(options, options.token).catch((error: unknown) => {
        throw new CheckFailure(`WebSocket ${options.ws}: expected the upgrade to open, got ${upgradeOutcome(error)}`);
      });
      const channel = `product:${id}`;
      socket.send({ action: 'subscribe', channel });
      const reply = await socket.waitFor(
        (message) => message.channel === channel && (message.type === 'subscribed' || message.type === 'error'),
        options.timeoutMs,
        `the reply to subscribe ${channel}`,
      );
      if (reply.type !== 'subscribed') throw new CheckFailure(`subscribe ${channel}: expected subscribed, got ${JSON.stringify(reply)}`);
      const before = field(reply, 'snapshot', 'stock');
      const beforeVersion = field(reply, 'snapshot', 'version');
      if (typeof before !== 'number' || typeof beforeVersion !== 'number') {
        throw new CheckFailure(`subscribe ${channel}: expected a snapshot with stock and version, got ${JSON.stringify(reply)}`);
      }

      // Wait for the adjustment's own update (the creation's, version 1 and stock 0, can still be
      // on its way) from the moment the write is sent: it can arrive before the write's answer.
      const sent = Date.now();
      const update = socket.waitFor(
        (message) =>
          message.type === 'stock:update' &&
          message.productId === id &&
          message.stock === before + 1 &&
          typeof message.version === 'number' &&
          message.version > beforeVersion,
        UPDATE_BOUND_MS,
        `stock:update of ${id} with stock ${before + 1}`,
      );
      update.catch(() => undefined); // awaited below; a rejection before that is not unhandled
      const adjusted = await request(options, 'POST', `/api/products/${id}/stock-adjustments`, {
        token: options.token,
        body: { delta: 1, reason: 'smoke check' },
      });
      const answeredIn = Date.now() - sent;
      expectStatus(adjusted, 200, `POST /api/products/${id}/stock-adjustments (the token needs stock:write)`);
      await update;
      const arrivedIn = Date.now() - sent;
      detail = `stock:update ${arrivedIn} ms after the write was sent (bound ${UPDATE_BOUND_MS} ms; the write answered in ${answeredIn} ms)`;
    } catch (error) {
      // The check's own failure is the news: clean up as far as possible, and report that failure.
      socket?.close();
      await request(options, 'DELETE', `/api/products/${id}`, { token: options.token }).catch(() => undefined);
      throw error;
    }
    socket.close();
    const deleted = await request(options, 'DELETE', `/api/products/${id}`, { token: options.token });
    expectStatus(deleted, 204, `DELETE /api/products/${id} (clean-up)`);
    return detail;
  },
};

const badToken: Check = {
  name: 'bad-token',
  async run(options) {
    const forged = forgedToken(options.token);
    const answer = await request(options, 'GET', '/api/products?limit=1', { token: forged });
    const code = field(answer.json, 'error', 'code');
    if (answer.status !== 401 || code !== 'UNAUTHORIZED' || typeof field(answer.json, 'error', 'message') !== 'string') {
      throw new CheckFailure(
        `GET /api/products with a forged token: expected 401 {"error":{"code":"UNAUTHORIZED","message":...}}, got ${shown(answer)}`,
      );
    }
    try {
      const socket = await openSocket(options, forged);
      socket.close();
    } catch (error) {
      if (error instanceof RefusedUpgrade && error.status === 401) return 'REST 401 UNAUTHORIZED, WebSocket upgrade refused with 401';
      throw new CheckFailure(`WebSocket upgrade with a forged token: expected it refused with 401, got ${upgradeOutcome(error)}`);
    }
    throw new CheckFailure('WebSocket upgrade with a forged token: expected it refused with 401, got the connection open');
  },
};

/**
 * The given token with another signature: well-formed, the same claims, so only the signature
 * check can refuse it (a random signature also keeps an authorizer's cached verdict out of play).
 */
function forgedToken(token: string): string {
  const [header, payload, signature] = token.split('.');
  if (header === undefined || payload === undefined) return `${token}.forged`;
  const length = Math.max(16, Math.floor(((signature ?? '').length * 3) / 4));
  return `${header}.${payload}.${randomBytes(length).toString('base64url')}`;
}

const CHECKS: readonly Check[] = [health, read, write, badToken];

async function main(): Promise<number> {
  let options: Options | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`smoke: ${error.message}\n${USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const width = Math.max(...CHECKS.map((check) => check.name.length));
  let failures = 0;
  for (const check of CHECKS) {
    const started = Date.now();
    let line: string;
    try {
      const detail = await check.run(options);
      line = `${check.name.padEnd(width)}  ok    ${String(Date.now() - started).padStart(5)} ms${detail === undefined ? '' : `  ${detail}`}`;
    } catch (error) {
      failures++;
      const message = error instanceof CheckFailure ? error.message : `unexpected error: ${networkError(error)}`;
      line = `${check.name.padEnd(width)}  FAIL  ${String(Date.now() - started).padStart(5)} ms  ${message}`;
    }
    process.stdout.write(`${line}\n`);
  }
  process.stdout.write(
    failures === 0 ? `smoke: all ${CHECKS.length} checks passed\n` : `smoke: ${failures} of ${CHECKS.length} checks failed\n`,
  );
  return failures === 0 ? 0 : 1;
}

// Exit at once: nothing is left to wait for (a refused connection's socket, a keep-alive one).
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`smoke: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
