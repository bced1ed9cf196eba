/**
 * Throwaway redis-server processes (single node or cluster) for tests and the local stack.
 * Nothing is persisted: `--save "" --appendonly no`, each server in its own temp dir.
 * Needs redis-server and redis-cli 7+ on PATH (cluster nodes use --cluster-port).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep } from '../../functions/shared/retry';
import { findExecutable, releaseOnExit, removeOnExit, spawnManaged, tail, type ManagedChild } from './child';
import { freePort, freePorts } from './free-port';
import { parseInfo, respCommand, RespError } from './resp';

const HOST = '127.0.0.1';
const INSTALL_HINT = 'Install it with: apt-get install -y redis-server (Debian/Ubuntu; the package ships redis-server and redis-cli)';
const DEFAULT_START_TIMEOUT_MS = 15_000;
const CLUSTER_SLOTS = 16384;

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  /** SIGTERM (after SIGCONT, in case it is paused), SIGKILL after a grace period; removes its temp dir. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would; restart() brings it back on the same port. */
  kill(): Promise<void>;
  /** SIGSTOP: the server keeps its sockets but answers nothing (a hung node). */
  pause(): void;
  /** SIGCONT */
  resume(): void;
  /** Start again on the same port with the same arguments (stops it first if it is running). Data is not kept. */
  restart(): Promise<void>;
  /** True while the process runs (paused counts as running). */
  isRunning(): boolean;
  /** The last 64 KiB of the current process's log output. */
  output(): string;
}

export interface RedisServerOptions {
  /** Default: a free port. */
  port?: number;
  /** Require this password (requirepass, and masterauth for a replica); readiness checks AUTH with it. */
  password?: string;
  /** Extra redis-server arguments, appended after the defaults (so they override them). */
  args?: string[];
  startTimeoutMs?: number;
}

export interface RedisCluster {
  readonly nodes: RedisServer[];
  readonly startupNodes: { host: string; port: number }[];
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  /** Default 3 (the minimum redis-cli --cluster create accepts). */
  masters?: number;
  /** Default 0. */
  replicasPerMaster?: number;
  startTimeoutMs?: number;
}

function requireBinary(name: 'redis-server' | 'redis-cli'): string {
  const bin = findExecutable(name);
  if (bin === undefined) throw new Error(`${name} not found on PATH: the local Redis services need it. ${INSTALL_HINT}`);
  return bin;
}

function baseArgs(port: number, dir: string): string[] {
  return [
    '--save',
    '',
    '--appendonly',
    'no',
    '--bind',
    HOST,
    '--port',
    String(port),
    // The cache keeps generation counters without a TTL: only keys with a TTL may be evicted.
    '--maxmemory-policy',
    'volatile-lru',
    '--dir',
    dir,
    '--daemonize',
    'no',
  ];
}

class AddressInUseError extends Error {}

/** Spawn redis-server and wait until it answers PING. Rejects (with its output) if it exits first. */
async function launch(bin: string, port: number, args: string[], timeoutMs: number, password?: string): Promise<ManagedChild> {
  const child = spawnManaged(bin, args);
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (true) {
    const spawnError = child.spawnError();
    if (spawnError) throw new Error(`could not start ${bin}: ${spawnError.message}. ${INSTALL_HINT}`);
    const exit = child.exitInfo();
    if (exit !== undefined) {
      const output = child.output();
      const message = `redis-server on port ${port} exited during startup (code ${exit.code}, signal ${exit.signal}):\n${tail(output)}`;
      if (/address already in use/i.test(output)) throw new AddressInUseError(message);
      throw new Error(message);
    }
    try {
      const reply = await respCommand(HOST, port, ['PING'], 500, password);
      if (reply === 'PONG') {
        // Make sure it is our process answering, not another server that took the port first.
        const info = await respCommand(HOST, port, ['INFO', 'server'], 500, password);
        const pid = typeof info === 'string' ? parseInfo(info).process_id : undefined;
        if (pid === String(child.pid)) return child;
        lastError = `port ${port} is answered by another redis-server (pid ${pid})`;
        await sleep(100); // ours will fail to bind and exit: the next turn reports it
      } else {
        lastError = reply instanceof RespError ? reply.message : String(reply);
      }
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) {
      await child.terminate('SIGKILL');
      throw new Error(
        `redis-server on port ${port} did not answer PING within ${timeoutMs} ms (last: ${lastError}):\n${tail(child.output())}`,
      );
    }
    await sleep(20);
  }
}

interface InternalOptions {
  port?: number;
  password?: string;
  /** Arguments that depend on the port and the temp dir (cluster nodes). */
  extraArgs?: (port: number, dir: string) => Promise<string[]> | string[];
  args?: string[];
  /** Try another port when the chosen one is taken (default: only when no port was given). */
  retryOnConflict?: boolean;
  startTimeoutMs?: number;
}

async function startServer(opts: InternalOptions): Promise<RedisServer> {
  const bin = requireBinary('redis-server');
  const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const retry = opts.retryOnConflict ?? opts.port === undefined;
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'shop-edge-redis-'));
  removeOnExit(dir);
  const removeDir = async (): Promise<void> => {
    await fs.promises.rm(dir, { recursive: true, force: true });
    releaseOnExit(dir);
  };
  let port = opts.port ?? (await freePort());
  let child: ManagedChild | undefined;
  let args: string[] = [];
  for (let attempt = 1; child === undefined; attempt++) {
    const auth = opts.password === undefined ? [] : ['--requirepass', opts.password, '--masterauth', opts.password];
    args = [...baseArgs(port, dir), ...auth, ...(opts.extraArgs ? await opts.extraArgs(port, dir) : []), ...(opts.args ?? [])];
    try {
      child = await launch(bin, port, args, timeoutMs, opts.password);
    } catch (err) {
      if (err instanceof AddressInUseError && retry && attempt < 5) {
        port = await freePort();
        continue;
      }
      await removeDir();
      throw err;
    }
  }

  let current: ManagedChild = child;
  const finalPort = port;
  const finalArgs = args;
  return {
    host: HOST,
    port: finalPort,
    url: `redis://${HOST}:${finalPort}`,
    async stop() {
      await current.terminate('SIGTERM', 3000);
      await removeDir();
    },
    async kill() {
      await current.terminate('SIGKILL');
    },
    pause() {
      current.signal('SIGSTOP');
    },
    resume() {
      current.signal('SIGCONT');
    },
    async restart() {
      await current.terminate('SIGTERM', 3000);
      await fs.promises.mkdir(dir, { recursive: true });
      removeOnExit(dir);
      current = await launch(bin, finalPort, finalArgs, timeoutMs, opts.password);
    },
    isRunning: () => current.exitInfo() === undefined,
    output: () => current.output(),
  };
}

export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  return startServer({ port: opts.port, password: opts.password, args: opts.args, startTimeoutMs: opts.startTimeoutMs });
}

function runRedisCli(args: string[], timeoutMs: number): Promise<string> {
  const bin = requireBinary('redis-cli');
  // The nodes have no password: a REDISCLI_AUTH from the caller's environment would make it AUTH.
  const env = { ...process.env };
  delete env.REDISCLI_AUTH;
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: timeoutMs, env }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(' ')} failed: ${err.message}\n${tail(`${stdout}\n${stderr}`)}`));
      else resolve(stdout);
    });
  });
}

/** Wait until every node reports cluster_state:ok with all slots served and knows every node. */
async function waitForCluster(nodes: RedisServer[], masters: number, replicas: boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = '';
  while (true) {
    const problems: string[] = [];
    await Promise.all(
      nodes.map(async (node) => {
        try {
          const reply = await respCommand(HOST, node.port, ['CLUSTER', 'INFO'], 500);
          if (typeof reply !== 'string') throw new Error(`CLUSTER INFO replied ${String(reply)}`);
          const info = parseInfo(reply);
          if (info.cluster_state !== 'ok') problems.push(`${node.port}: cluster_state:${info.cluster_state}`);
          else if (info.cluster_slots_ok !== String(CLUSTER_SLOTS))
            problems.push(`${node.port}: cluster_slots_ok:${info.cluster_slots_ok}`);
          else if (info.cluster_known_nodes !== String(nodes.length))
            problems.push(`${node.port}: cluster_known_nodes:${info.cluster_known_nodes}`);
          else if (info.cluster_size !== String(masters)) problems.push(`${node.port}: cluster_size:${info.cluster_size}`);
          if (replicas) {
            const repl = await respCommand(HOST, node.port, ['INFO', 'replication'], 500);
            const r = parseInfo(typeof repl === 'string' ? repl : '');
            if (r.role === 'slave' && r.master_link_status !== 'up') problems.push(`${node.port}: replica link ${r.master_link_status}`);
          }
        } catch (err) {
          problems.push(`${node.port}: ${(err as Error).message}`);
        }
      }),
    );
    if (problems.length === 0) return;
    lastProblem = problems.join('; ');
    if (Date.now() > deadline) throw new Error(`redis cluster not ready within ${timeoutMs} ms: ${lastProblem}`);
    await sleep(50);
  }
}

export async function startRedisCluster(opts: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = opts.masters ?? 3;
  const replicasPerMaster = opts.replicasPerMaster ?? 0;
  if (!Number.isInteger(masters) || masters < 3) throw new Error(`a redis cluster needs at least 3 masters (got ${masters})`);
  if (!Number.isInteger(replicasPerMaster) || replicasPerMaster < 0)
    throw new Error(`replicasPerMaster must be a non-negative integer (got ${replicasPerMaster})`);
  requireBinary('redis-server');
  requireBinary('redis-cli');
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  const total = masters * (1 + replicasPerMaster);
  // Client port and cluster bus port for every node, all distinct.
  const ports = await freePorts(total * 2);

  const started = await Promise.allSettled(
    Array.from({ length: total }, (_, i) =>
      startServer({
        port: ports[i * 2],
        retryOnConflict: true,
        startTimeoutMs: opts.startTimeoutMs,
        extraArgs: async (port, dir) => {
          // The bus port chosen with the client port; a fresh one if the client port was retried.
          const busPort = port === ports[i * 2] ? (ports[i * 2 + 1] as number) : await freePort();
          return [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            path.join(dir, `nodes-${port}.conf`),
            '--cluster-node-timeout',
            '2000',
            '--cluster-port',
            String(busPort),
          ];
        },
      }),
    ),
  );
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stopAll = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stopAll();
    throw failed.reason;
  }

  try {
    await runRedisCli(
      ['--cluster', 'create', ...nodes.map((n) => `${n.host}:${n.port}`), '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'],
      timeoutMs,
    );
    await waitForCluster(nodes, masters, replicasPerMaster > 0, timeoutMs);
  } catch (err) {
    await stopAll();
    throw err;
  }

  return {
    nodes,
    startupNodes: nodes.map((n) => ({ host: n.host, port: n.port })),
    stop: stopAll,
  };
}
