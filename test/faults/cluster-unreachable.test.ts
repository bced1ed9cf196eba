/**
 * A Redis cluster that cannot be reached, seen through the REST API (local REST front, real
 * handlers, DynamoDB Local) wired to an ioredis Cluster client built by createRedisClient as in
 * Lambda (REDIS_CLUSTER=true, 50 ms command timeout). L1 is off, so every hit is an L2 hit and
 * "served from DynamoDB" is visible as a repository call.
 *  - every master of a running cluster killed (SIGKILL): every REST read answers 200 with the
 *    right data, each within 2 s, and reads are Redis hits again once the masters are back;
 *  - the cluster unreachable at a cold start (its address accepts connections and never answers,
 *    or resets them): the same, from the first request; hits once it is reachable.
 * The front's integration timeout is 5 s, so a read that hangs shows as a 504 rather than a stuck test.
 */
import net from 'node:net';
import { generationKeys } from '../../functions/cache/keys';
import { RedisL2Store } from '../../functions/cache/l2-store';
import { createRedisClient, type RedisClient } from '../../functions/shared/clients/redis';
import { startRedisCluster, type RedisCluster } from '../../local/services/redis-server';
import { tenantId } from '../api/api-fixtures';
import { readJson, startFaultApi, until, type FaultApi } from './fault-fixtures';

jest.setTimeout(90_000);

const BOUND_MS = 2000;
const CACHED_READS = ['/api/products/lamp', '/api/products', '/api/marketplace/products?limit=100'];

let cluster: RedisCluster;
let api: FaultApi;
const clients: RedisClient[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  api = await startFaultApi('cluster-unreachable', { frontTimeoutMs: 5000 });
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await (api as FaultApi | undefined)?.close();
  await (cluster as RedisCluster | undefined)?.stop();
});

/** A cluster client as Lambda builds it (createRedisClient, 50 ms command timeout). */
function clusterClient(startup: { host: string; port: number }): RedisClient {
  const client = createRedisClient({ url: `redis://${startup.host}:${String(startup.port)}`, cluster: true, commandTimeoutMs: 50 });
  client.on('error', () => undefined); // an unreachable cluster is expected here
  client.on('node error', () => undefined);
  clients.push(client);
  return client;
}

/** Creates a tenant's products; returns the reads' expected data. */
async function seed(tenant: string): Promise<{ token: string; expected: Record<string, (data: any) => void> }> {
  const token = await api.token(tenant);
  const created = await api.call('POST', '/api/products', {
    token,
    body: { id: 'lamp', name: 'Lamp', price: 2500, category: 'light', listed: true },
  });
  expect(created.status).toBe(201);
  const product = (await readJson(created)).data;
  expect(
    (await api.call('POST', '/api/products', { token, body: { id: 'desk', name: 'Desk', price: 9000, category: 'furniture' } })).status,
  ).toBe(201);
  return {
    token,
    expected: {
      '/api/products/lamp': (data) => expect(data).toEqual(product),
      '/api/products': (data) => expect(data.map((p: { id: string }) => p.id)).toEqual(['desk', 'lamp']),
      '/api/marketplace/products?limit=100': (data) => expect(data).toEqual(expect.arrayContaining([product])),
    },
  };
}

/** Every cached read once: each 200, within the bound, with the right data. */
async function readAll(token: string, expected: Record<string, (data: any) => void>): Promise<void> {
  for (const path of CACHED_READS) {
    const started = Date.now();
    const response = await api.call('GET', path, { token: path.includes('marketplace') ? null : token });
    const took = Date.now() - started;
    expect([path, response.status]).toEqual([path, 200]);
    expect([path, took < BOUND_MS]).toEqual([path, true]);
    expected[path]?.((await readJson(response)).data);
  }
}

/** True when a round of reads made no repository call: all of them Redis hits. */
async function servedByRedis(token: string, expected: Record<string, (data: any) => void>): Promise<boolean> {
  await readAll(token, expected); // fills what is missing
  const before = api.repositoryCalls();
  await readAll(token, expected);
  return api.repositoryCalls() === before;
}

it('every master killed: reads answer 200 from DynamoDB within 2 s, and hits resume when the masters are back', async () => {
  const [first] = cluster.startupNodes;
  api.wire({ l2: new RedisL2Store(clusterClient(first!)), l1: false });
  const { token, expected } = await seed(tenantId('allkilled'));
  await until(() => servedByRedis(token, expected), 10_000, 'reads served by Redis before the outage');

  await Promise.all(cluster.nodes.map((n) => n.kill()));
  try {
    const down = api.repositoryCalls();
    for (let round = 0; round < 4; round++) await readAll(token, expected);
    expect(api.repositoryCalls() - down).toBeGreaterThanOrEqual(4 * CACHED_READS.length);
  } finally {
    // Same ports, same cluster config files: the cluster comes back as it was (without its data).
    await Promise.all(cluster.nodes.map((n) => n.restart()));
  }
  await until(() => servedByRedis(token, expected), 30_000, 'reads served by Redis again');
});

type Behaviour = 'hold' | 'reset' | 'forward';

/** The cluster's address as a client sees it: a proxy that can blackhole, reset or forward connections. */
async function startAddress(target: { host: string; port: number }, initial: Behaviour) {
  let behaviour = initial;
  const held = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    if (behaviour === 'hold') {
      held.add(socket); // accepted, never answered
      socket.on('close', () => held.delete(socket));
      return;
    }
    if (behaviour === 'reset') {
      socket.resetAndDestroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: '127.0.0.1',
    port: (server.address() as net.AddressInfo).port,
    behave(next: Behaviour) {
      behaviour = next;
      for (const socket of held) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of held) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

it.each([
  ['blackholed (accepts, never answers)', 'hold' as const],
  ['resetting every connection', 'reset' as const],
])(
  'unreachable at a cold start, %s: reads answer 200 from DynamoDB within 2 s from the first, hits once reachable',
  async (_label, behaviour) => {
    const address = await startAddress(cluster.startupNodes[0]!, behaviour);
    try {
      // Cold start: the client is created with the cluster unreachable, and the first request comes at once.
      const services = api.wire({ l2: new RedisL2Store(clusterClient(address)), l1: false });
      const tenant = tenantId('cold');
      const { token, expected } = await seed(tenant);
      const down = api.repositoryCalls();
      for (let round = 0; round < 4; round++) await readAll(token, expected);
      expect(api.repositoryCalls() - down).toBeGreaterThanOrEqual(4 * CACHED_READS.length);

      address.behave('forward');
      // The outage's writes could not bump their generations in Redis; in AWS the Invalidate
      // consumer bumps them again (retrying) from the stream: here, as soon as Redis takes it.
      const written = [generationKeys.product(tenant, 'lamp'), generationKeys.product(tenant, 'desk'), generationKeys.productLists(tenant)];
      await until(() => services.cache.invalidate([...written, generationKeys.marketplace()]), 30_000, 'the bump reaches Redis');
      await until(() => servedByRedis(token, expected), 30_000, 'reads served by Redis once it is reachable');
    } finally {
      await address.close();
    }
  },
);
