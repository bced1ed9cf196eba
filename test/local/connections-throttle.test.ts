/**
 * The account throttle of the local @connections endpoint, through the real
 * ApiGatewayManagementApiClient: one bucket for every caller and verb, API Gateway's 429
 * TooManyRequestsException on the wire, and the error the SDK (and ManagementApiNotifier) surface.
 */
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebSocket } from 'ws';
import { ManagementApiNotifier } from '../../functions/realtime/notifier';
import {
  ACCOUNT_THROTTLE,
  createConnectionsEndpoint,
  managementThrottleFromEnvironment,
  type ConnectionsEndpoint,
  type LiveConnection,
  type ManagementThrottle,
} from '../../local/connections-endpoint';
import { silentLogger } from '../../local/log';

const STAGE = 'local';
const CONNECTION = 'L0SM9cOFvHcCIhw=';

function fakeConnection(id: string): LiveConnection | undefined {
  if (id !== CONNECTION) return undefined;
  const ws = {
    OPEN: 1,
    readyState: 1,
    send(_data: Buffer, _options: unknown, callback: (error?: Error) => void) {
      callback();
    },
    close() {
      // counted by the answer (204) only
    },
  } as unknown as WebSocket;
  return { id, ws, connectedAt: Date.now(), lastActiveAt: Date.now(), sourceIp: '127.0.0.1', userAgent: 'test' };
}

const servers: Server[] = [];
const clients: ApiGatewayManagementApiClient[] = [];

async function serve(throttle?: ManagementThrottle): Promise<{ url: string; endpoint: ConnectionsEndpoint }> {
  const endpoint = createConnectionsEndpoint({
    registry: { get: fakeConnection },
    stage: STAGE,
    logger: silentLogger,
    ...(throttle !== undefined ? { throttle } : {}),
  });
  const server = createServer((req, res) => {
    endpoint.handle(req, res).catch(() => res.writeHead(500).end());
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/${STAGE}`, endpoint };
}

function client(endpoint: string): ApiGatewayManagementApiClient {
  const c = new ApiGatewayManagementApiClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  clients.push(c);
  return c;
}

afterAll(async () => {
  for (const c of clients) c.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

it('answers 429 TooManyRequestsException as API Gateway does once the bucket is empty', async () => {
  const { url } = await serve({ rateLimit: 0, burstLimit: 1 });
  const first = await fetch(`${url}/@connections/${encodeURIComponent(CONNECTION)}`, { method: 'POST', body: 'hello' });
  expect(first.status).toBe(200);
  const second = await fetch(`${url}/@connections/${encodeURIComponent(CONNECTION)}`, { method: 'POST', body: 'hello' });
  expect(second.status).toBe(429);
  expect(second.headers.get('x-amzn-errortype')).toBe('TooManyRequestsException');
  expect(second.headers.get('content-type')).toBe('application/json');
  expect(await second.json()).toEqual({ message: 'Too Many Requests' });
});

it('shares one bucket between every caller and verb, and the SDK surfaces a throttling error with status 429', async () => {
  const { url, endpoint } = await serve({ rateLimit: 0, burstLimit: 3 });
  const a = client(url);
  const b = client(url);
  await a.send(new PostToConnectionCommand({ ConnectionId: CONNECTION, Data: 'one' }));
  await b.send(new GetConnectionCommand({ ConnectionId: CONNECTION }));
  // A gone connection still takes its token: the throttle comes before the lookup.
  await expect(a.send(new PostToConnectionCommand({ ConnectionId: 'gone', Data: 'two' }))).rejects.toMatchObject({ name: 'GoneException' });
  for (const call of [
    () => b.send(new PostToConnectionCommand({ ConnectionId: CONNECTION, Data: 'three' })),
    () => a.send(new GetConnectionCommand({ ConnectionId: CONNECTION })),
    () => b.send(new DeleteConnectionCommand({ ConnectionId: CONNECTION })),
  ]) {
    const error = (await call().then(
      () => undefined,
      (e: unknown) => e,
    )) as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; $fault?: string } | undefined;
    expect(error).toMatchObject({ name: 'TooManyRequestsException', message: 'Too Many Requests', $fault: 'client' });
    expect(error?.$metadata?.httpStatusCode).toBe(429);
  }
  expect(endpoint.throttled()).toBe(3);
});

it('refills at its rate', async () => {
  const { url } = await serve({ rateLimit: 20, burstLimit: 1 });
  const c = client(url);
  await c.send(new PostToConnectionCommand({ ConnectionId: CONNECTION, Data: 'one' }));
  await expect(c.send(new PostToConnectionCommand({ ConnectionId: CONNECTION, Data: 'two' }))).rejects.toMatchObject({
    $metadata: { httpStatusCode: 429 },
  });
  await new Promise((resolve) => setTimeout(resolve, 120)); // 2.4 tokens at 20 a second, capped at the burst of 1
  await c.send(new PostToConnectionCommand({ ConnectionId: CONNECTION, Data: 'three' }));
});

it("is retried by ManagementApiNotifier's backoff, surfaces from it once its attempts are spent, and is an answer of attempt()", async () => {
  const { url, endpoint } = await serve({ rateLimit: 0, burstLimit: 1 });
  const notifier = new ManagementApiNotifier({ endpoint: url, maxAttempts: 3, baseDelayMs: 1 });
  expect(await notifier.post(CONNECTION, { n: 1 })).toBe('sent');
  await expect(notifier.post(CONNECTION, { n: 2 })).rejects.toMatchObject({
    name: 'TooManyRequestsException',
    $metadata: { httpStatusCode: 429 },
  });
  expect(endpoint.throttled()).toBe(3);
  // One attempt, the 429 an answer: for the fan-out, which paces itself on it.
  expect(await notifier.attempt(CONNECTION, { n: 3 })).toBe('throttled');
  expect(endpoint.throttled()).toBe(4);
});

describe('settings', () => {
  it("defaults to API Gateway's account throttle, and takes WS_MANAGEMENT_THROTTLE_RATE / _BURST", () => {
    expect(managementThrottleFromEnvironment({})).toEqual(ACCOUNT_THROTTLE);
    expect(ACCOUNT_THROTTLE).toEqual({ rateLimit: 10_000, burstLimit: 5_000 });
    expect(managementThrottleFromEnvironment({ WS_MANAGEMENT_THROTTLE_RATE: '200', WS_MANAGEMENT_THROTTLE_BURST: '50' })).toEqual({
      rateLimit: 200,
      burstLimit: 50,
    });
    expect(() => managementThrottleFromEnvironment({ WS_MANAGEMENT_THROTTLE_BURST: '0' })).toThrow(/WS_MANAGEMENT_THROTTLE_BURST/);
    expect(() => managementThrottleFromEnvironment({ WS_MANAGEMENT_THROTTLE_RATE: 'fast' })).toThrow(/WS_MANAGEMENT_THROTTLE_RATE/);
  });

  it('reads the environment when the endpoint is created without a throttle', async () => {
    const saved = { rate: process.env.WS_MANAGEMENT_THROTTLE_RATE, burst: process.env.WS_MANAGEMENT_THROTTLE_BURST };
    process.env.WS_MANAGEMENT_THROTTLE_RATE = '0';
    process.env.WS_MANAGEMENT_THROTTLE_BURST = '1';
    let served: Awaited<ReturnType<typeof serve>>;
    try {
      served = await serve();
    } finally {
      for (const [name, value] of [
        ['WS_MANAGEMENT_THROTTLE_RATE', saved.rate],
        ['WS_MANAGEMENT_THROTTLE_BURST', saved.burst],
      ] as const) {
        if (value === undefined) Reflect.deleteProperty(process.env, name);
        else process.env[name] = value;
      }
    }
    const c = client(served.url);
    await c.send(new GetConnectionCommand({ ConnectionId: CONNECTION }));
    await expect(c.send(new GetConnectionCommand({ ConnectionId: CONNECTION }))).rejects.toMatchObject({
      name: 'TooManyRequestsException',
    });
    expect(served.endpoint.throttled()).toBe(1);
  });
});
