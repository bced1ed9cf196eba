/**
 * Cold start: every entry of the route table (REST_ROUTES, WEBSOCKET_ROUTES, STREAM_CONSUMERS,
 * AUTHORIZER) bundled with esbuild, then `require()`d in fresh node processes (module init only,
 * median of 10, all bundles interleaved run by run). Two bundlings:
 *  - self-contained: platform node, target node24, cjs, minify, bundle, @aws-sdk/* bundled;
 *  - as deployed: what lib/constructs/shop-function.ts asks of NodejsFunction (the same, but
 *    @aws-sdk/* left to the runtime and a linked source map read with --enable-source-maps);
 *    the SDK then loads from node_modules, standing in for the runtime's copy.
 * The esbuild metafile says which clients each function loads at init, checked against the
 * route's `needs`. Then every REST function's first invocation as deployed: a fresh process
 * `require()`s the bundle and calls its handler once with an API Gateway REST proxy event, against
 * real Redis and DynamoDB Local (bench/lib/first-invocation.ts). Diagnostics: GetProduct with the
 * clients it should not load stubbed out, and GetProduct's init split by package (cumulative
 * bundles of its heavy dependencies).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { build, type Metafile, type Plugin } from 'esbuild';
import type { DynamoShopRepository } from '../../functions/catalog/dynamodb/shop-repository';
import { CORS_ORIGINS_ENV } from '../../functions/shared/cors';
import {
  AUTHORIZER,
  PERMISSIONS,
  REST_ROUTES,
  STREAM_CONSUMERS,
  WEBSOCKET_ROUTES,
  type FunctionNeeds,
  type RestRoute,
} from '../../functions/routes';
import { TABLES } from '../../functions/shared/tables';
import { FUNCTION_SIZES } from '../../lib/constructs/function-needs';
import { kebabCase, METRICS_NAMESPACE } from '../../lib/constructs/shop-function';
import { lambdaEnvironment } from '../../local/runtime/lambda-environment';
import type { TableNames } from '../../local/services/tables';
import { emfMetrics, invokeFresh, plainContext, restProxyEvent, type RestRequestSpec } from '../lib/first-invocation';
import { productInput, repository, TENANT } from '../lib/fixtures';
import type { BenchCase, CaseContext, CaseResult, FloorCheck, Table } from '../lib/report';
import { startBenchRedis } from '../lib/services';
import { fmtBytes, fmtMs, median, summarize } from '../lib/stats';

const REPO = path.resolve(__dirname, '..', '..');
const TARGET = 'node24';
/** The only functions timed in quick mode. */
const KEY_FUNCTIONS = ['EmptyHandler', AUTHORIZER.name, 'GetProduct', 'FanOut'];
/** Timed as deployed too (every function is timed self-contained; this keeps the run short). */
const DEPLOYED_TIMED = ['EmptyHandler', AUTHORIZER.name, 'GetProduct'];
const STUBBED = 'GetProduct, unused clients stubbed';

interface Fn {
  readonly name: string;
  readonly entry: string;
  readonly needs: FunctionNeeds;
}

/** Packages whose presence a route's needs decide. */
const CLIENTS: { readonly pkg: string; readonly label: string; readonly allowed: (n: FunctionNeeds) => boolean }[] = [
  { pkg: 'ioredis', label: 'ioredis', allowed: (n) => n.redis },
  { pkg: '@aws-sdk/client-secrets-manager', label: 'secrets-manager', allowed: (n) => n.redis },
  { pkg: '@aws-sdk/client-dynamodb', label: 'client-dynamodb', allowed: (n) => n.tables.length > 0 },
  { pkg: '@aws-sdk/lib-dynamodb', label: 'lib-dynamodb', allowed: (n) => n.tables.length > 0 },
  { pkg: '@aws-sdk/client-apigatewaymanagementapi', label: 'apigw-management', allowed: (n) => n.manageConnections === true },
  { pkg: '@aws-sdk/client-cloudfront', label: 'cloudfront', allowed: (n) => n.cdnInvalidation === true },
];

/** GetProduct's heavy dependencies, in the order the attribution adds them. */
const ATTRIBUTION_STEPS: { readonly label: string; readonly imports: readonly string[] }[] = [
  { label: 'zod/mini', imports: ['zod/mini'] },
  {
    label: '+ Powertools logger and metrics, middy',
    imports: ['@aws-lambda-powertools/logger', '@aws-lambda-powertools/metrics', '@middy/core'],
  },
  { label: '+ ioredis', imports: ['ioredis'] },
  { label: '+ DynamoDB client and document client', imports: ['@aws-sdk/client-dynamodb', '@aws-sdk/lib-dynamodb'] },
  { label: '+ Secrets Manager client', imports: ['@aws-sdk/client-secrets-manager'] },
];
// A step whose packages GetProduct does not load at init (e.g. behind a dynamic import) is left out;
// the metafile names packages ('zod'), the steps import entry points ('zod/mini').

interface Bundle {
  readonly file: string;
  readonly bytes: number;
  readonly metafile: Metafile;
}

const BUILTINS = new Set(builtinModules);

function packageName(specifier: string): string {
  return specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');
}

interface Loads {
  /** Bundled packages evaluated at init (reached from the entry by static imports), bytes in output. */
  readonly bundled: Map<string, number>;
  /** External packages require()d at init (esbuild keeps an external require even when nothing of it is used). */
  readonly external: Set<string>;
  /** Packages reached only through a dynamic import(): loaded on first use, not at init. */
  readonly lazy: Set<string>;
}

/**
 * What a bundle loads at init, from its metafile: everything reachable from the entry through
 * static imports and requires (dynamic `import()` defers a module to its first use), keeping only
 * bundled modules that left code in the output (tree-shaken ones run nothing).
 */
function loadsOf(metafile: Metafile, entry: string): Loads {
  const inOutput = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) inOutput.set(input, (inOutput.get(input) ?? 0) + bytesInOutput);
  }
  const packageOf = (input: string) => /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1];
  const walk = (followDynamic: boolean) => {
    const seen = new Set<string>([entry]);
    const external = new Set<string>();
    const queue = [entry];
    while (queue.length) {
      const current = queue.shift() as string;
      for (const imp of metafile.inputs[current]?.imports ?? []) {
        if (!followDynamic && imp.kind === 'dynamic-import') continue;
        if (imp.external) {
          if (!imp.path.startsWith('node:') && !BUILTINS.has(imp.path)) external.add(packageName(imp.path));
        } else if (!seen.has(imp.path)) {
          seen.add(imp.path);
          queue.push(imp.path);
        }
      }
    }
    const bundled = new Map<string, number>();
    for (const input of seen) {
      const pkg = packageOf(input);
      const bytes = inOutput.get(input) ?? 0;
      if (pkg && bytes > 0) bundled.set(pkg, (bundled.get(pkg) ?? 0) + bytes);
    }
    return { bundled, external };
  };
  const eager = walk(false);
  const all = walk(true);
  const lazy = new Set([...all.bundled.keys(), ...all.external].filter((p) => !eager.bundled.has(p) && !eager.external.has(p)));
  return { ...eager, lazy };
}

/** Resolves these packages to a stub whose every export is an empty class (nothing of theirs runs at init). */
function stubPackages(pkgs: readonly string[]): Plugin {
  return {
    name: 'stub-unused-clients',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => (pkgs.includes(args.path) ? { path: args.path, namespace: 'stub' } : undefined));
      b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
        contents: 'module.exports = new Proxy({}, { get: (_t, k) => (k === "__esModule" ? false : class Stub {}) });',
        loader: 'js',
      }));
    },
  };
}

async function bundle(
  entry: string | { contents: string },
  file: string,
  deployed: boolean,
  stub: readonly string[] = [],
): Promise<Bundle> {
  const result = await build({
    ...(typeof entry === 'string'
      ? { entryPoints: [path.join(REPO, entry)] }
      : { stdin: { contents: entry.contents, resolveDir: REPO, loader: 'ts' as const } }),
    outfile: file,
    bundle: true,
    platform: 'node',
    target: TARGET,
    format: 'cjs',
    minify: true,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: REPO,
    ...(stub.length ? { plugins: [stubPackages(stub)] } : {}),
    ...(deployed ? { external: ['@aws-sdk/*'], sourcemap: 'linked' as const, sourcesContent: false } : {}),
  });
  return { file, bytes: fs.statSync(file).size, metafile: result.metafile };
}

/** Module init of one bundle in a fresh node process, ms. */
function initTime(file: string, deployed: boolean): number {
  const script = `const { performance } = require('node:perf_hooks');const t = performance.now();require(${JSON.stringify(file)});process.stdout.write(String(performance.now() - t));process.exit(0);`;
  // A fresh Lambda process runs one invocation at a time: not what the cases that ran the local
  // stack's invoke() in this process set (AWS_LAMBDA_MAX_CONCURRENCY, and Powertools then asks for
  // the runtime's InvokeStore, which a bare process does not have).
  const inherited: NodeJS.ProcessEnv = { ...process.env };
  delete inherited.AWS_LAMBDA_MAX_CONCURRENCY;
  const out = spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    env: {
      ...inherited,
      // What Lambda and the stack set; the handlers read their config lazily, Powertools at import.
      AWS_REGION: 'us-east-1',
      AWS_LAMBDA_FUNCTION_NAME: 'bench-cold-start',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      POWERTOOLS_SERVICE_NAME: 'bench',
      POWERTOOLS_METRICS_NAMESPACE: 'ShopEdge',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      NODE_OPTIONS: deployed ? '--enable-source-maps' : '',
    },
    timeout: 60_000,
  });
  const ms = Number(out.stdout);
  if (out.status !== 0 || !Number.isFinite(ms))
    throw new Error(`init of ${file} failed (status ${out.status}): ${out.stderr.slice(-2000)}`);
  return ms;
}

/** A difference with its sign: +12.3 ms, -8.45 ms. */
const signedMs = (ms: number) => (ms < 0 ? `-${fmtMs(-ms)}` : `+${fmtMs(ms)}`);

const fileName = (name: string) => name.replace(/[^A-Za-z0-9]+/g, '-');

/** The cursor key of the first invocations (CURSOR_KEY, 32+ characters; in AWS a secret read once per container). */
const BENCH_CURSOR_KEY = 'shop-edge-bench-cursor-key-not-for-production-01';
/** The product writes that bump a tenant's list generations go to a tenant of their own, so the reads of TENANT stay warm in L2. */
const WRITES_TENANT = `${TENANT}-writes`;
const REGION = 'us-east-1';

/** What the first invocations act on, with ids unique to this run of the case. */
interface Seeded {
  readonly tag: string;
  /** TENANT: read, stock-adjusted and ordered every run (stock to spare). */
  readonly stocked: string;
  /** TENANT: the order every run reads. */
  readonly order: string;
  /** TENANT: one placed order per run, paid by UpdateOrder. */
  readonly ordersToPay: readonly string[];
  /** WRITES_TENANT: updated every run. */
  readonly updated: string;
  /** WRITES_TENANT: one per run, deleted by DeleteProduct. */
  readonly toDelete: readonly string[];
}

async function seedFirstInvocations(repo: DynamoShopRepository, runs: number): Promise<Seeded> {
  const tag = randomUUID().slice(0, 8);
  const seeded: Seeded = {
    tag,
    stocked: `cold-${tag}-stocked`,
    order: `cold-${tag}-order`,
    ordersToPay: Array.from({ length: runs }, (_, i) => `cold-${tag}-pay-${i}`),
    updated: `cold-${tag}-updated`,
    toDelete: Array.from({ length: runs }, (_, i) => `cold-${tag}-delete-${i}`),
  };
  await repo.createProduct(TENANT, productInput(seeded.stocked), 5);
  await repo.adjustStock(TENANT, seeded.stocked, 1_000_000);
  const line = [{ productId: seeded.stocked, quantity: 1 }];
  await repo.createOrder(TENANT, 'bench-seed', seeded.order, line);
  for (const id of seeded.ordersToPay) await repo.createOrder(TENANT, 'bench-seed', id, line);
  // Unlisted: writing them bumps WRITES_TENANT's lists only, never the marketplace's.
  for (const id of [seeded.updated, ...seeded.toDelete]) await repo.createProduct(WRITES_TENANT, { ...productInput(id), listed: false }, 5);
  return seeded;
}

/** Run `run`'s request of a REST route, against what seedFirstInvocations made. */
function firstRequest(route: RestRoute, run: number, seeded: Seeded): RestRequestSpec {
  const caller = (tenantId: string) => ({
    tenantId,
    // A user of its own per request: the per-user rate limit never counts the bench's other requests.
    userId: `bench-user-${route.name}-${run}`,
    permissions: PERMISSIONS.join(' '),
    exp: String(Math.floor(Date.now() / 1000) + 365 * 24 * 3600),
  });
  const base = { method: route.method, resource: route.path };
  switch (route.name) {
    case 'ListProducts':
      return { ...base, authorizer: caller(TENANT), query: { limit: '20' } };
    case 'GetProduct':
    case 'GetProductStock':
      return { ...base, authorizer: caller(TENANT), pathParameters: { id: seeded.stocked } };
    case 'CreateProduct':
      return {
        ...base,
        authorizer: caller(WRITES_TENANT),
        body: { ...productInput(`cold-${seeded.tag}-new-${run}`), listed: false },
      };
    case 'UpdateProduct':
      return { ...base, authorizer: caller(WRITES_TENANT), pathParameters: { id: seeded.updated }, body: { price: 2500 + run } };
    case 'DeleteProduct':
      return { ...base, authorizer: caller(WRITES_TENANT), pathParameters: { id: seeded.toDelete[run] as string } };
    case 'AdjustStock':
      return { ...base, authorizer: caller(TENANT), pathParameters: { id: seeded.stocked }, body: { delta: -1, reason: 'cycle count' } };
    case 'CreateOrder':
      return { ...base, authorizer: caller(TENANT), body: { lines: [{ productId: seeded.stocked, quantity: 1 }] } };
    case 'GetOrder':
      return { ...base, authorizer: caller(TENANT), pathParameters: { id: seeded.order } };
    case 'UpdateOrder':
      return { ...base, authorizer: caller(TENANT), pathParameters: { id: seeded.ordersToPay[run] as string }, body: { status: 'paid' } };
    case 'ListMarketplace':
      return { ...base, query: { limit: '20' } };
    case 'Health':
      return base;
    default:
      throw new Error(`cold start: no first request for the route ${route.name}; add one to firstRequest`);
  }
}

/**
 * The environment of a REST function as deployed (lib/constructs/shop-function.ts,
 * function-needs.ts, the API stack), with local endpoints in place of AWS's: DynamoDB Local, the
 * case's redis-server (no AUTH, so no REDIS_AUTH_SECRET_ARN), the cursor key in plain text in
 * place of its secret. Lambda's own variables come from local/runtime/lambda-environment.ts.
 */
function deployedEnvironment(
  name: string,
  needs: FunctionNeeds,
  bundleDir: string,
  services: { readonly dynamodb: string; readonly redisUrl: string; readonly tables: TableNames },
): Record<string, string> {
  const environment: Record<string, string> = {
    POWERTOOLS_SERVICE_NAME: kebabCase(name),
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    POWERTOOLS_LOG_LEVEL: 'INFO',
    NODE_OPTIONS: '--enable-source-maps',
    [CORS_ORIGINS_ENV]: '[]',
  };
  if (needs.tables.length > 0) {
    environment[TABLES.shop.tableNameEnv] = services.tables.shop;
    environment[TABLES.connections.tableNameEnv] = services.tables.connections;
  }
  if (needs.redis) Object.assign(environment, { REDIS_URL: services.redisUrl, REDIS_CLUSTER: 'false', REDIS_REPLICAS: '0' });
  if (needs.cursorKey === true) environment.CURSOR_KEY = BENCH_CURSOR_KEY;
  return lambdaEnvironment({
    functionName: `shop-edge-bench-${kebabCase(name)}`,
    handler: 'index.handler',
    runtime: `nodejs${TARGET.replace('node', '')}.x`,
    memoryMb: FUNCTION_SIZES.request.memorySize,
    region: REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    environment,
    serviceEndpoints: needs.tables.length > 0 ? { DYNAMODB_ENDPOINT: services.dynamodb } : {},
    logging: { format: 'JSON', applicationLogLevel: 'INFO' },
    sandbox: { root: bundleDir, taskRoot: bundleDir, runtimeDir: bundleDir },
  });
}

interface InvocationSamples {
  readonly name: string;
  readonly init: number[];
  readonly total: number[];
  readonly statuses: number[];
  /** Per run: the cache's EMF counts of the first request (L1Hit, L2Hit, CacheMiss, ...). */
  readonly cache: Record<string, number>[];
}

const CACHE_METRICS = ['L1Hit', 'L2Hit', 'StaleServed', 'NegativeHit', 'CacheMiss', 'L2Error'] as const;

/**
 * Every REST function's first invocation as deployed, and the empty handler's, `runs` times each
 * (one fresh process per invocation, all functions once per run), against the case's own
 * redis-server and fresh tables in the run's DynamoDB Local. A first request that does not answer
 * 2xx fails the case.
 */
async function firstInvocations(
  ctx: CaseContext,
  runs: number,
  deployed: ReadonlyMap<string, Bundle>,
  dir: string,
): Promise<InvocationSamples[]> {
  const redis = await startBenchRedis();
  try {
    const tables = await ctx.dynamo.tables('cold');
    const seeded = await seedFirstInvocations(repository(ctx.dynamo.endpoint, tables.shop), runs);
    const services = { dynamodb: ctx.dynamo.endpoint, redisUrl: redis.url, tables };
    const getProduct = REST_ROUTES.find((r) => r.name === 'GetProduct') as RestRoute;
    const targets = [
      // The baseline gets GetProduct's event: the same bytes to parse, nothing done with them.
      {
        name: 'EmptyHandler',
        needs: { redis: false, tables: [] } as FunctionNeeds,
        request: (run: number) => firstRequest(getProduct, run, seeded),
      },
      ...REST_ROUTES.map((route) => ({ name: route.name, needs: route.needs, request: (run: number) => firstRequest(route, run, seeded) })),
    ];
    // A route without a request fails here, before any process is started.
    for (const target of targets) target.request(0);
    const samples = new Map<string, InvocationSamples>(
      targets.map((t) => [t.name, { name: t.name, init: [], total: [], statuses: [], cache: [] }]),
    );
    for (let run = 0; run < runs; run++) {
      for (const target of targets) {
        const bundle = deployed.get(target.name) as Bundle;
        const functionName = `shop-edge-bench-${kebabCase(target.name)}`;
        const out = invokeFresh({
          bundle: bundle.file,
          event: restProxyEvent(target.request(run), REGION),
          context: plainContext(functionName, FUNCTION_SIZES.request.memorySize, REGION),
          env: deployedEnvironment(target.name, target.needs, path.dirname(bundle.file), services),
          timeoutMs: FUNCTION_SIZES.request.timeout.toMilliseconds(),
          dir,
        });
        const status = out.result?.statusCode;
        if (out.error !== undefined || status === undefined || status < 200 || status > 299) {
          throw new Error(
            `${target.name}: its first request (run ${run + 1}) answered ${status ?? 'nothing'}: ${out.error ?? out.result?.body ?? ''}\n` +
              `stdout: ${out.stdout.slice(-3000)}\nstderr: ${out.stderr.slice(-2000)}`,
          );
        }
        const record = samples.get(target.name) as InvocationSamples;
        record.init.push(out.initMs);
        record.total.push(out.totalMs);
        record.statuses.push(status);
        const metrics = emfMetrics(out.stdout);
        record.cache.push(Object.fromEntries(CACHE_METRICS.flatMap((m) => (metrics.get(m) ? [[m, metrics.get(m) as number]] : []))));
      }
      ctx.log(`first invocations: run ${run + 1}/${runs} done`);
    }
    return [...samples.values()];
  } finally {
    await redis.stop();
  }
}

export const coldStart: BenchCase = {
  id: 'cold-start',
  title: 'Cold start',
  description:
    `Every function of the route table bundled with esbuild (platform node, target ${TARGET}, cjs, minify, bundle) and \`require()\`d in a fresh node process: module init only, median of the runs, all bundles interleaved. ` +
    'Two bundlings: self-contained (`@aws-sdk/*` bundled) and as deployed by lib/constructs/shop-function.ts (`@aws-sdk/*` external, loaded from node_modules in place of the runtime copy; linked source map with `--enable-source-maps`). Baseline: an empty handler bundled the same way. ' +
    "Which clients each function loads at init comes from the esbuild metafiles (code in the self-contained output; external `require`s kept in the deployed one), checked against the route's `needs`. " +
    "Then each REST function's first invocation as deployed: a fresh process `require()`s the bundle and calls its `handler` once with an API Gateway REST proxy event, against the case's redis-server and DynamoDB Local, in the deployed environment with local endpoints; timed from before the `require()` to the answer (init alone from the same processes), the empty handler invoked the same way as baseline.",
  async run(ctx): Promise<CaseResult> {
    const runs = ctx.quick ? 3 : 10;
    const fns: Fn[] = [
      { name: 'EmptyHandler', entry: 'bench/fixtures/empty-handler.ts', needs: { redis: false, tables: [] } },
      { name: AUTHORIZER.name, entry: AUTHORIZER.entry, needs: AUTHORIZER.needs },
      ...REST_ROUTES,
      ...WEBSOCKET_ROUTES,
      ...STREAM_CONSUMERS,
    ];
    const dirs = {
      self: fs.mkdtempSync(path.join(os.tmpdir(), 'shop-edge-bench-bundles-')),
      // Inside the repository so the external @aws-sdk/* resolves from node_modules.
      deployed: path.join(__dirname, '..', '.bundles', `cold-start-${process.pid}`),
    };
    try {
      ctx.log(`bundling ${fns.length} entries twice`);
      const self = new Map<string, Bundle>();
      const deployed = new Map<string, Bundle>();
      for (const fn of fns) {
        self.set(fn.name, await bundle(fn.entry, path.join(dirs.self, fileName(fn.name), 'index.js'), false));
        deployed.set(fn.name, await bundle(fn.entry, path.join(dirs.deployed, fileName(fn.name), 'index.js'), true));
      }
      const getProductFn = fns.find((f) => f.name === 'GetProduct') as Fn;
      const unusedByGetProduct = CLIENTS.filter((c) => !c.allowed(getProductFn.needs)).map((c) => c.pkg);
      const stubbed = {
        self: await bundle(getProductFn.entry, path.join(dirs.self, fileName(STUBBED), 'index.js'), false, unusedByGetProduct),
        deployed: await bundle(getProductFn.entry, path.join(dirs.deployed, fileName(STUBBED), 'index.js'), true, unusedByGetProduct),
      };
      // Cumulative bundles of GetProduct's heavy dependencies that it loads at init (full mode only).
      const getProductEager = loadsOf((self.get('GetProduct') as Bundle).metafile, getProductFn.entry).bundled;
      const attributionSteps = ATTRIBUTION_STEPS.map((step) => ({
        ...step,
        imports: step.imports.filter((p) => getProductEager.has(packageName(p))),
      })).filter((step) => step.imports.length > 0);
      const steps = ctx.quick
        ? []
        : await Promise.all(
            attributionSteps.map(async (step, i) => {
              const imports = attributionSteps.slice(0, i + 1).flatMap((s) => s.imports);
              const contents =
                imports.map((p, j) => `import * as m${j} from '${p}';`).join('\n') +
                `\nexport const all = [${imports.map((_, j) => `m${j}`).join(', ')}];\n`;
              return { label: step.label, bundle: await bundle({ contents }, path.join(dirs.self, `attribution-${i}`, 'index.js'), false) };
            }),
          );

      const times = new Map<string, { self: number[]; deployed: number[] }>();
      const timesOf = (name: string) => {
        if (!times.has(name)) times.set(name, { self: [], deployed: [] });
        return times.get(name) as { self: number[]; deployed: number[] };
      };
      // Quick mode times the key functions only; every bundle is still built and checked.
      const timedSelf = ctx.quick ? fns.filter((f) => KEY_FUNCTIONS.includes(f.name)) : fns;
      for (let run = 0; run < runs; run++) {
        for (const fn of timedSelf) {
          timesOf(fn.name).self.push(initTime((self.get(fn.name) as Bundle).file, false));
          if (DEPLOYED_TIMED.includes(fn.name)) timesOf(fn.name).deployed.push(initTime((deployed.get(fn.name) as Bundle).file, true));
        }
        // Diagnostics: every other run (5 samples in a full run), to keep the case short.
        if (run % 2 === 0) {
          timesOf(STUBBED).self.push(initTime(stubbed.self.file, false));
          timesOf(STUBBED).deployed.push(initTime(stubbed.deployed.file, true));
          for (const step of steps) timesOf(step.label).self.push(initTime(step.bundle.file, false));
        }
        ctx.log(`init run ${run + 1}/${runs} done`);
      }
      ctx.log(`first invocations of ${REST_ROUTES.length} REST functions as deployed, ${runs} runs`);
      const invocations = await firstInvocations(ctx, runs, deployed, dirs.self);
      const med = (name: string, which: 'self' | 'deployed') => summarize(times.get(name)?.[which] ?? []).median;
      const emptySelf = med('EmptyHandler', 'self');
      const emptyDeployed = med('EmptyHandler', 'deployed');
      const loads = (entry: string, s: Bundle, d: Bundle) => {
        const selfLoads = loadsOf(s.metafile, entry);
        const deployedLoads = loadsOf(d.metafile, entry);
        const { bundled } = selfLoads;
        const { external } = deployedLoads;
        const lazy = new Set([...selfLoads.lazy, ...deployedLoads.lazy]);
        return { bundled, external, lazy, carried: CLIENTS.filter((c) => bundled.has(c.pkg) || external.has(c.pkg)) };
      };
      const analysis = fns.map((fn) => {
        const s = self.get(fn.name) as Bundle;
        const d = deployed.get(fn.name) as Bundle;
        const { bundled, external, lazy, carried } = loads(fn.entry, s, d);
        const unexpected = fn.name === 'EmptyHandler' ? [] : carried.filter((c) => !c.allowed(fn.needs));
        const top = [...bundled]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 4)
          .map(([p, b]) => `${p} ${fmtBytes(b)}`);
        return { fn, s, d, bundled, external, lazy, carried, unexpected, top };
      });
      const ms = (value: number) => (Number.isFinite(value) ? fmtMs(value) : 'not timed');
      const over = (name: string, value: number, empty: number) =>
        name === 'EmptyHandler' ? '(baseline)' : Number.isFinite(value) ? signedMs(value - empty) : '';
      const carriedLabel = (carried: typeof CLIENTS, bundled: Map<string, number>, lazy: Set<string>) =>
        [
          ...carried.map((c) => (bundled.has(c.pkg) ? c.label : `${c.label} (as deployed only)`)),
          ...CLIENTS.filter((c) => lazy.has(c.pkg) && !carried.includes(c)).map((c) => `_${c.label} on first use_`),
        ].join(', ') || '-';
      const rows = analysis.map((a) => [
        a.fn.name,
        fmtBytes(a.s.bytes),
        ms(med(a.fn.name, 'self')),
        over(a.fn.name, med(a.fn.name, 'self'), emptySelf),
        fmtBytes(a.d.bytes),
        ms(med(a.fn.name, 'deployed')),
        over(a.fn.name, med(a.fn.name, 'deployed'), emptyDeployed),
        carriedLabel(a.carried, a.bundled, a.lazy),
        a.fn.name === 'EmptyHandler' ? '' : a.unexpected.length ? `**NO**: ${a.unexpected.map((c) => c.label).join(', ')}` : 'yes',
      ]);
      const stubbedLoads = loads(getProductFn.entry, stubbed.self, stubbed.deployed);
      rows.push([
        `_${STUBBED}_ (diagnostic)`,
        fmtBytes(stubbed.self.bytes),
        ms(med(STUBBED, 'self')),
        over(STUBBED, med(STUBBED, 'self'), emptySelf),
        fmtBytes(stubbed.deployed.bytes),
        ms(med(STUBBED, 'deployed')),
        over(STUBBED, med(STUBBED, 'deployed'), emptyDeployed),
        carriedLabel(stubbedLoads.carried, stubbedLoads.bundled, stubbedLoads.lazy),
        '',
      ]);
      const authorizer = analysis.find((a) => a.fn.name === AUTHORIZER.name);
      const authorizerCarries =
        authorizer?.carried.filter((c) => c.pkg === 'ioredis' || c.pkg === '@aws-sdk/client-dynamodb').map((c) => c.label) ?? [];
      const getProduct = analysis.find((a) => a.fn.name === 'GetProduct');
      const getDelta = med('GetProduct', 'self') - emptySelf;
      const getDeltaDeployed = med('GetProduct', 'deployed') - emptyDeployed;
      const authorizerDelta = med(AUTHORIZER.name, 'self') - emptySelf;
      const authorizerDeltaDeployed = med(AUTHORIZER.name, 'deployed') - emptyDeployed;
      const offenders = analysis.filter((a) => a.unexpected.length > 0);
      const floors: FloorCheck[] = [
        {
          floor: 'each function imports only what it uses (clients vs its `needs` in functions/routes.ts)',
          measured: offenders.length
            ? `${offenders.length} of ${analysis.length - 1} do not: ${offenders.map((a) => `${a.fn.name} (${a.unexpected.map((c) => c.label).join(', ')})`).join('; ')}`
            : `all ${analysis.length - 1} functions`,
          met: offenders.length === 0,
        },
        {
          floor: 'the authorizer carries no Redis or DynamoDB client',
          measured: authorizerCarries.length
            ? `carries ${authorizerCarries.join(', ')}`
            : `neither (${fmtBytes(authorizer?.s.bytes ?? 0)}: ${authorizer?.top.join(', ')})`,
          met: authorizerCarries.length === 0,
        },
        {
          floor: "GetProduct's init as deployed adds at most 100 ms over the empty handler",
          measured: `${signedMs(getDeltaDeployed)} as deployed (${fmtMs(med('GetProduct', 'deployed'))} vs ${fmtMs(emptyDeployed)}); ${signedMs(getDelta)} self-contained`,
          met: getDeltaDeployed <= 100,
        },
        {
          floor: "the authorizer's init adds at most 30 ms over the empty handler",
          measured: `${signedMs(authorizerDeltaDeployed)} as deployed, judged (${fmtMs(med(AUTHORIZER.name, 'deployed'))} vs ${fmtMs(emptyDeployed)}); ${signedMs(authorizerDelta)} self-contained`,
          met: authorizerDeltaDeployed <= 30,
        },
      ];
      const tables: Table[] = [
        {
          title: `Cold start: minified bundle size and module init (median of ${runs} fresh processes; ${ctx.quick ? `quick mode times ${KEY_FUNCTIONS.join(', ')} only` : `as deployed, only ${DEPLOYED_TIMED.join(', ')} are timed`})`,
          columns: [
            'function',
            'size, self-contained',
            'init',
            'over empty',
            'size, as deployed',
            'init',
            'over empty',
            'clients loaded at init',
            'only what it uses',
          ],
          rows,
          notes: [
            '"as deployed" leaves @aws-sdk/* to the Lambda runtime: its size excludes the SDK, its init includes loading the SDK from node_modules. esbuild keeps the `require` of an external package even when nothing of it is used, so a client tree-shaken out of the self-contained bundle can still load at init as deployed.',
            '"Clients loaded at init": reached from the entry through static imports (code left in the output, or an external require); a client behind a dynamic `import()` is listed in italics as loaded on first use.',
            'Init is `require()` of the bundle only (no handler call, no runtime bootstrap); Lambda adds its own runtime start to both.',
            `The diagnostic row (median of ${Math.ceil(runs / 2)}) is GetProduct bundled with the clients its \`needs\` do not allow (${unusedByGetProduct.join(', ')}) replaced by an empty stub: its init if it loaded only what it uses.`,
          ],
        },
      ];
      const firstOf = (name: string) => invocations.find((i) => i.name === name) as InvocationSamples;
      const emptyFirst = median(firstOf('EmptyHandler').total);
      const cacheLabel = (record: InvocationSamples) => {
        const labels: Record<(typeof CACHE_METRICS)[number], string> = {
          L1Hit: 'L1 hit',
          L2Hit: '**L2 hit**',
          StaleServed: 'stale',
          NegativeHit: 'negative hit',
          CacheMiss: 'miss',
          L2Error: 'L2 error',
        };
        return (
          CACHE_METRICS.flatMap((m) => {
            const count = record.cache.filter((c) => (c[m] ?? 0) > 0).length;
            return count ? [`${labels[m]} ${count} of ${record.cache.length}`] : [];
          }).join(', ') || '-'
        );
      };
      const slowestFirst = invocations.reduce((a, b) => (median(b.total) > median(a.total) ? b : a));
      const firstRows = invocations.map((record) => {
        const total = median(record.total);
        return [
          record.name,
          [...new Set(record.statuses)].join(', '),
          fmtMs(median(record.init)),
          fmtMs(total),
          record.name === 'EmptyHandler' ? '(baseline)' : signedMs(total - emptyFirst),
          fmtMs(median(record.total.map((t, i) => t - (record.init[i] as number)))),
          cacheLabel(record),
        ];
      });
      tables.push({
        title: `First invocation of each REST function as deployed: \`require()\` and one request, against Redis and DynamoDB Local (median of ${runs} fresh processes each)`,
        columns: ['function', 'answer', 'init', 'init + first request', 'over empty', 'first request alone', 'cache, first request'],
        rows: firstRows,
        notes: [
          'Each run starts a fresh node process per function that `require()`s its as-deployed bundle and calls `handler` once with an API Gateway REST proxy event (authorizer context with every permission and an `exp` a year ahead, CloudFront and API Gateway headers, path parameters, query, JSON body); timed from before the `require()` to the answer. "init" is the `require()` alone, in the same processes; "first request alone" is the median of the difference per process. Baseline: the empty handler, invoked the same way with GetProduct\'s event. Every function once per run, in route-table order.',
          "The environment is the deployed one (lib/constructs/shop-function.ts, function-needs.ts, the API stack) with local endpoints: DynamoDB Local, the case's redis-server (no AUTH, so none of the Secrets Manager reads a container does once in AWS for the AUTH token and the cursor key: the cursor key is given as CURSOR_KEY), Powertools metrics on as deployed (the EMF flush is in the time). The first request opens the function's connections, without TLS.",
          '"cache, first request": the cache\'s own EMF metrics (L2Hit, CacheMiss, ...) of the first request, in how many runs. L1 is always empty in a fresh process; L2 is the case\'s one redis-server, so the first run fills it and later runs read from it. The product writes (CreateProduct, UpdateProduct, DeleteProduct) act on unlisted products of another tenant, so they bump no generation the reads use. "-": the route reads nothing through the cache (live stock, orders, writes, health).',
          "Seeded before timing, ids unique to the run: a product with a million units that GetProduct, GetProductStock, AdjustStock and CreateOrder use, the order GetOrder reads, one placed order per run for UpdateOrder (to paid), one product per run for DeleteProduct; CreateProduct creates a new id per run. Each user id is used once, so no request counts against another's rate limit.",
        ],
      });
      if (steps.length) {
        tables.push({
          title: `What GetProduct's init is made of: bundles of its heavy dependencies alone, added one group at a time (median of ${Math.ceil(runs / 2)})`,
          columns: ['bundle', 'size', 'init', 'over empty', 'added by this step'],
          rows: [
            ...steps.map((step, i) => {
              const value = med(step.label, 'self');
              const before = i === 0 ? emptySelf : med((steps[i - 1] as (typeof steps)[number]).label, 'self');
              return [step.label, fmtBytes(step.bundle.bytes), fmtMs(value), signedMs(value - emptySelf), signedMs(value - before)];
            }),
            [
              'GetProduct (the rest: our code, lru-cache, smithy http handler...)',
              fmtBytes(getProduct?.s.bytes ?? 0),
              fmtMs(med('GetProduct', 'self')),
              signedMs(getDelta),
              signedMs(med('GetProduct', 'self') - med((steps[steps.length - 1] as (typeof steps)[number]).label, 'self')),
            ],
          ],
          notes: ['Each bundle imports the packages of its row and of every row above it (`import * as`), bundled like the functions.'],
        });
      }
      tables.push({
        title: 'Largest packages per self-contained bundle (bytes in output)',
        columns: ['function', 'largest packages'],
        rows: analysis.map((a) => [a.fn.name, a.top.join(', ') || '-']),
      });
      return {
        headline: [
          `GetProduct: ${fmtBytes(getProduct?.s.bytes ?? 0)} self-contained, init ${signedMs(getDelta)} over an empty handler (${fmtBytes(getProduct?.d.bytes ?? 0)} and ${signedMs(getDeltaDeployed)} as deployed). Authorizer: ${fmtBytes(authorizer?.s.bytes ?? 0)}, ${signedMs(authorizerDelta)} (${signedMs(authorizerDeltaDeployed)} as deployed).`,
          `First invocation as deployed (init and one request against Redis and DynamoDB Local): GetProduct ${fmtMs(median(firstOf('GetProduct').total))}, ${signedMs(median(firstOf('GetProduct').total) - emptyFirst)} over the empty handler's ${fmtMs(emptyFirst)}; slowest ${slowestFirst.name} ${fmtMs(median(slowestFirst.total))}.`,
        ],
        tables,
        floors,
        data: {
          runs,
          target: TARGET,
          getProductStubbed: {
            stubbed: unusedByGetProduct,
            bytes: stubbed.self.bytes,
            deployedBytes: stubbed.deployed.bytes,
            samples: times.get(STUBBED),
          },
          firstInvocation: invocations.map((record) => ({
            ...record,
            init: summarize(record.init),
            total: summarize(record.total),
            initSamples: record.init,
            totalSamples: record.total,
          })),
          attribution: steps.map((s) => ({ label: s.label, bytes: s.bundle.bytes, samples: times.get(s.label)?.self })),
          functions: analysis.map((a) => ({
            name: a.fn.name,
            entry: a.fn.entry,
            needs: a.fn.needs,
            selfContained: { bytes: a.s.bytes, init: summarize(times.get(a.fn.name)?.self ?? []), samples: times.get(a.fn.name)?.self },
            deployed: { bytes: a.d.bytes, init: summarize(times.get(a.fn.name)?.deployed ?? []), samples: times.get(a.fn.name)?.deployed },
            carried: a.carried.map((c) => c.pkg),
            unexpected: a.unexpected.map((c) => c.pkg),
            bundledPackages: Object.fromEntries(a.bundled),
            externalPackages: [...a.external],
            lazyPackages: [...a.lazy],
          })),
        },
      };
    } finally {
      fs.rmSync(dirs.self, { recursive: true, force: true });
      fs.rmSync(dirs.deployed, { recursive: true, force: true });
    }
  },
};
