/**
 * The as-deployed mode starts from the real synthesized dev app and its seeded demo works: a demo
 * tenant's product with the printed (RS256) token, a WebSocket subscribe answered with a snapshot;
 * and `npm start -- --as-deployed`, as a developer runs it, prints its one `ready` line and stops
 * on Ctrl-C.
 */
import { startDeployedStack, type DeployedStack } from '../../local/deployed/stack';
import { synthesizeApp } from '../../local/deployed/synth';
import { freePorts } from '../../local/services/free-port';
import { openSocket, subscribe } from '../realtime/realtime-fixtures';
import { dynamoDbEndpoint, uniqueId } from '../support';
import { startNpmStart, type NpmStart } from '../support/npm-start';

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

describe('npm start -- --as-deployed', () => {
  let started: NpmStart | undefined;

  afterEach(() => {
    // Never leave a stack running if an assertion failed half-way.
    started?.kill();
  });

  it('prints one ready line naming both fronts, serves the API, and stops on Ctrl-C', async () => {
    const [port, wsPort] = (await freePorts(2)) as [number, number];
    started = await startNpmStart({
      args: ['--', '--as-deployed', '--no-seed', '--quiet', '--port', String(port), '--ws-port', String(wsPort)],
      readyTimeoutMs: 150_000,
    });
    const output = started.output();
    const readyLines = output.split('\n').filter((line) => line.includes('ready'));
    expect(readyLines).toEqual([
      `shop-edge local stack ready (as deployed): REST http://127.0.0.1:${port}, WebSocket ws://127.0.0.1:${wsPort}`,
    ]);
    const token = /export ACME_TOKEN=(\S+)/.exec(output)?.[1];
    expect(token).toBeDefined();
    const list = await fetch(`http://127.0.0.1:${port}/api/products`, { headers: { Authorization: `Bearer ${token}` } });
    expect(list.status).toBe(200);

    // The stack's own process stops asynchronously after npm: interrupt() waits for its last line.
    const { code, signal, gone } = await started.interrupt(40_000);
    // The stack's process exits 0; npm reports the interrupt of its `sh -c` (which dies of SIGINT itself).
    expect(code === 0 || signal === 'SIGINT').toBe(true);
    expect(started.output()).toContain('[stack] stopped');
    // Nothing of it is left behind (its DynamoDB Local, cache nodes and containers end with it).
    expect(gone).toBe(true);
  }, 240_000);
});
