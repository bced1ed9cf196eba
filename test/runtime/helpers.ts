/** Pools of fixture functions for the runtime tests, and esbuild bundles made like the CDK makes them. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import {
  createFunctionPool,
  type FunctionPool,
  type FunctionSpec,
  type InvokeResult,
  type LogEntry,
} from '../../local/runtime/function-pool';

export const FIXTURES = path.join(__dirname, 'fixtures');

export const ROLE_CREDENTIALS = { accessKeyId: 'ASIAROLEKEY', secretAccessKey: 'role-secret', sessionToken: 'role-session-token' };

export interface TestPool {
  readonly pool: FunctionPool;
  readonly logs: LogEntry[];
}

const open = new Set<FunctionPool>();

/** A pool of `fixtures/<fixture>` (or any directory), with test defaults; closed by closePools(). */
export async function startPool(codeDir: string, overrides: Partial<FunctionSpec> = {}): Promise<TestPool> {
  const logs: LogEntry[] = [];
  const pool = await createFunctionPool({
    name: 'shop-edge-test-fn',
    codeDir: path.isAbsolute(codeDir) ? codeDir : path.join(FIXTURES, codeDir),
    handler: 'index.handler',
    timeoutMs: 5000,
    memoryMb: 256,
    environment: {},
    credentials: ROLE_CREDENTIALS,
    region: 'eu-central-1',
    network: { allow: 'any' },
    logSink: (entry) => logs.push(entry),
    ...overrides,
  });
  open.add(pool);
  return { pool, logs };
}

export async function closePools(): Promise<void> {
  const pools = [...open];
  open.clear();
  await Promise.all(pools.map((pool) => pool.close()));
}

const bundleDirs: string[] = [];

/** Bundles fixtures/src/<file> into a fresh directory as index.js + index.js.map, the way the CDK bundles a function. */
export async function bundleFixture(file: string, options: { external?: string[] } = {}): Promise<string> {
  const outdir = await mkdtemp(path.join(os.tmpdir(), 'shop-edge-runtime-bundle-'));
  bundleDirs.push(outdir);
  await build({
    entryPoints: [path.join(FIXTURES, 'src', file)],
    outfile: path.join(outdir, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    external: options.external ?? ['@aws-sdk/*'],
    logLevel: 'silent',
  });
  return outdir;
}

export async function removeBundles(): Promise<void> {
  await Promise.all(bundleDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/** The payload of a successful invocation, or a failed expectation naming what happened instead. */
export function payloadOf(result: InvokeResult): unknown {
  if (!result.ok) throw new Error(`invocation failed: ${result.kind} ${result.errorType}: ${result.errorMessage}`);
  return result.payload;
}
