/**
 * Cold start: every entry of the route table (REST_ROUTES, WEBSOCKET_ROUTES, STREAM_CONSUMERS,
 * AUTHORIZER) bundled with esbuild, then `require()`d in fresh node processes (module init only,
 * median of 10, all bundles interleaved run by run). Two bundlings:
 *  - self-contained: platform node, target node24, cjs, minify, bundle, @aws-sdk/* bundled;
 *  - as deployed: what lib/constructs/shop-function.ts asks of NodejsFunction (the same, but
 *    @aws-sdk/* left to the runtime and a linked source map read with --enable-source-maps);
 *    the SDK then loads from node_modules, standing in for the runtime's copy.
 * The esbuild metafile says which clients each function loads at init, checked against the
 * route's `needs`. Diagnostics: GetProduct with the clients it should not load stubbed out, and
 * GetProduct's init split by package (cumulative bundles of its heavy dependencies).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { build, type Metafile, type Plugin } from 'esbuild';
import { AUTHORIZER, REST_ROUTES, STREAM_CONSUMERS, WEBSOCKET_ROUTES, type FunctionNeeds } from '../../functions/routes';
import type { BenchCase, CaseResult, FloorCheck, Table } from '../lib/report';
import { fmtBytes, fmtMs, summarize } from '../lib/stats';

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
  { label: 'zod', imports: ['zod'] },
  {
    label: '+ Powertools logger and metrics, middy',
    imports: ['@aws-lambda-powertools/logger', '@aws-lambda-powertools/metrics', '@middy/core'],
  },
  { label: '+ ioredis', imports: ['ioredis'] },
  { label: '+ DynamoDB client and document client', imports: ['@aws-sdk/client-dynamodb', '@aws-sdk/lib-dynamodb'] },
  { label: '+ Secrets Manager client', imports: ['@aws-sdk/client-secrets-manager'] },
];
// A step whose packages GetProduct does not load at init (e.g. behind a dynamic import) is left out.

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
  const out = spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    env: {
      ...process.env,
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

const fileName = (name: string) => name.replace(/[^A-Za-z0-9]+/g, '-');

export const coldStart: BenchCase = {
  id: 'cold-start',
  title: 'Cold start',
  description:
    `Every function of the route table bundled with esbuild (platform node, target ${TARGET}, cjs, minify, bundle) and \`require()\`d in a fresh node process: module init only, median of the runs, all bundles interleaved. ` +
    'Two bundlings: self-contained (`@aws-sdk/*` bundled) and as deployed by lib/constructs/shop-function.ts (`@aws-sdk/*` external, loaded from node_modules in place of the runtime copy; linked source map with `--enable-source-maps`). Baseline: an empty handler bundled the same way. ' +
    "Which clients each function loads at init comes from the esbuild metafiles (code in the self-contained output; external `require`s kept in the deployed one), checked against the route's `needs`.",
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
        imports: step.imports.filter((p) => getProductEager.has(p)),
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
        name === 'EmptyHandler' ? '(baseline)' : Number.isFinite(value) ? `+${fmtMs(value - empty)}` : '';
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
          floor: 'the product-read function adds at most 150 ms of init over the empty handler',
          measured: `GetProduct +${fmtMs(getDelta)} self-contained (${fmtMs(med('GetProduct', 'self'))} vs ${fmtMs(emptySelf)}), +${fmtMs(getDeltaDeployed)} as deployed`,
          met: getDelta <= 150 && getDeltaDeployed <= 150,
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
      if (steps.length) {
        tables.push({
          title: `What GetProduct's init is made of: bundles of its heavy dependencies alone, added one group at a time (median of ${Math.ceil(runs / 2)})`,
          columns: ['bundle', 'size', 'init', 'over empty', 'added by this step'],
          rows: [
            ...steps.map((step, i) => {
              const value = med(step.label, 'self');
              const before = i === 0 ? emptySelf : med((steps[i - 1] as (typeof steps)[number]).label, 'self');
              return [step.label, fmtBytes(step.bundle.bytes), fmtMs(value), `+${fmtMs(value - emptySelf)}`, `+${fmtMs(value - before)}`];
            }),
            [
              'GetProduct (the rest: our code, lru-cache, smithy http handler...)',
              fmtBytes(getProduct?.s.bytes ?? 0),
              fmtMs(med('GetProduct', 'self')),
              `+${fmtMs(getDelta)}`,
              `+${fmtMs(med('GetProduct', 'self') - med((steps[steps.length - 1] as (typeof steps)[number]).label, 'self'))}`,
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
          `GetProduct: ${fmtBytes(getProduct?.s.bytes ?? 0)} self-contained, init +${fmtMs(getDelta)} over an empty handler (${fmtBytes(getProduct?.d.bytes ?? 0)} and +${fmtMs(getDeltaDeployed)} as deployed). Authorizer: ${fmtBytes(authorizer?.s.bytes ?? 0)}, +${fmtMs(med(AUTHORIZER.name, 'self') - emptySelf)}.`,
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
