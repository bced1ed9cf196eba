/**
 * The network as deployed: a destination outside the function's network is a dropped SYN (the
 * client's own connect timeout fires; the server never sees a connection, and nothing is refused),
 * for every way Node connects, for IPs and names alike; reachable destinations connect as usual.
 */
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createLocalCertificates } from '../../local/deployed/certificates';
import type { AddressInfo, Socket } from 'node:net';
import type { NetworkPolicy } from '../../local/runtime/function-pool';
import { dynamoDbEndpoint, redisSingleUrl } from '../support';
import { bundleFixture, closePools, payloadOf, removeBundles, startPool } from './helpers';

/** The client's timeout where the connection must be dropped: short, as the test waits for it. */
const CLIENT_TIMEOUT_MS = 300;
/** The client's timeout where the connection must succeed: generous, so a loaded machine cannot make it time out. */
const REACHABLE_TIMEOUT_MS = 10_000;
const CLIENTS = ['net', 'tls', 'http', 'fetch'] as const;

interface Probe {
  readonly result: 'connected' | 'timeout' | 'error';
  readonly code?: string;
  readonly status?: number;
  readonly elapsedMs: number;
}

interface Listening {
  readonly server: Server;
  readonly port: number;
  /** Connections the server accepted so far. */
  readonly connections: () => number;
}

async function listen(): Promise<Listening> {
  const server = createServer((_request, response) => response.end('ok'));
  const sockets = new Set<Socket>();
  let connections = 0;
  server.on('connection', (socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('close', () => {
    for (const socket of sockets) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, connections: () => connections };
}

let reachable: Listening;
let unreachable: Listening;

beforeAll(async () => {
  [reachable, unreachable] = await Promise.all([listen(), listen()]);
});

afterEach(closePools);

afterAll(async () => {
  await removeBundles();
  await Promise.all([reachable, unreachable].map((l) => new Promise((resolve) => l.server.close(resolve))));
});

async function probePool(network: NetworkPolicy) {
  const { pool, logs } = await startPool('network', { network });
  /** One connection attempt; `expect` says which timeout the client gets. */
  const probe = async (client: string, host: string, port: number, expect: 'dropped' | 'answered' = 'answered'): Promise<Probe> =>
    payloadOf(
      await pool.invoke({ client, host, port, timeoutMs: expect === 'dropped' ? CLIENT_TIMEOUT_MS : REACHABLE_TIMEOUT_MS }),
    ) as Probe;
  return { probe, logs };
}

describe('inside a VPC without NAT', () => {
  it.each(CLIENTS)('%s reaches an allowed destination and times out on its own timeout for any other', async (client) => {
    const { probe } = await probePool({ allow: [{ host: '127.0.0.1', port: reachable.port }] });
    const acceptedBefore = unreachable.connections();

    expect(await probe(client, '127.0.0.1', reachable.port)).toMatchObject({ result: 'connected' });
    const dropped = await probe(client, '127.0.0.1', unreachable.port, 'dropped');
    expect(dropped.result).toBe('timeout');
    expect(dropped.elapsedMs).toBeGreaterThanOrEqual(CLIENT_TIMEOUT_MS - 5);
    // The server is up: only the network kept the connection from it.
    expect(unreachable.connections()).toBe(acceptedBefore);
  });

  it('checks a name before any DNS lookup: a public name resolves in a VPC, but a connection to it never completes', async () => {
    const { probe, logs } = await probePool({ allow: [{ host: '127.0.0.1', port: reachable.port }] });
    expect(await probe('http', 'shop-edge-public-endpoint.invalid', 443, 'dropped')).toMatchObject({ result: 'timeout' });
    expect(await probe('fetch', 'shop-edge-public-endpoint.invalid', 443, 'dropped')).toMatchObject({ result: 'timeout' });
    expect(
      logs.some(
        (entry) =>
          entry.stream === 'platform' && entry.line.startsWith('network: connection to shop-edge-public-endpoint.invalid:443 dropped'),
      ),
    ).toBe(true);
  });

  it("lets the AWS SDK's connectionTimeout fire on an endpoint the VPC does not reach, and reach one it does", async () => {
    const endpoint = new URL(dynamoDbEndpoint());
    const dir = await bundleFixture('dynamodb.ts');
    const spec = {
      serviceEndpoints: { AWS_ENDPOINT_URL_DYNAMODB: endpoint.origin },
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    const isolated = await startPool(dir, { ...spec, network: { allow: [] } });
    const timedOut = payloadOf(await isolated.pool.invoke({ connectionTimeoutMs: CLIENT_TIMEOUT_MS })) as { elapsedMs: number };
    expect(timedOut).toMatchObject({ ok: false, name: 'TimeoutError' });
    expect(timedOut.elapsedMs).toBeGreaterThanOrEqual(CLIENT_TIMEOUT_MS - 5);

    const throughEndpoint = await startPool(dir, {
      ...spec,
      network: { allow: [{ host: endpoint.hostname, port: Number(endpoint.port) }] },
    });
    expect(payloadOf(await throughEndpoint.pool.invoke({ connectionTimeoutMs: REACHABLE_TIMEOUT_MS }))).toMatchObject({
      ok: true,
      listed: true,
    });
  });
});

describe('routes', () => {
  it('take a name the function asks for to the local endpoint that plays it, with TLS verified against that name', async () => {
    const certificates = await createLocalCertificates(['*.us-east-1.amazonaws.com']);
    const server = createHttpsServer({ cert: certificates.cert, key: certificates.key }, (_request, response) => response.end('aws'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const route = { host: 'dynamodb.us-east-1.amazonaws.com', port: 443, to: { host: '127.0.0.1', port } };
      const { pool } = await startPool('network', {
        network: { allow: [], routes: [route] },
        serviceEndpoints: { NODE_EXTRA_CA_CERTS: certificates.caFile },
      });
      const probe = (host: string) => pool.invoke({ client: 'https-fetch', host, port: 443, timeoutMs: REACHABLE_TIMEOUT_MS });
      expect(payloadOf(await probe('dynamodb.us-east-1.amazonaws.com'))).toMatchObject({ result: 'connected', status: 200, body: 'aws' });
      // Routed by name only: another name on the same certificate is still outside the network.
      expect(
        payloadOf(
          await pool.invoke({ client: 'https-fetch', host: 'sqs.us-east-1.amazonaws.com', port: 443, timeoutMs: CLIENT_TIMEOUT_MS }),
        ),
      ).toMatchObject({ result: 'error', code: 'TimeoutError' });
    } finally {
      server.close();
      await certificates.remove();
    }
  });
});

describe('outside a VPC', () => {
  it("lets ioredis's connectTimeout fire on a Redis that only the VPC reaches", async () => {
    const redis = new URL(redisSingleUrl());
    const dir = await bundleFixture('redis.ts', { external: [] });
    const outside = await startPool(dir, { network: { allow: 'any', blackhole: [{ host: redis.hostname, port: Number(redis.port) }] } });
    const timedOut = payloadOf(await outside.pool.invoke({ url: redis.href, connectTimeoutMs: CLIENT_TIMEOUT_MS })) as {
      elapsedMs: number;
    };
    expect(timedOut).toMatchObject({ ok: false, lastError: 'connect ETIMEDOUT' });
    expect(timedOut.elapsedMs).toBeGreaterThanOrEqual(CLIENT_TIMEOUT_MS - 5);

    const inside = await startPool(dir, { network: { allow: [{ host: redis.hostname, port: Number(redis.port) }] } });
    expect(payloadOf(await inside.pool.invoke({ url: redis.href, connectTimeoutMs: REACHABLE_TIMEOUT_MS }))).toMatchObject({
      ok: true,
      pong: 'PONG',
    });
  });

  it('reaches everything that is not black-holed, and a closed port is refused as usual', async () => {
    const { probe } = await probePool({ allow: 'any', blackhole: [{ port: unreachable.port }] });
    expect(await probe('net', '127.0.0.1', reachable.port)).toMatchObject({ result: 'connected' });
    expect(await probe('fetch', 'localhost', reachable.port)).toMatchObject({ result: 'connected', status: 200 });
    expect(await probe('net', '127.0.0.1', unreachable.port, 'dropped')).toMatchObject({ result: 'timeout' });

    const open = await probePool({ allow: 'any' });
    for (const client of CLIENTS) expect(await open.probe(client, '127.0.0.1', unreachable.port)).toMatchObject({ result: 'connected' });
    const closed = await listen();
    await new Promise((resolve) => closed.server.close(resolve));
    const refused = await open.probe('net', '127.0.0.1', closed.port);
    expect(refused).toMatchObject({ result: 'error', code: 'ECONNREFUSED' });
    expect(await open.probe('http', 'shop-edge-public-endpoint.invalid', 443)).toMatchObject({ result: 'error', code: 'ENOTFOUND' });
  });
});
