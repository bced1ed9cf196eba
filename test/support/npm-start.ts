/**
 * `npm start` as a developer runs it, for the tests that exercise the command itself: spawned in
 * its own process group (a terminal's foreground job) with a developer's environment, waited for
 * until its one `ready` line, the URLs read from that line, and stopped with Ctrl-C (SIGINT to the
 * group) or, when a test failed half-way, killed with the group.
 */
import { spawn } from 'node:child_process';
import { REPO_ROOT } from '../../local/handlers';

/** What the test harness sets for the tests, and a developer's shell does not. */
const HARNESS_VARIABLES = new Set([
  'DYNAMODB_ENDPOINT',
  'AWS_ENDPOINT_URL_DYNAMODB',
  'AWS_ENDPOINT_URL_DYNAMODB_STREAMS',
  'REDIS_URL',
  'SHOP_TABLE_NAME',
  'CONNECTIONS_TABLE_NAME',
  'WS_MANAGEMENT_ENDPOINT',
  'JWT_SECRET',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'CURSOR_KEY',
  'PORT',
  'WS_PORT',
]);

/** The environment of a developer's shell (none of the variables the harness set), plus `extra`. */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !HARNESS_VARIABLES.has(name))), ...extra };
}

/** Whether any process of the group is still running. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

const READY_LINE = /^shop-edge local stack ready(?: \(as deployed\))?: REST (\S+), WebSocket (\S+)$/m;

export interface NpmStartOptions {
  /** After `npm start`, e.g. ['--', '--no-seed']. */
  readonly args?: readonly string[];
  /** Added to the developer's environment. */
  readonly env?: Record<string, string>;
  /** How long to wait for the `ready` line. Generous: a loaded CI machine can take 30 s and more. */
  readonly readyTimeoutMs: number;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface NpmStart {
  readonly pgid: number;
  /** From the ready line. */
  readonly restUrl: string;
  readonly wsUrl: string;
  /** The printed dev tokens by tenant (`export ACME_TOKEN=...` is `tokens.acme`). */
  readonly tokens: Readonly<Record<string, string>>;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** stdout and stderr interleaved as they came. */
  output(): string;
  /** npm's own exit. */
  readonly exited: Promise<Exit>;
  /**
   * Ctrl-C: SIGINT to the group; resolves with npm's exit once every process sharing the output
   * has closed it (so the stack's last lines are in; bounded by `withinMs`), and whether the group
   * is gone by then.
   */
  interrupt(withinMs?: number): Promise<Exit & { readonly gone: boolean }>;
  /** SIGKILL to the group if anything of it still runs (afterEach, when a test failed half-way). */
  kill(): void;
}

/** Spawns `npm start` and resolves once it printed its ready line; rejects (and kills it) when it exits or times out first. */
export async function startNpmStart(options: NpmStartOptions): Promise<NpmStart> {
  const child = spawn('npm', ['start', ...(options.args ?? [])], {
    cwd: REPO_ROOT,
    env: userEnv(options.env),
    detached: true, // its own process group, like a terminal's foreground job
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pgid = child.pid as number;
  let stdout = '';
  let stderr = '';
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    output += chunk.toString();
  });
  const exited = new Promise<Exit>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const closed = new Promise<void>((resolve) => child.stdout.on('close', () => resolve()));
  const kill = () => {
    if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
  };

  const deadline = Date.now() + options.readyTimeoutMs;
  let ready: RegExpExecArray | null;
  while ((ready = READY_LINE.exec(stdout)) === null) {
    if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null) {
      kill();
      const why = Date.now() > deadline ? `within ${options.readyTimeoutMs} ms` : `(it exited: ${child.exitCode ?? child.signalCode})`;
      throw new Error(`npm start ${(options.args ?? []).join(' ')} did not get ready ${why}:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const tokens = Object.fromEntries(
    [...stdout.matchAll(/^ {2}export ([A-Z0-9_]+)_TOKEN=(\S+)$/gm)].map(([, tenant, token]) => [
      (tenant as string).toLowerCase(),
      token as string,
    ]),
  );

  return {
    pgid,
    restUrl: ready[1] as string,
    wsUrl: ready[2] as string,
    tokens,
    stdout: () => stdout,
    stderr: () => stderr,
    output: () => output,
    exited,
    async interrupt(withinMs = 30_000) {
      const until = Date.now() + withinMs;
      process.kill(-pgid, 'SIGINT');
      const exit = await exited;
      // npm can end before the stack's own process has printed its last line and stopped its children.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, until - Date.now()))))]);
      clearTimeout(timer);
      while (groupAlive(pgid) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
      return { ...exit, gone: !groupAlive(pgid) };
    },
    kill,
  };
}
