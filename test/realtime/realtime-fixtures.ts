/**
 * The whole stack (REST, WebSocket, @connections, stream consumers) on free ports, for real-time
 * tests: the stack under test of this project's mode (test/support/stack-under-test.ts), or, for
 * the suites that drive parts of it from the test's process, the local stack from source.
 */
import WebSocket from 'ws';
import { resetConfig } from '../../functions/shared/config';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { mintDevToken } from '../../local/tokens';
import { dynamoDbEndpoint, frameText, redisSingleUrl, testTables, uniqueId } from '../support';
import { startStackUnderTest, type StackUnderTest, type StackUnderTestOptions, type TokenOptions } from '../support/stack-under-test';

export interface Received {
  readonly socket: WebSocket;
  readonly messages: Record<string, any>[];
  send(message: unknown): void;
  /** Resolves with the first matching message received at or after index `from` (default: any). */
  next(match: (m: Record<string, any>) => boolean, timeoutMs?: number, from?: number): Promise<Record<string, any>>;
  close(): Promise<void>;
}

export function tenantId(prefix = 't'): string {
  return uniqueId(prefix)
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .slice(0, 64);
}

/** The stack under test of this project's mode; token() and mint() sign for it from now on. */
export async function startStack(options: Omit<StackUnderTestOptions, 'name'> = {}): Promise<StackUnderTest> {
  const stack = await startStackUnderTest({ name: 'rt', ...options });
  current = stack;
  return stack;
}

let current: StackUnderTest | undefined;

/** The local stack from source, whatever the project (suites that run parts of it in this process). */
export async function startSourceStack(options: { managementLatencyMs?: number } = {}): Promise<LocalStack> {
  const tableNames = await testTables('rt');
  const stack = await startLocalStack({
    port: 0,
    wsPort: 0,
    dynamoDbEndpoint: dynamoDbEndpoint(),
    redis: redisSingleUrl(),
    tableNames,
    seed: false,
    pollIntervalMs: 100,
    ...options,
  });
  resetConfig();
  return stack;
}

export async function openSocket(stack: { readonly wsUrl: string }, token: string): Promise<Received> {
  const socket = new WebSocket(`${stack.wsUrl}?token=${encodeURIComponent(token)}`);
  const messages: Record<string, any>[] = [];
  const waiters: { match: (m: Record<string, any>) => boolean; resolve: (m: Record<string, any>) => void }[] = [];
  socket.on('message', (data) => {
    const message = JSON.parse(frameText(data)) as Record<string, any>;
    messages.push(message);
    for (const waiter of [...waiters]) {
      if (waiter.match(message)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) => reject(new Error(`handshake refused: ${res.statusCode}`)));
  });
  return {
    socket,
    messages,
    send: (message) => socket.send(JSON.stringify(message)),
    next(match, timeoutMs = 5000, from = 0) {
      const seen = messages.slice(from).find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(messages)}`)),
          timeoutMs,
        );
        waiters.push({
          match,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (socket.readyState === WebSocket.CLOSED) {
          resolve();
          return;
        }
        socket.once('close', () => resolve());
        socket.close();
      }),
  };
}

export async function subscribe(client: Received, channel: string, timeoutMs = 5000): Promise<Record<string, any>> {
  const from = client.messages.length;
  client.send({ action: 'subscribe', channel });
  return client.next((m) => (m.type === 'subscribed' && m.channel === channel) || m.type === 'error', timeoutMs, from);
}

/** A token the current stack accepts (HS256 with the test secret when no stack under test runs). */
export function token(tenant: string, permissions?: string[]): Promise<string> {
  return mint({ tenantId: tenant, ...(permissions ? { permissions } : {}) });
}

export function mint(options: TokenOptions): Promise<string> {
  return current ? current.mint(options) : mintDevToken(options);
}

export async function rest(
  stack: { readonly restUrl: string },
  method: string,
  path: string,
  bearer: string,
  body?: unknown,
): Promise<any> {
  const response = await fetch(`${stack.restUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${bearer}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}
