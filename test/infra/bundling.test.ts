/**
 * `npm run synth` bundles every function with the esbuild in node_modules: minified, with a linked
 * source map, the AWS SDK left to the runtime, and never through Docker (a `docker` on PATH that
 * fails and records its calls proves it is not even tried).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { ShopFunction } from '../../lib/constructs/shop-function';

jest.setTimeout(60_000);

describe('function bundling', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'shop-edge-bundling-'));
  const dockerCalls = path.join(work, 'docker-calls.log');
  const originalPath = process.env.PATH;
  let bundle: string;
  let files: string[];

  beforeAll(() => {
    const fakeDocker = path.join(work, 'bin');
    fs.mkdirSync(fakeDocker);
    fs.writeFileSync(path.join(fakeDocker, 'docker'), `#!/bin/sh\necho "$@" >> ${dockerCalls}\nexit 1\n`, { mode: 0o755 });
    process.env.PATH = `${fakeDocker}${path.delimiter}${originalPath}`;

    const app = new App({ outdir: path.join(work, 'cdk.out') });
    const stack = new Stack(app, 'Bundling');
    new ShopFunction(stack, 'Fixture', { entry: 'test/infra/fixtures/handler.ts' });
    const assembly = app.synth();
    const assetDir = fs.readdirSync(assembly.directory).find((f) => f.startsWith('asset.'))!;
    files = fs.readdirSync(path.join(assembly.directory, assetDir)).sort();
    bundle = fs.readFileSync(path.join(assembly.directory, assetDir, 'index.js'), 'utf8');
  });

  afterAll(() => {
    process.env.PATH = originalPath;
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('uses the local esbuild, never Docker', () => {
    expect(fs.existsSync(dockerCalls)).toBe(false);
    expect(files).toEqual(['index.js', 'index.js.map']);
  });

  it('minifies, links the source map, bundles dependencies and leaves the AWS SDK to the runtime', () => {
    // Minified: long lines (esbuild keeps only the dependencies' legal comments on lines of their own).
    expect(bundle.length / bundle.split('\n').length).toBeGreaterThan(500);
    expect(bundle.trimEnd().endsWith('//# sourceMappingURL=index.js.map')).toBe(true);
    expect(bundle).toContain('require("@aws-sdk/client-dynamodb")');
    expect(bundle).not.toMatch(/require\("zod"\)/);
  });
});
