/** Small promise helpers around the `ws` client for the local-stack tests. */
import WebSocket from 'ws';
import { frameText } from '../support/ws';

export class RefusedError extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with ${status}`);
  }
}

/** A client that keeps every message it receives, so none is missed between awaits. */
export interface TestClient {
  readonly ws: WebSocket;
  /** The next message not yet taken (waits for it). */
  next(timeoutMs?: number): Promise<string>;
  /** The next message, parsed. */
  nextJson<T = Record<string, unknown>>(timeoutMs?: number): Promise<T>;
  /** Resolves with the close code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
  send(value: unknown): void;
}

/** Opens a connection; rejects with RefusedError(status) when the upgrade is refused. */
export function connect(url: string): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const queue: string[] = [];
    const waiters: ((message: string) => void)[] = [];
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? Buffer.from(data as Buffer).toString('base64') : frameText(data);
      const waiter = waiters.shift();
      if (waiter) waiter(text);
      else queue.push(text);
    });
    const closed = new Promise<{ code: number; reason: string }>((done) =>
      ws.on('close', (code, reason) => done({ code, reason: reason.toString() })),
    );
    ws.on('unexpected-response', (_req, res) => {
      reject(new RefusedError(res.statusCode ?? 0));
      res.resume();
      ws.terminate();
    });
    ws.on('error', (error) => reject(error));
    ws.on('open', () => {
      const next = (timeoutMs = 2000) =>
        new Promise<string>((ok, fail) => {
          const queued = queue.shift();
          if (queued !== undefined) {
            ok(queued);
            return;
          }
          const timer = setTimeout(() => fail(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
          waiters.push((message) => {
            clearTimeout(timer);
            ok(message);
          });
        });
      resolve({
        ws,
        next,
        nextJson: async <T>(timeoutMs?: number) => JSON.parse(await next(timeoutMs)) as T,
        closed,
        send: (value) => ws.send(typeof value === 'string' ? value : JSON.stringify(value)),
      });
    });
  });
}

/** The status of a refused upgrade (fails the test if the connection opened). */
export async function refusal(url: string): Promise<number> {
  try {
    const client = await connect(url);
    client.ws.close();
  } catch (error) {
    if (error instanceof RefusedError) return error.status;
    throw error;
  }
  throw new Error(`expected ${url} to be refused, but it connected`);
}
