/**
 * `npm start` as a user runs it: its own DynamoDB Local and redis-server, the banner with tokens
 * and examples, one `ready` line, a working API, and Ctrl-C (SIGINT to the process group, as a
 * terminal sends it) that exits 0 and leaves no process behind. And `npm run token`.
 */
import { spawnSync } from 'node:child_process';
import { jwtVerify } from 'jose';
import { DEV_JWT_SECRET } from '../../local/dev-defaults';
import { REPO_ROOT } from '../../local/handlers';
import { freePorts } from '../../local/services/free-port';
import { startNpmStart, userEnv, type NpmStart } from '../support/npm-start';

describe('npm start', () => {
  let started: NpmStart | undefined;

  afterEach(() => {
    // Never leave a stack running if an assertion failed half-way.
    started?.kill();
  });

  it('starts everything, prints tokens, examples and one ready line, serves the API, and stops cleanly on Ctrl-C', async () => {
    const [port, wsPort] = (await freePorts(2)) as [number, number];
    started = await startNpmStart({
      args: ['--', '--no-seed'],
      env: { PORT: String(port), WS_PORT: String(wsPort) },
      readyTimeoutMs: 120_000,
    });
    const output = started.output();

    // One ready line, naming both fronts.
    const readyLines = output.split('\n').filter((line) => line.includes('ready'));
    expect(readyLines).toEqual([`shop-edge local stack ready: REST http://127.0.0.1:${port}, WebSocket ws://127.0.0.1:${wsPort}`]);
    expect(output).toMatch(/\[dynamodb\] DynamoDB Local on http:\/\/127\.0\.0\.1:\d+ \(in memory\)/);
    expect(output).toMatch(/\[redis\] redis-server on redis:\/\/127\.0\.0\.1:\d+/);
    expect(output).toContain(`curl -i -H "Authorization: Bearer $ACME_TOKEN" http://127.0.0.1:${port}/api/products`);
    expect(output).toContain(`ws://127.0.0.1:${wsPort}/?token=$ACME_TOKEN`);

    // The printed tokens are dev tokens that the real authorizer accepts.
    const token = /export ACME_TOKEN=(\S+)/.exec(output)?.[1] as string;
    const { payload } = await jwtVerify(token, new TextEncoder().encode(DEV_JWT_SECRET), {
      issuer: 'shop-edge-local',
      audience: 'shop-edge',
    });
    expect(payload).toMatchObject({
      tenantId: 'acme',
      sub: expect.any(String),
      permissions: expect.arrayContaining(['products:read', 'orders:write']),
    });
    // A cold JVM can make the very first DynamoDB Local call slower than /health's probe budget.
    let health = await fetch(`http://127.0.0.1:${port}/health`);
    for (let i = 0; health.status !== 200 && i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      health = await fetch(`http://127.0.0.1:${port}/health`);
    }
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ data: { status: 'ok', redis: 'ok', dynamodb: 'ok' } });
    const products = await fetch(`http://127.0.0.1:${port}/api/products`, { headers: { Authorization: `Bearer ${token}` } });
    expect(products.status).toBe(200);
    const unknown = await fetch(`http://127.0.0.1:${wsPort}/local/@connections/AAAAAAAAAAAAAAA=`, { method: 'POST', body: 'x' });
    expect(unknown.status).toBe(410);

    // Ctrl-C
    const { code, signal, gone } = await started.interrupt();
    // Our process exits 0; npm reports the interrupt of its `sh -c` (which dies of SIGINT itself).
    expect(code === 0 || signal === 'SIGINT').toBe(true);
    expect(started.output()).toContain('[stack] SIGINT: stopping');
    expect(started.output()).toContain('[stack] stopped');
    expect(gone).toBe(true);
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  }, 200_000);
});

describe('npm run token', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync('npm', ['run', '-s', 'token', '--', ...args], { cwd: REPO_ROOT, env: userEnv(env), encoding: 'utf8', timeout: 60_000 });

  it('mints an HS256 token with the dev secret, issuer and audience when nothing is set', async () => {
    const result = run(['--tenant', 'acme', '--perm', 'products:read', '--perm', 'stock:write']);
    expect(result.status).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const { payload, protectedHeader } = await jwtVerify(lines[0] as string, new TextEncoder().encode(DEV_JWT_SECRET), {
      issuer: 'shop-edge-local',
      audience: 'shop-edge',
    });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload).toMatchObject({
      tenantId: 'acme',
      permissions: ['products:read', 'stock:write'],
      sub: expect.any(String),
      exp: expect.any(Number),
    });
  }, 60_000);

  it('uses JWT_SECRET, JWT_ISSUER and JWT_AUDIENCE when set', async () => {
    const secret = 'a-secret-from-the-environment-0123456789abcdef';
    const result = run(['--tenant', 't1', '--perm', 'orders:read'], { JWT_SECRET: secret, JWT_ISSUER: 'me', JWT_AUDIENCE: 'you' });
    expect(result.status).toBe(0);
    const { payload } = await jwtVerify(result.stdout.trim(), new TextEncoder().encode(secret), { issuer: 'me', audience: 'you' });
    expect(payload.permissions).toEqual(['orders:read']);
  }, 60_000);

  it('refuses an unknown permission or a malformed tenant', () => {
    expect(run(['--tenant', 'acme', '--perm', 'root']).status).toBe(2);
    expect(run(['--tenant', 'not a tenant']).status).toBe(2);
  }, 60_000);
});
