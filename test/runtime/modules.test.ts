/**
 * What a bundle finds at run time, as on Lambda: the runtime-provided @aws-sdk/* packages through
 * require() and import() alike, nothing else of the project's node_modules, and its source map when
 * its NODE_OPTIONS asks for it.
 */
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../local/handlers';
import { dynamoDbEndpoint } from '../support';
import { bundleFixture, closePools, payloadOf, removeBundles, startPool } from './helpers';

afterEach(closePools);
afterAll(removeBundles);

const PROJECT_MODULES = path.join(REPO_ROOT, 'node_modules');

describe('runtime-provided packages', () => {
  it('resolves @aws-sdk/* by require() from the runtime, to the real package with its own dependencies', async () => {
    const { pool } = await startPool('basic');
    const found = payloadOf(await pool.invoke({ action: 'require', name: '@aws-sdk/client-dynamodb' })) as { resolved: string };
    expect(found).toMatchObject({ found: true, exportType: 'object' });
    expect(found.resolved.startsWith(realpathSync(path.join(PROJECT_MODULES, '@aws-sdk', 'client-dynamodb')))).toBe(true);
  });

  it('resolves @aws-sdk/* by import(), from a CommonJS handler and statically from an ES module handler', async () => {
    const cjs = await startPool('basic');
    expect(payloadOf(await cjs.pool.invoke({ action: 'import', name: '@aws-sdk/client-dynamodb' }))).toMatchObject({
      found: true,
      client: 'function',
    });
    const esm = await startPool('esm');
    const loaded = payloadOf(await esm.pool.invoke({})) as { client: string; url: string };
    expect(loaded.client).toBe('function');
    expect(loaded.url).toBe(`file://${path.join(esm.pool.sandboxDir, 'var', 'task', 'index.mjs')}`);
  });

  it("never resolves the project's other packages, although they sit in its node_modules", async () => {
    expect(existsSync(path.join(PROJECT_MODULES, 'ioredis'))).toBe(true);
    const { pool } = await startPool('basic');
    expect(payloadOf(await pool.invoke({ action: 'require', name: 'ioredis' }))).toMatchObject({ found: false, code: 'MODULE_NOT_FOUND' });
    expect(payloadOf(await pool.invoke({ action: 'import', name: 'ioredis' }))).toMatchObject({
      found: false,
      code: 'ERR_MODULE_NOT_FOUND',
    });
  });

  it('fails the init of a bundle that left a package external which the runtime does not provide', async () => {
    const { pool } = await startPool('missing-package');
    const result = await pool.invoke({});
    expect(result).toMatchObject({ ok: false, kind: 'init-error', errorType: 'Runtime.ImportModuleError' });
    expect(!result.ok && result.errorMessage).toMatch(/^Error: Cannot find module 'ioredis'\nRequire stack:\n- .*\/var\/task\/index\.js/);
  });

  it('provides exactly the packages it is given', async () => {
    const { pool } = await startPool('basic', { runtimePackages: { packages: ['@aws-sdk/util-dynamodb'] } });
    expect(payloadOf(await pool.invoke({ action: 'require', name: '@aws-sdk/util-dynamodb' }))).toMatchObject({ found: true });
    expect(payloadOf(await pool.invoke({ action: 'require', name: '@aws-sdk/client-dynamodb' }))).toMatchObject({ found: false });
  });
});

describe('bundles', () => {
  it('runs an esbuild bundle that leaves @aws-sdk external against DynamoDB through the endpoint the network provides', async () => {
    const { pool } = await startPool(await bundleFixture('dynamodb.ts'), {
      serviceEndpoints: { AWS_ENDPOINT_URL_DYNAMODB: dynamoDbEndpoint() },
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    expect(payloadOf(await pool.invoke({}))).toMatchObject({ ok: true, listed: true });
  });

  it('maps stack traces to the source when the template sets NODE_OPTIONS=--enable-source-maps, and only then', async () => {
    const dir = await bundleFixture('throws.ts');
    const mapped = await startPool(dir, { environment: { NODE_OPTIONS: '--enable-source-maps' } });
    const withMaps = await mapped.pool.invoke({});
    expect(withMaps).toMatchObject({ kind: 'error', errorMessage: 'order o-1 is invalid' });
    expect(!withMaps.ok && withMaps.stack?.join('\n')).toMatch(/fixtures\/src\/throws\.ts:7:\d+/);

    const plain = await startPool(dir);
    const withoutMaps = await plain.pool.invoke({});
    const stack = !withoutMaps.ok ? (withoutMaps.stack?.join('\n') ?? '') : '';
    expect(stack).toMatch(/var\/task\/index\.js:\d+:\d+/);
    expect(stack).not.toContain('throws.ts');
  });
});
