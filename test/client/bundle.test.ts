/**
 * The browser bundle: one file, no imports left, and it works where the global WebSocket is the
 * runtime's own (a plain Node process here, as in a browser: no `ws`, no status on refusals).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { FakeServer } from './fake-server';

const run = promisify(execFile);

let dir: string;
let bundle: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shop-edge-client-'));
  const result = await build({
    entryPoints: [join(__dirname, '../../client/src/index.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    outfile: join(dir, 'shop-edge-client.js'),
  });
  bundle = result.outputFiles[0]?.text ?? '';
  writeFileSync(join(dir, 'shop-edge-client.js'), bundle);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('bundles to one small file without dependencies', () => {
  expect(bundle).not.toMatch(/^\s*import\s/m);
  expect(bundle).not.toMatch(/\brequire\(/);
  expect(bundle).toMatch(/export\s*\{[^}]*\bconnect\b/);
  expect(Buffer.byteLength(bundle)).toBeLessThan(40_000);
});

test("leaves the protocol's schemas out (they are for the AsyncAPI document and the types)", () => {
  // A schema the bundler cannot prove unused (a spread, a template literal) would land here.
  expect(bundle).not.toContain('x-prefix');
  expect(bundle).not.toContain('in_stock above the low-stock threshold');
});

test('runs on the global WebSocket: subscribes, receives, closes', async () => {
  // Prepare
  const server = await FakeServer.start({
    snapshot: () => ({ tenantId: 't1', metrics: { ordersToday: 4, revenueToday: 900, lowStockCount: 1 } }),
  });
  const script = join(dir, 'main.mjs');
  writeFileSync(
    script,
    `import { connect } from './shop-edge-client.js';
const client = connect(process.env.URL, 'token-1', { backoffBaseMs: 10 });
const timeout = setTimeout(() => { console.log(JSON.stringify({ timeout: true, state: client.state })); process.exit(1); }, 10000);
client.subscribe('dashboard', (message) => {
  console.log(JSON.stringify(message));
  client.close();
  clearTimeout(timeout);
});
`,
  );
  try {
    // Act
    const { stdout } = await run(process.execPath, [script], { env: { ...process.env, URL: server.url }, timeout: 20_000 });

    // Assess
    expect(JSON.parse(stdout.trim())).toEqual({
      type: 'subscribed',
      channel: 'dashboard',
      snapshot: { tenantId: 't1', metrics: { ordersToday: 4, revenueToday: 900, lowStockCount: 1 } },
    });
    expect(server.connections[0]?.token).toBe('token-1');
  } finally {
    await server.stop();
  }
});
