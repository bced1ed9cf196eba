/**
 * Measures what the function pool adds: the cold start (spawning a container, its init, the first
 * answer) and the round trip of a warm invocation, for an empty handler or for a given bundle.
 *
 *   npx tsx local/runtime/measure.ts [--code DIR [--handler index.handler] [--event JSON]] [--node-options '--enable-source-maps'] [--freeze] [--cold 10] [--warm 1000]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createFunctionPool, type FunctionPool, type InvokeResult } from './function-pool';

const { values } = parseArgs({
  options: {
    code: { type: 'string' },
    handler: { type: 'string', default: 'index.handler' },
    event: { type: 'string', default: '{}' },
    // What the functions' template sets; '' measures without.
    'node-options': { type: 'string', default: '--enable-source-maps' },
    freeze: { type: 'boolean', default: false },
    cold: { type: 'string', default: '10' },
    warm: { type: 'string', default: '1000' },
  },
});

function summary(samples: number[], unit = 'ms'): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const mean = sorted.reduce((sum, x) => sum + x, 0) / sorted.length;
  return `mean ${mean.toFixed(2)} ${unit}, p50 ${at(0.5).toFixed(2)}, p90 ${at(0.9).toFixed(2)}, p99 ${at(0.99).toFixed(2)}, max ${at(1).toFixed(2)} (n=${String(sorted.length)})`;
}

/** A handler error still ran the handler (a real bundle given an empty event may well refuse it); anything else is a failed measurement. */
function check(result: InvokeResult): InvokeResult {
  if (!result.ok && result.kind !== 'error')
    throw new Error(`invocation failed: ${result.kind} ${result.errorType}: ${result.errorMessage}`);
  return result;
}

async function main(): Promise<void> {
  let scratch: string | undefined;
  let codeDir = values.code;
  if (codeDir === undefined) {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'shop-edge-measure-'));
    await writeFile(path.join(scratch, 'index.js'), 'exports.handler = async () => ({});\n');
    codeDir = scratch;
  }
  const event: unknown = JSON.parse(values.event);
  const pools: FunctionPool[] = [];
  const create = async (): Promise<FunctionPool> => {
    const pool = await createFunctionPool({
      name: 'shop-edge-measure',
      codeDir: path.resolve(codeDir),
      handler: values.handler,
      timeoutMs: 30_000,
      memoryMb: 256,
      environment: values['node-options'] === '' ? {} : { NODE_OPTIONS: values['node-options'] },
      credentials: { accessKeyId: 'measure', secretAccessKey: 'measure' },
      region: 'eu-central-1',
      network: { allow: 'any' },
      freezeWhenIdle: values.freeze,
      logSink: () => undefined,
    });
    pools.push(pool);
    return pool;
  };
  try {
    const cold: number[] = [];
    const startup: number[] = [];
    const init: number[] = [];
    const memory: number[] = [];
    for (let i = 0; i < Number(values.cold); i++) {
      const pool = await create();
      const started = performance.now();
      const { report } = check(await pool.invoke(event));
      cold.push(performance.now() - started);
      if (report?.startupMs !== undefined) startup.push(report.startupMs);
      if (report?.initDurationMs !== undefined) init.push(report.initDurationMs);
      if (report?.maxMemoryUsedMb !== undefined) memory.push(report.maxMemoryUsedMb);
      await pool.close();
    }
    const pool = await create();
    check(await pool.invoke(event));
    const warm: number[] = [];
    for (let i = 0; i < Number(values.warm); i++) {
      const started = performance.now();
      check(await pool.invoke(event));
      warm.push(performance.now() - started);
    }
    console.log(
      `code: ${values.code ?? 'empty handler'}${values.freeze ? ', frozen when idle' : ''} (${process.version}, ${String(os.cpus().length)} CPUs, load ${os.loadavg()[0]?.toFixed(2) ?? '?'})`,
    );
    console.log(`cold start, invoke() to result:   ${summary(cold)}`);
    console.log(`  spawn to handler loaded:        ${summary(startup)}`);
    console.log(`  Init Duration (process start):  ${summary(init)}`);
    console.log(`  Max Memory Used:                ${summary(memory, 'MB')}`);
    console.log(`warm invocation, invoke() to result: ${summary(warm)}`);
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  }
}

void main();
