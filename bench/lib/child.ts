/**
 * Benchmark child processes: a TypeScript entry run by the same Node (through tsx), which sends
 * one `{ready: ...}` message over IPC when it serves. Stopped with SIGTERM by the run that
 * started it (and killed if that run exits first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface BenchChild<T> {
  readonly info: T;
  readonly process: ChildProcess;
  /** Messages after the ready one. */
  request<R>(message: Record<string, unknown>): Promise<R>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export function startChild<T>(
  entry: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; nodeArgs?: readonly string[]; timeoutMs?: number } = {},
): Promise<BenchChild<T>> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', path.resolve(__dirname, '..', entry), ...args], {
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    env: { ...process.env, ...options.env },
  });
  live.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8192);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => live.delete(child));
  let nextId = 1;
  const pending = new Map<number, (value: unknown) => void>();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${entry} did not become ready within ${options.timeoutMs ?? 120_000} ms:\n${stderr}`));
    }, options.timeoutMs ?? 120_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited (code ${code}, signal ${signal}) before it was ready:\n${stderr}`));
    });
    child.on('message', (message: { ready?: T; id?: number; reply?: unknown }) => {
      if (message.ready !== undefined) {
        clearTimeout(timer);
        resolve({
          info: message.ready,
          process: child,
          request: <R>(m: Record<string, unknown>) =>
            new Promise<R>((res) => {
              const id = nextId++;
              pending.set(id, res as (value: unknown) => void);
              child.send({ ...m, id });
            }),
          async stop() {
            if (child.exitCode === null && child.signalCode === null) {
              child.kill('SIGTERM');
              const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
              await exited;
              clearTimeout(killer);
            }
          },
        });
      } else if (message.id !== undefined) {
        pending.get(message.id)?.(message.reply);
        pending.delete(message.id);
      }
    });
  });
}

/** In a child: answer requests from the parent. */
export function serveRequests(handler: (message: Record<string, unknown>) => unknown): void {
  process.on('message', (message: Record<string, unknown> & { id?: number }) => {
    if (message.id === undefined) return;
    void Promise.resolve(handler(message)).then((reply) => process.send?.({ id: message.id, reply }));
  });
}

export function signalReady(info: unknown): void {
  process.send?.({ ready: info });
}
