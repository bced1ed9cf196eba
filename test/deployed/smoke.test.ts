/**
 * The as-deployed mode starts from the real synthesized dev app and its seeded demo works: a demo
 * tenant's product with the printed (RS256) token, a WebSocket subscribe answered with a snapshot;
 * and `npm start -- --as-deployed`, as a developer runs it, prints its one `ready` line and stops
 * on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { startDeployedStack, type DeployedStack } from '../../local/deployed/stack';
import { synthesizeApp } from '../../local/deployed/synth';
import { REPO_ROOT } from '../../local/handlers';
import { freePorts } from '../../local/services/free-port';
import { openSocket, subscribe } from '../realtime/realtime-fixtures';
import { dynamoDbEndpoint, uniqueId } from '../support';

describe('startDeployedStack on the synthesized dev app', () => {
  let stack: DeployedStack;

  beforeAll(async () => {
    const assemblyDir = process.env.SHOP_EDGE_TEST_ASSEMBLY ?? (await synthesizeApp({ envName: 'dev' })).directory;
    stack = await startDeployedStack({
      port: 0,
      wsPort: 0,
      assemblyDir,
      dynamoDbEndpoint: dynamoDbEndpoint(),
      nameSalt: uniqueId('smoke'),
      web: false,
    });
  }, 120_000);
  afterAll(async () => {
    await (stack as DeployedStack | undefined)?.stop();
  });

  it('seeds the demo: a seeded product answers 200 to a demo token, and a subscribe gets its snapshot', async () => {
    expect(stack.seedError).toBeUndefined();
    expect(stack.seed).toMatchObject({ tenants: 2, products: 40, orders: 6, existing: false });
    const token = stack.tokens.acme as string;
    expect(JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString('utf8'))).toMatchObject({ alg: 'RS256' });

    const response = await fetch(`${stack.restUrl}/api/products/espresso-beans`, { headers: { Authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { data: unknown }).data).toMatchObject({ id: 'espresso-beans', tenantId: 'acme' });

    const client = await openSocket(stack, token);
    try {
      const reply = await subscribe(client, 'product:espresso-beans', 20_000);
      expect(reply).toMatchObject({
        type: 'subscribed',
        channel: 'product:espresso-beans',
        snapshot: { productId: 'espresso-beans', stock: expect.any(Number), product: { id: 'espresso-beans' } },
      });
    } finally {
      await client.close();
    }
  });
});

/** The environment of a developer's shell: none of the variables the test harness set. */
function userEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const harness = new Set([
    'DYNAMODB_ENDPOINT',
    'AWS_ENDPOINT_URL_DYNAMODB',
    'AWS_ENDPOINT_URL_DYNAMODB_STREAMS',
    'REDIS_URL',
    'SHOP_TABLE_NAME',
    'CONNECTIONS_TABLE_NAME',
    'WS_MANAGEMENT_ENDPOINT',
    'JWT_SECRET',
    'JWT_ISSUER',
    'JWT_AUDIENCE',
    'CURSOR_KEY',
    'PORT',
    'WS_PORT',
  ]);
  return { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !harness.has(name))), ...extra };
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start -- --as-deployed', () => {
  let child: ChildProcess | undefined;

  afterEach(() => {
    // Never leave a stack running if an assertion failed half-way.
    if (child?.pid !== undefined && groupAlive(child.pid)) process.kill(-child.pid, 'SIGKILL');
  });

  it('prints one ready line naming both fronts, serves the API, and stops on Ctrl-C', async () => {
    const [port, wsPort] = (await freePorts(2)) as [number, number];
    let output = '';
    child = spawn('npm', ['start', '--', '--as-deployed', '--no-seed', '--quiet', '--port', String(port), '--ws-port', String(wsPort)], {
      cwd: REPO_ROOT,
      env: userEnv({}),
      detached: true, // its own process group, like a terminal's foreground job
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child?.on('exit', (code, signal) => resolve({ code, signal })),
    );
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));

    const deadline = Date.now() + 150_000;
    while (!/ready/.test(output)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`npm start -- --as-deployed did not get ready:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const readyLines = output.split('\n').filter((line) => line.includes('ready'));
    expect(readyLines).toEqual([
      `shop-edge local stack ready (as deployed): REST http://127.0.0.1:${port}, WebSocket ws://127.0.0.1:${wsPort}`,
    ]);
    const token = /export ACME_TOKEN=(\S+)/.exec(output)?.[1];
    expect(token).toBeDefined();
    const list = await fetch(`http://127.0.0.1:${port}/api/products`, { headers: { Authorization: `Bearer ${token}` } });
    expect(list.status).toBe(200);

    process.kill(-(child.pid as number), 'SIGINT');
    const { code, signal } = await exited;
    // The stack's process exits 0; npm reports the interrupt of its `sh -c` (which dies of SIGINT itself).
    expect(code === 0 || signal === 'SIGINT').toBe(true);
    // The stack's own process stops asynchronously after npm: wait for its last line.
    for (let i = 0; i < 300 && !output.includes('[stack] stopped'); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(output).toContain('[stack] stopped');
    // Nothing of it is left behind (its DynamoDB Local, cache nodes and containers end with it).
    for (let i = 0; i < 100 && groupAlive(child.pid as number); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(groupAlive(child.pid as number)).toBe(false);
  }, 200_000);
});
