/** The machine a run happened on: printed above the tables and stored with every result. */
import { spawnSync } from 'node:child_process';
import os from 'node:os';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly redis: string;
  readonly java: string;
  /** 1-minute load average when the run started (others' work on the same machine). */
  readonly loadAtStart: number;
}

/** stdout and stderr of a command (`java -version` writes to stderr), or 'unknown'. */
function tryRun(cmd: string, args: string[]): string {
  // Both are null, not '', when the command could not be run at all (ENOENT); the type says string.
  const out = spawnSync(cmd, args, { encoding: 'utf8' }) as { stdout: string | null; stderr: string | null };
  return `${out.stdout ?? ''}${out.stderr ?? ''}`.trim() || 'unknown';
}

export function describeMachine(): Machine {
  const cpus = os.cpus();
  const redis = /v=(\S+)/.exec(tryRun('redis-server', ['--version']))?.[1] ?? 'unknown';
  const javaOut = tryRun('java', ['-version']);
  const java = /version "([^"]+)"/.exec(javaOut)?.[1] ?? javaOut.split('\n')[0] ?? 'unknown';
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} (${os.arch()})`,
    node: process.version,
    redis,
    java,
    loadAtStart: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
  };
}

export function machineLine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM; ${m.os}; Node ${m.node}; redis-server ${m.redis}; Java ${m.java} (DynamoDB Local); load average ${m.loadAtStart} at start`;
}
