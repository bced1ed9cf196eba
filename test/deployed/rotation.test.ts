/**
 * Rotating the cache's AUTH token under load, in the order docs/deploy.md gives ("Rotate the cache
 * AUTH token"), on the synthesized dev app as deployed: a TLS cluster with AUTH, the token in
 * Secrets Manager, each function in containers of its own. Readers call GetProduct and
 * ListProducts all along; not one read may fail at any step:
 *  1. ROTATE: every node accepts the old and the new token (as ElastiCache's ROTATE strategy);
 *  3. the secret gets the new token;
 *  4. the cache clients' containers are recycled (a configuration update), so new containers
 *     read the new token; ListProducts is left out, as an operator who skipped it would;
 *  5. SET: only the new token is accepted, and every connection drops (as a failover would):
 *     ListProducts' containers meet WRONGPASS, read the secret again and reconnect.
 * Afterwards the reads are served through the cache again, with the new token.
 */
import { Redis } from 'ioredis';
import { startDeployedStack, type DeployedStack } from '../../local/deployed/stack';
import { synthesizeApp } from '../../local/deployed/synth';
import { monitorRedis, type RedisMonitor } from '../support/redis-monitor';
import { dynamoDbEndpoint, uniqueId } from '../support';

jest.setTimeout(180_000);

const tenant = uniqueId('rot').replace(/[^A-Za-z0-9_-]/g, '_');
const NEW_TOKEN = 'rotated0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU';
/** Readers at once; each pauses between reads, so the stage's throttle (50/s in dev) is never met. */
const READERS = 6;
const PAUSE_MS = 150;
/** Users the readers take turns with: the per-user limit (100 a minute) is never met either. */
const USERS = 40;

let stack: DeployedStack;
let admins: Redis[] = [];
let tokens: string[] = [];
let secretArn: string;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  const assemblyDir = process.env.SHOP_EDGE_TEST_ASSEMBLY ?? (await synthesizeApp({ envName: 'dev' })).directory;
  stack = await startDeployedStack({
    assemblyDir,
    dynamoDbEndpoint: dynamoDbEndpoint(),
    nameSalt: uniqueId('rotation'),
    seed: false,
    web: false,
    // Free ports, as every other stack of the suite: the defaults (3000, 3001) are npm start's, and
    // another suite's stack on them at the same moment made this one fail to listen.
    port: 0,
    wsPort: 0,
  });
  const [cache] = stack.caches;
  if (cache?.password === undefined) throw new Error('the dev app has no cache with AUTH: nothing to rotate');
  admins = cache.adminNodes.map(
    (node) => new Redis({ host: node.host, port: node.port, password: cache.password, maxRetriesPerRequest: 1 }),
  );
  const getProduct = [...stack.deployment.functions.values()].find((f) => f.environment.REDIS_AUTH_SECRET_ARN !== undefined);
  secretArn = getProduct?.environment.REDIS_AUTH_SECRET_ARN ?? '';
  expect(secretArn).toMatch(/^arn:aws:secretsmanager:/);
  tokens = await Promise.all(Array.from({ length: USERS }, (_, i) => stack.mintToken({ tenantId: tenant, userId: `reader-${i}` })));
  const created = await fetch(`${stack.restUrl}/api/products`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${tokens[0]}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ id: 'lamp', name: 'Lamp', price: 2500, category: 'light' }),
  });
  expect(created.status).toBe(201);
}, 180_000);

afterAll(async () => {
  for (const admin of admins) admin.disconnect();
  await (stack as DeployedStack | undefined)?.stop();
});

/** Every node, masters and replicas: ElastiCache applies a token change to each. */
async function onEveryNode(...args: [string, ...string[]]): Promise<void> {
  await Promise.all(admins.map((admin) => admin.call(...args)));
}

const cacheClients = () => [...stack.deployment.functions.values()].filter((f) => f.environment.REDIS_AUTH_SECRET_ARN !== undefined);
const secretReads = () => stack.secretsManager.calls().filter((c) => c.operation === 'GetSecretValue').length;

it('rotates the AUTH token in the runbook order with every read answered 200, and the cache in use again after', async () => {
  const outcomes: { path: string; status: number; step: string }[] = [];
  let step = 'before';
  let running = true;
  let turn = 0;
  const reader = async (path: string) => {
    while (running) {
      const token = tokens[turn++ % USERS] as string;
      const status = await fetch(`${stack.restUrl}${path}`, {
        headers: { Authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(10_000),
      }).then(
        async (response) => {
          await response.arrayBuffer();
          return response.status;
        },
        () => 0, // no answer within 10 s
      );
      outcomes.push({ path, status, step });
      await sleep(PAUSE_MS);
    }
  };
  const readers = Array.from({ length: READERS }, (_, i) => reader(i % 2 === 0 ? '/api/products/lamp' : '/api/products'));
  const readsOf = (name: string) => outcomes.filter((o) => o.step === name).length;
  const until = async (name: string, reads: number) => {
    for (let waited = 0; readsOf(name) < reads && waited < 60_000; waited += 50) await sleep(50);
  };

  await until('before', 20);
  step = '1 ROTATE (old and new accepted)';
  await onEveryNode('ACL', 'SETUSER', 'default', `>${NEW_TOKEN}`);
  await until(step, 20);
  step = '3 secret updated';
  stack.secretsManager.putValue(secretArn, NEW_TOKEN);
  await until(step, 20);
  step = '4 containers recycled';
  const skipped = cacheClients().filter((f) => f.logicalId.startsWith('ListProducts'));
  expect(skipped).toHaveLength(1);
  for (const f of cacheClients()) if (!skipped.includes(f)) stack.pools.get(f.name)?.recycle();
  await until(step, 20);
  const readsBeforeSet = secretReads();
  step = '5 SET (new only), connections dropped';
  await onEveryNode('ACL', 'SETUSER', 'default', 'resetpass', `>${NEW_TOKEN}`);
  // The admin connections stay: CLIENT KILL skips the caller (SKIPME yes, its default).
  await onEveryNode('CLIENT', 'KILL', 'TYPE', 'normal');
  await until(step, 40);

  // After: the reads go through the cache, authenticated with the new token.
  const monitors: RedisMonitor[] = await Promise.all(
    (stack.caches[0]?.adminNodes ?? []).map((node) => monitorRedis(node.host, node.port, 2000, NEW_TOKEN)),
  );
  try {
    // GetProduct's entry and ListProducts' (the containers that kept the old token, reconnected).
    const seen = (part: string) => monitors.some((m) => m.lines().some((line) => line.includes(tenant) && line.includes(part)));
    for (let waited = 0; waited < 30_000 && !(seen(':p:lamp') && seen(':list:')); waited += 100) await sleep(100);
    running = false;
    await Promise.all(readers);
    expect({ product: seen(':p:lamp'), list: seen(':list:') }).toEqual({ product: true, list: true });
  } finally {
    running = false;
    for (const m of monitors) m.stop();
  }

  const failed = outcomes.filter((o) => o.status !== 200);
  expect(failed).toEqual([]);
  expect(outcomes.length).toBeGreaterThanOrEqual(120);
  // ListProducts' containers kept the old token: WRONGPASS made them read the secret again.
  expect(secretReads()).toBeGreaterThan(readsBeforeSet);
});
