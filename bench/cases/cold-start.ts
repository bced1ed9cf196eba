/**
 * Cold start: every entry of the route table (REST_ROUTES, WEBSOCKET_ROUTES, STREAM_CONSUMERS,
 * AUTHORIZER) bundled with esbuild, then `require()`d in fresh node processes (module init only,
 * median of 10, all bundles interleaved run by run). Two bundlings:
 *  - self-contained: platform node, target node24, cjs, minify, bundle, @aws-sdk/* bundled;
 *  - as deployed: what lib/constructs/shop-function.ts asks of NodejsFunction (the same, but
 *    @aws-sdk/* left to the runtime and a linked source map read with --enable-source-maps);
 *    the SDK then loads from node_modules, standing in for the runtime's copy.
 * The esbuild metafile says which clients each bundle carries, checked against the route's `needs`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build, type Metafile } from 'esbuild';
import { AUTHORIZER, REST_ROUTES, STREAM_CONSUMERS, WEBSOCKET_ROUTES, type FunctionNeeds } from '../../functions/routes';
import type { BenchCase, CaseResult, FloorCheck } from '../lib/report';
import { fmtBytes, fmtMs, summarize } from '../lib/stats';

const REPO = path.resolve(__dirname, '..', '..');
const QUICK_TIMED = ['EmptyHandler', AUTHORIZER.name, 'GetProduct', 'FanOut'];
const TARGET = 'node24';

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

interface Bundle {
  readonly file: string;
  readonly bytes: number;
  readonly metafile: Metafile;
}

function packageOf(input: string): string | undefined {
  const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  return m?.[1];
}

/** Packages in a bundle: bundled inputs, plus external imports (the deployed bundling leaves @aws-sdk/* out). */
function packagesIn(metafile: Metafile): { bundled: Map<string, number>; external: Set<string> } {
  const bundled = new Map<string, number>();
  const external = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const pkg = packageOf(input);
      if (pkg) bundled.set(pkg, (bundled.get(pkg) ?? 0) + bytesInOutput);
    }
    for (const imp of output.imports) {
      if (imp.external && !imp.path.startsWith('node:')) external.add(imp.path.split('/').slice(0, imp.path.startsWith('@') ? 2 : 1).join('/'));
    }
  }
  return { bundled, external };
}

async function bundle(fn: Fn, outdir: string, deployed: boolean): Promise<Bundle> {
  const file = path.join(outdir, fn.name, 'index.js');
  const result = await build({
    entryPoints: [path.join(REPO, fn.entry)],
    outfile: file,
    bundle: true,
    platform: 'node',
    target: TARGET,
    format: 'cjs',
    minify: true,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: REPO,
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
      // What Lambda and the stack set; the handlers read them lazily, Powertools at import.
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
  if (out.status !== 0 || !Number.isFinite(ms)) throw new Error(`init of ${file} failed (status ${out.status}): ${out.stderr.slice(-2000)}`);
  return ms;
}

export const coldStart: BenchCase = {
  id: 'cold-start',
  title: 'Cold start',
  description:
    `Every function of the route table bundled with esbuild (platform node, target ${TARGET}, cjs, minify, bundle) and \`require()\`d in a fresh node process: module init only, median of the runs, all bundles interleaved. ` +
    'Two bundlings: self-contained (`@aws-sdk/*` bundled) and as deployed by lib/constructs/shop-function.ts (`@aws-sdk/*` external, loaded from node_modules in place of the runtime copy; linked source map with `--enable-source-maps`). Baseline: an empty handler bundled the same way. Which clients each bundle carries comes from the esbuild metafile, checked against the route\'s `needs`.',
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
        self.set(fn.name, await bundle(fn, dirs.self, false));
        deployed.set(fn.name, await bundle(fn, dirs.deployed, true));
      }
      const times = new Map<string, { self: number[]; deployed: number[] }>(fns.map((f) => [f.name, { self: [], deployed: [] }]));
      // Quick mode times a few functions only; every bundle is still built and checked.
      const timed = ctx.quick ? fns.filter((f) => QUICK_TIMED.includes(f.name)) : fns;
      for (let run = 0; run < runs; run++) {
        for (const fn of timed) {
          const t = times.get(fn.name) as { self: number[]; deployed: number[] };
          t.self.push(initTime((self.get(fn.name) as Bundle).file, false));
          t.deployed.push(initTime((deployed.get(fn.name) as Bundle).file, true));
        }
        ctx.log(`init run ${run + 1}/${runs} done`);
      }
      const emptySelf = summarize(times.get('EmptyHandler')?.self ?? []).median;
      const emptyDeployed = summarize(times.get('EmptyHandler')?.deployed ?? []).median;
      const analysis = fns.map((fn) => {
        const s = self.get(fn.name) as Bundle;
        const d = deployed.get(fn.name) as Bundle;
        const { bundled } = packagesIn(s.metafile);
        const { external } = packagesIn(d.metafile);
        const carried = CLIENTS.filter((c) => bundled.has(c.pkg) || external.has(c.pkg));
        const unexpected = fn.name === 'EmptyHandler' ? [] : carried.filter((c) => !c.allowed(fn.needs));
        const t = times.get(fn.name) as { self: number[]; deployed: number[] };
        const initSelf = summarize(t.self);
        const initDeployed = summarize(t.deployed);
        const top = [...bundled].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([p, b]) => `${p} ${fmtBytes(b)}`);
        return { fn, s, d, carried, unexpected, initSelf, initDeployed, top, bundledPackages: Object.fromEntries(bundled), externalPackages: [...external] };
      });
      const over = (a: (typeof analysis)[number], value: number, empty: number) =>
        a.fn.name === 'EmptyHandler' ? '(baseline)' : Number.isFinite(value) ? `+${fmtMs(value - empty)}` : 'not timed';
      const rows = analysis.map((a) => [
        a.fn.name,
        fmtBytes(a.s.bytes),
        fmtMs(a.initSelf.median),
        over(a, a.initSelf.median, emptySelf),
        fmtBytes(a.d.bytes),
        fmtMs(a.initDeployed.median),
        over(a, a.initDeployed.median, emptyDeployed),
        a.carried.map((c) => c.label).join(', ') || '-',
        a.fn.name === 'EmptyHandler' ? '' : a.unexpected.length ? `**NO**: ${a.unexpected.map((c) => c.label).join(', ')}` : 'yes',
      ]);
      const authorizer = analysis.find((a) => a.fn.name === AUTHORIZER.name);
      const authorizerCarries = authorizer?.carried.filter((c) => c.pkg === 'ioredis' || c.pkg === '@aws-sdk/client-dynamodb').map((c) => c.label) ?? [];
      const getProduct = analysis.find((a) => a.fn.name === 'GetProduct');
      const getDelta = (getProduct?.initSelf.median ?? NaN) - emptySelf;
      const getDeltaDeployed = (getProduct?.initDeployed.median ?? NaN) - emptyDeployed;
      const offenders = analysis.filter((a) => a.unexpected.length > 0);
      const floors: FloorCheck[] = [
        {
          floor: 'each function imports only what it uses (clients vs its `needs` in functions/routes.ts)',
          measured: offenders.length ? offenders.map((a) => `${a.fn.name} carries ${a.unexpected.map((c) => c.label).join(', ')}`).join('; ') : `all ${analysis.length - 1} functions`,
          met: offenders.length === 0,
        },
        { floor: 'the authorizer carries no Redis or DynamoDB client', measured: authorizerCarries.length ? `carries ${authorizerCarries.join(', ')}` : `neither (bundle ${fmtBytes(authorizer?.s.bytes ?? 0)})`, met: authorizerCarries.length === 0 },
        {
          floor: 'the product-read function adds at most 150 ms of init over the empty handler',
          measured: `GetProduct +${fmtMs(getDelta)} self-contained (${fmtMs(getProduct?.initSelf.median ?? NaN)} vs ${fmtMs(emptySelf)}), +${fmtMs(getDeltaDeployed)} as deployed`,
          met: getDelta <= 150 && getDeltaDeployed <= 150,
        },
      ];
      return {
        headline: [`GetProduct: ${fmtBytes(getProduct?.s.bytes ?? 0)} self-contained, init +${fmtMs(getDelta)} over an empty handler (${fmtBytes(getProduct?.d.bytes ?? 0)} and +${fmtMs(getDeltaDeployed)} as deployed).`],
        tables: [
          {
            title: `Cold start: minified bundle size and module init (median of ${runs} fresh processes${ctx.quick ? `; quick mode times ${QUICK_TIMED.join(', ')} only` : ''})`,
            columns: ['function', 'size, self-contained', 'init', 'over empty', 'size, as deployed', 'init', 'over empty', 'clients carried', 'only what it uses'],
            rows,
            notes: [
              '"as deployed" leaves @aws-sdk/* to the Lambda runtime, so its size excludes the SDK but its init includes loading the SDK from node_modules.',
              'Init is `require()` of the bundle only (no handler call, no runtime bootstrap); Lambda adds its own runtime start to both.',
            ],
          },
          {
            title: 'Largest packages per self-contained bundle',
            columns: ['function', 'largest packages (bytes in output)'],
            rows: analysis.map((a) => [a.fn.name, a.top.join(', ') || '-']),
          },
        ],
        floors,
        data: {
          runs,
          target: TARGET,
          functions: analysis.map((a) => ({
            name: a.fn.name,
            entry: a.fn.entry,
            needs: a.fn.needs,
            selfContained: { bytes: a.s.bytes, init: a.initSelf, samples: times.get(a.fn.name)?.self },
            deployed: { bytes: a.d.bytes, init: a.initDeployed, samples: times.get(a.fn.name)?.deployed },
            carried: a.carried.map((c) => c.pkg),
            unexpected: a.unexpected.map((c) => c.pkg),
            bundledPackages: a.bundledPackages,
            externalPackages: a.externalPackages,
          })),
        },
      };
    } finally {
      fs.rmSync(dirs.self, { recursive: true, force: true });
      fs.rmSync(dirs.deployed, { recursive: true, force: true });
    }
  },
};
