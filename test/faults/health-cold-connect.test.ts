/**
 * /health in a cold container: the Redis probe's budget (500 ms) is for the server's answer to
 * PING, not for the container's first connect. Was a defect: the probe's budget included the
 * connect (TCP, TLS, AUTH, the token's secret read), so a cold container whose connect took longer
 * than 500 ms said "redis: down" (503) although Redis was fine. The wait for the connection is
 * bounded by the connect timeout (REDIS_CONNECT_TIMEOUT_MS): a Redis that never answers is still
 * down, and /health still answers.
 *
 * The handler runs as in a fresh container: its services are built from the environment (the
 * shared connection, as in Lambda), to the shared redis-server through a proxy that holds each new
 * connection before passing its bytes on: the slow handshake of a cold container (TLS and AUTH on
 * a CPU-starved Lambda), every byte delivered. ioredis checks readiness with INFO under the command
 * timeout, so the slow case runs with a command timeout that lets that check wait out the hold, as
 * a TLS handshake is waited for within the connect timeout.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { closeServices } from '../../functions/composition/lifecycle';
import { handler } from '../../functions/handlers/health';
import { resetConfig } from '../../functions/shared/config';
import { invoke } from '../../local/lambda-context';
import { redisSingleUrl, testTables } from '../support';

/** Three times the probe's budget: a cold connect that slow failed the probe before. */
const CONNECT_HOLD_MS = 1500;

interface HoldingProxy {
  readonly url: string;
  readonly connections: () => number;
  /** From now on, new connections are held for ever and the open ones are cut (Redis gone). */
  blackhole(): void;
  close(): Promise<void>;
}

/** Accepts at once; forwards each connection's bytes after `holdMs` (never, for Infinity). */
async function holdingProxy(target: URL, initialHoldMs: number): Promise<HoldingProxy> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let holdMs = initialHoldMs;
  const server: Server = createServer((client) => {
    accepted++;
    sockets.add(client);
    client.pause();
    client.on('error', () => undefined);
    client.on('close', () => sockets.delete(client));
    if (!Number.isFinite(holdMs)) return;
    setTimeout(() => {
      if (client.destroyed) return;
      const upstream = connect(Number(target.port), target.hostname);
      sockets.add(upstream);
      upstream.on('error', () => client.destroy());
      upstream.on('close', () => {
        sockets.delete(upstream);
        client.destroy();
      });
      client.on('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    }, holdMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => accepted,
    blackhole: () => {
      holdMs = Number.POSITIVE_INFINITY;
      for (const socket of sockets) socket.destroy();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const event = {
  resource: '/health',
  path: '/health',
  httpMethod: 'GET',
  headers: {},
  multiValueHeaders: {},
  queryStringParameters: null,
  multiValueQueryStringParameters: null,
  pathParameters: null,
  stageVariables: null,
  body: null,
  isBase64Encoded: false,
  requestContext: { identity: { sourceIp: '203.0.113.9' } },
} as unknown as APIGatewayProxyEvent;

const health = async () => {
  const result = await invoke<APIGatewayProxyEvent, APIGatewayProxyResult>(handler, event, {
    functionName: 'Health',
    timeoutMs: 20_000,
  });
  return { status: result.statusCode, body: JSON.parse(result.body) as unknown };
};

let saved: NodeJS.ProcessEnv;
let proxy: HoldingProxy | undefined;

beforeAll(async () => {
  await testTables('health');
  saved = { ...process.env };
});

afterEach(async () => {
  await closeServices();
  await proxy?.close();
  proxy = undefined;
  process.env = { ...saved };
  resetConfig();
});

async function coldContainer(redisUrl: string, timeouts: { connectMs: number; commandMs?: number }): Promise<void> {
  await closeServices();
  Object.assign(process.env, {
    REDIS_URL: redisUrl,
    REDIS_CONNECT_TIMEOUT_MS: String(timeouts.connectMs),
    REDIS_COMMAND_TIMEOUT_MS: String(timeouts.commandMs ?? 50),
  });
  delete process.env.REDIS_CLUSTER;
  delete process.env.REDIS_AUTH_SECRET_ARN;
  delete process.env.REDIS_AUTH_TOKEN;
  resetConfig();
}

describe('/health in a cold container', () => {
  it('says Redis is ok when the first connect takes longer than the probe budget, within the connect timeout', async () => {
    proxy = await holdingProxy(new URL(redisSingleUrl()), CONNECT_HOLD_MS);
    await coldContainer(proxy.url, { connectMs: 10_000, commandMs: 5000 });
    expect(await health()).toEqual({ status: 200, body: { data: { status: 'ok', redis: 'ok', dynamodb: 'ok' } } });
    expect(proxy.connections()).toBeGreaterThan(0);
    // Warm: the same container answers from its connection.
    expect(await health()).toEqual({ status: 200, body: { data: { status: 'ok', redis: 'ok', dynamodb: 'ok' } } });
  });

  it('after the first connect, a lost Redis is down within the probe budget, not after another connect timeout', async () => {
    proxy = await holdingProxy(new URL(redisSingleUrl()), 0);
    await coldContainer(proxy.url, { connectMs: 10_000 });
    expect(await health()).toEqual({ status: 200, body: { data: { status: 'ok', redis: 'ok', dynamodb: 'ok' } } });
    const seen = proxy.connections();
    proxy.blackhole();
    // The container's client has noticed: it is reconnecting (a new connection reached the proxy).
    for (let waited = 0; waited < 5000 && proxy.connections() === seen; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(proxy.connections()).toBeGreaterThan(seen);
    const started = Date.now();
    const answer = await health();
    // Half the connect timeout: waiting for a reconnect would take all of it.
    expect(Date.now() - started).toBeLessThan(5000);
    expect(answer).toMatchObject({
      status: 503,
      body: { error: { code: 'UNAVAILABLE', message: expect.stringContaining('redis unavailable') } },
    });
  });

  it('says Redis is down, and answers, when the connection never becomes ready within the connect timeout', async () => {
    proxy = await holdingProxy(new URL(redisSingleUrl()), Number.POSITIVE_INFINITY);
    await coldContainer(proxy.url, { connectMs: 1000 });
    const started = Date.now();
    const answer = await health();
    // Bounded by the connect timeout and the probe budget (with a loaded machine's slack), not hanging.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(answer).toEqual({
      status: 503,
      body: { error: { code: 'UNAVAILABLE', message: expect.stringContaining('redis unavailable') } },
    });
  });
});
