/**
 * Child processes of the local services (DynamoDB Local, redis-server): spawned unreferenced so
 * they never keep the parent alive, their output kept in a bounded buffer for error messages,
 * and killed when the parent exits (process 'exit', SIGINT, SIGTERM, SIGHUP), their temp dirs removed.
 * A parent killed with SIGKILL cannot clean up: its children then outlive it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const OUTPUT_LIMIT = 64 * 1024;

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ManagedChild {
  readonly process: ChildProcess;
  readonly pid: number | undefined;
  /** Resolves when the process has exited (or failed to spawn). Never rejects. */
  readonly exited: Promise<ExitInfo>;
  /** Set once the process has exited. */
  exitInfo(): ExitInfo | undefined;
  /** The spawn error (ENOENT, EACCES...), if spawning failed. */
  spawnError(): Error | undefined;
  /** The last 64 KiB of stdout and stderr, interleaved as received. */
  output(): string;
  /** The last 64 KiB of stderr alone. */
  stderr(): string;
  /** Send a signal (no-op once exited). */
  signal(sig: NodeJS.Signals): void;
  /** SIGCONT (in case it is stopped), the signal, then SIGKILL after graceMs; resolves on exit. */
  terminate(sig?: NodeJS.Signals, graceMs?: number): Promise<ExitInfo>;
}

const live = new Set<ManagedChild>();
let hooksInstalled = false;

const tempDirs = new Set<string>();

/** Remove this directory (recursively) when the process exits, unless released first. */
export function removeOnExit(dir: string): void {
  installExitHooks();
  tempDirs.add(dir);
}

/** The directory was cleaned up normally: forget it. */
export function releaseOnExit(dir: string): void {
  tempDirs.delete(dir);
}

function killAllSync(): void {
  for (const child of live) {
    try {
      child.process.kill('SIGCONT');
      child.process.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
  for (const dir of tempDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  tempDirs.clear();
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllSync();
      process.removeListener(sig, onSignal);
      // Nobody else handles it: re-raise so the default action (termination) happens.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

function appendBounded(buffer: string, chunk: string): string {
  const next = buffer + chunk;
  return next.length > OUTPUT_LIMIT ? next.slice(next.length - OUTPUT_LIMIT) : next;
}

export function spawnManaged(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): ManagedChild {
  installExitHooks();
  const proc = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stderr = '';
  let info: ExitInfo | undefined;
  let error: Error | undefined;

  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    output = appendBounded(output, chunk);
  });
  proc.stderr.on('data', (chunk: string) => {
    output = appendBounded(output, chunk);
    stderr = appendBounded(stderr, chunk);
  });

  const exited = new Promise<ExitInfo>((resolve) => {
    proc.once('exit', (code, signal) => {
      info = { code, signal };
      live.delete(managed);
      resolve(info);
    });
    proc.once('error', (err) => {
      error = err;
      if (proc.pid === undefined) {
        // never started: no 'exit' will follow
        info = { code: null, signal: null };
        live.delete(managed);
        resolve(info);
      }
    });
  });

  // Do not keep the parent alive for the children; the exit hooks kill them.
  proc.unref();
  (proc.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (proc.stderr as unknown as { unref?: () => void } | null)?.unref?.();

  const managed: ManagedChild = {
    process: proc,
    pid: proc.pid,
    exited,
    exitInfo: () => info,
    spawnError: () => error,
    output: () => output,
    stderr: () => stderr,
    signal(sig) {
      if (info !== undefined) return;
      try {
        proc.kill(sig);
      } catch {
        // raced with exit
      }
    },
    async terminate(sig = 'SIGTERM', graceMs = 5000) {
      if (info !== undefined) return info;
      // Keep the event loop alive while we wait for the exit.
      proc.ref();
      managed.signal('SIGCONT');
      managed.signal(sig);
      const timer = setTimeout(() => managed.signal('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  if (proc.pid !== undefined) live.add(managed);
  return managed;
}

/** The absolute path of an executable found on PATH, or undefined. */
export function findExecutable(name: string): string | undefined {
  if (name.includes(path.sep)) return isExecutable(name) ? name : undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The last lines of a process's output, indented, for error messages. */
export function tail(text: string, lines = 30): string {
  const kept = text.trimEnd().split('\n').slice(-lines);
  return kept.length === 0 || (kept.length === 1 && kept[0] === '') ? '    (no output)' : kept.map((l) => `    ${l}`).join('\n');
}
