/**
 * The WebSocket front behaves like an API Gateway WebSocket API in front of fixture handlers:
 * the $connect authorizer and handler, route selection, the event, API Gateway's limits, and the
 * @connections management API used through the real AWS SDK client.
 */
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { WebSocketRoute } from '../../functions/routes';
import { mintDevToken } from '../../local/tokens';
import { startWebSocketFront, type WebSocketFront, type WebSocketFrontOptions } from '../../local/ws-front';
import net from 'node:net';
import { events, release } from './fixtures/ws';
import { connect, refusal, type TestClient } from './ws-client';

const FIXTURE = 'test/local/fixtures/ws.ts';
const ROUTES: WebSocketRoute[] = ['$connect', '$disconnect', '$default', 'echo', 'boom', 'silent'].map((routeKey) => ({
  name: `Ws${routeKey.replace('$', '')}`,
  routeKey,
  entry: FIXTURE,
  needs: { redis: false, tables: [] },
}));
const AUTHORIZER = { name: 'FixtureAuthorizer', entry: 'test/local/fixtures/authorizer.ts', resultCacheTtlSeconds: 300 };

let front: WebSocketFront;
let token: string;
const clients: TestClient[] = [];

async function start(options: WebSocketFrontOptions = {}): Promise<WebSocketFront> {
  return startWebSocketFront({ routes: ROUTES, authorizer: AUTHORIZER, ...options });
}

async function open(url = `${front.url}/?token=${token}`): Promise<TestClient> {
  const client = await connect(url);
  clients.push(client);
  return client;
}

/** The connection id of a client, as the $default route tells it. */
async function idOf(client: TestClient): Promise<string> {
  client.send('who am i');
  const { connectionId } = await client.nextJson<{ connectionId: string }>();
  return connectionId;
}

function management(endpoint = front.managementEndpoint): ApiGatewayManagementApiClient {
  return new ApiGatewayManagementApiClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

const waitFor = async (condition: () => boolean, timeoutMs = 2000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

beforeAll(async () => {
  front = await start();
  token = await mintDevToken({ tenantId: 'tenant-a', userId: 'user-1', permissions: ['products:read'] });
});

afterEach(() => {
  for (const client of clients.splice(0)) client.ws.terminate();
});

afterAll(async () => {
  await front.close();
});

describe('$connect', () => {
  it('refuses the upgrade with 401 when the token is missing, malformed or signed with another secret', async () => {
    const foreign = await mintDevToken({ tenantId: 't', secret: 'another-secret-that-is-long-enough-0123456789' });
    expect(await refusal(front.url)).toBe(401);
    expect(await refusal(`${front.url}/?token=garbage`)).toBe(401);
    expect(await refusal(`${front.url}/?token=${foreign}`)).toBe(401);
  });

  it('refuses the upgrade with 403 when the policy denies', async () => {
    const denied = await mintDevToken({ tenantId: 'deny' });
    expect(await refusal(`${front.url}/?token=${denied}`)).toBe(403);
  });

  it('refuses the upgrade with the status of a $connect handler that answers non-2xx', async () => {
    expect(await refusal(`${front.url}/?token=${token}&refuse=1`)).toBe(403);
    expect(await refusal(`${front.url}/?token=${token}&refuse=429`)).toBe(429);
  });

  it('gives $connect a CONNECT event with the query, headers and authorizer context', async () => {
    events.length = 0;
    await open(`${front.url}/?token=${token}&extra=1`);
    const connectEvent = events.find((e) => e.requestContext.eventType === 'CONNECT');
    expect(connectEvent).toMatchObject({
      queryStringParameters: { token, extra: '1' },
      isBase64Encoded: false,
      requestContext: {
        routeKey: '$connect',
        eventType: 'CONNECT',
        stage: 'local',
        connectionId: expect.stringMatching(/^[A-Za-z0-9_-]{15}=$/),
        connectedAt: expect.any(Number),
        requestId: expect.any(String),
        domainName: expect.stringContaining('127.0.0.1'),
        identity: expect.objectContaining({ sourceIp: '127.0.0.1' }),
        authorizer: expect.objectContaining({
          principalId: 'user-1',
          tenantId: 'tenant-a',
          userId: 'user-1',
          permissions: 'products:read',
        }),
      },
    });
  });

  it('gives every connection its own 16-character id', async () => {
    const ids = await Promise.all([open(), open(), open()].map(async (c) => idOf(await c)));
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toHaveLength(16);
  });
});

describe('messages', () => {
  it('routes on body.action and sends a two-way route body back', async () => {
    events.length = 0;
    const client = await open();
    client.send({ action: 'echo', value: 1 });
    expect(await client.nextJson()).toEqual({ route: 'echo', body: '{"action":"echo","value":1}', connectionId: expect.any(String) });
    const message = events.find((e) => e.requestContext.routeKey === 'echo');
    expect(message?.requestContext).toMatchObject({
      eventType: 'MESSAGE',
      messageId: expect.any(String),
      requestId: expect.any(String),
      connectedAt: expect.any(Number),
      stage: 'local',
      authorizer: expect.objectContaining({ tenantId: 'tenant-a', userId: 'user-1', permissions: 'products:read' }),
    });
  });

  it.each([
    ['an unknown action', JSON.stringify({ action: 'nope' })],
    ['no action', JSON.stringify({ hello: 'world' })],
    ['a non-string action', JSON.stringify({ action: 42 })],
    ['text that is not JSON', 'plain text'],
    ['a JSON array', '[1,2]'],
    ['an action naming $connect', JSON.stringify({ action: '$connect' })],
  ])('sends %s to $default', async (_label, text) => {
    const client = await open();
    client.send(text);
    expect(await client.nextJson()).toMatchObject({ route: '$default', body: text });
  });

  it("stamps a connection's frames with increasing receive times, in the order sent, however many arrive at once", async () => {
    events.length = 0;
    const client = await open();
    // 50 frames in one burst: this process reads them in a few turns of its loop, within a millisecond or two.
    for (let i = 0; i < 50; i++) client.send({ action: 'silent', i });
    await waitFor(() => events.filter((e) => e.requestContext.routeKey === 'silent').length === 50, 10_000);
    const stamps = events
      .filter((e) => e.requestContext.routeKey === 'silent')
      .map((e) => ({ i: (JSON.parse(e.body as string) as { i: number }).i, at: e.requestContext.requestTimeEpoch as number }))
      .sort((a, b) => a.i - b.i)
      .map((e) => e.at);
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1] as number);
  });

  it('sends nothing back when the route answers nothing', async () => {
    const client = await open();
    client.send({ action: 'silent' });
    client.send({ action: 'echo' });
    expect(await client.nextJson()).toMatchObject({ route: 'echo' });
  });

  it('tells the client "Internal server error" when the route throws, without the error text', async () => {
    const client = await open();
    client.send({ action: 'boom' });
    const reply = await client.next();
    expect(JSON.parse(reply)).toEqual({
      message: 'Internal server error',
      connectionId: expect.any(String),
      requestId: expect.any(String),
    });
    expect(reply).not.toContain('internal detail');
  });

  it('closes with 1009 a message over 128 KB', async () => {
    const client = await open();
    client.ws.send('x'.repeat(128 * 1024 + 1));
    expect((await client.closed).code).toBe(1009);
  });

  it('accepts a message of exactly 128 KB', async () => {
    const client = await open();
    const text = JSON.stringify({ action: 'echo', pad: '' });
    client.ws.send(text.replace('""', `"${'x'.repeat(128 * 1024 - text.length)}"`));
    expect(await client.nextJson(5000)).toMatchObject({ route: 'echo' });
  });
});

describe('$disconnect', () => {
  it('runs on close with a DISCONNECT event', async () => {
    const client = await open();
    const id = await idOf(client);
    client.ws.close(1000, 'bye');
    await waitFor(() => events.some((e) => e.requestContext.eventType === 'DISCONNECT' && e.requestContext.connectionId === id));
    const event = events.find((e) => e.requestContext.eventType === 'DISCONNECT' && e.requestContext.connectionId === id);
    expect(event?.requestContext).toMatchObject({
      routeKey: '$disconnect',
      disconnectStatusCode: 1000,
      authorizer: expect.objectContaining({ tenantId: 'tenant-a' }),
    });
  });
});

/**
 * An upgrade request on a raw socket whose $connect the fixture holds until release(hold): the
 * test decides how the client leaves while it runs. Resolves with the connection id once $connect runs.
 */
async function heldUpgrade(port: number, hold: string): Promise<{ socket: net.Socket; connectionId: string }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.write(
    `GET /?token=${token}&hold=${hold} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  const connectOf = () => events.find((e) => e.requestContext.eventType === 'CONNECT' && e.queryStringParameters?.hold === hold);
  await waitFor(() => connectOf() !== undefined, 10_000);
  return { socket, connectionId: (connectOf() as (typeof events)[number]).requestContext.connectionId };
}

const disconnected = (id: string) =>
  events.some((e) => e.requestContext.eventType === 'DISCONNECT' && e.requestContext.connectionId === id);

describe('a client that leaves while $connect runs', () => {
  it.each([
    ['closes its socket', (socket: net.Socket) => new Promise<unknown>((resolve) => socket.once('close', resolve).destroy())],
    ['half-closes it (FIN)', (socket: net.Socket) => new Promise<unknown>((resolve) => socket.end(() => resolve(undefined)))],
  ])('gets its $disconnect once $connect succeeded, as API Gateway sends it (%s)', async (_how, leave) => {
    const hold = `left-${events.length}`;
    const { socket, connectionId } = await heldUpgrade(front.port, hold);
    await leave(socket);

    release(hold);

    await waitFor(() => disconnected(connectionId), 5000);
    expect(front.connectionIds()).not.toContain(connectionId);
    socket.destroy();
  });

  it('does not hold up close(): it resolves once the $connect in flight has ended, and $disconnect follows it', async () => {
    const other = await start();
    const hold = `closing-${events.length}`;
    const { socket, connectionId } = await heldUpgrade(other.port, hold);

    const closed = other.close();
    release(hold);
    await closed;

    expect(disconnected(connectionId)).toBe(true);
    socket.destroy();
  });
});

describe('limits', () => {
  it('closes an idle connection (1001) after the idle timeout and a connection past its maximum age', async () => {
    const quick = await start({ idleTimeoutMs: 150, maxConnectionMs: 60_000 });
    const old = await start({ idleTimeoutMs: 60_000, maxConnectionMs: 200 });
    try {
      const idle = await connect(`${quick.url}/?token=${token}`);
      const aged = await connect(`${old.url}/?token=${token}`);
      // Activity keeps the first open past its idle timeout, but not the second past its age.
      const keepAlive = setInterval(() => aged.send({ action: 'silent' }), 50);
      const started = Date.now();
      const [idleClose, agedClose] = await Promise.all([idle.closed, aged.closed]);
      clearInterval(keepAlive);
      expect(idleClose.code).toBe(1001);
      expect(agedClose.code).toBe(1001);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await Promise.all([quick.close(), old.close()]);
    }
  });
});

describe('@connections management API (real SDK client)', () => {
  it('PostToConnection delivers the data to the client', async () => {
    const client = await open();
    const id = await idOf(client);
    await management().send(new PostToConnectionCommand({ ConnectionId: id, Data: JSON.stringify({ type: 'pong' }) }));
    expect(await client.nextJson()).toEqual({ type: 'pong' });
  });

  it('also answers on the path without the stage', async () => {
    const client = await open();
    const id = await idOf(client);
    await management(`http://127.0.0.1:${front.port}`).send(new PostToConnectionCommand({ ConnectionId: id, Data: 'hello' }));
    expect(await client.next()).toBe('hello');
  });

  it('GetConnection answers ConnectedAt, Identity and LastActiveAt', async () => {
    const before = Date.now();
    const client = await open();
    const id = await idOf(client);
    const info = await management().send(new GetConnectionCommand({ ConnectionId: id }));
    expect(info.ConnectedAt).toBeInstanceOf(Date);
    expect(info.ConnectedAt?.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(info.LastActiveAt?.getTime()).toBeGreaterThanOrEqual(info.ConnectedAt?.getTime() ?? 0);
    expect(info.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: expect.any(String) });
  });

  it('DeleteConnection closes the connection and runs $disconnect', async () => {
    const client = await open();
    const id = await idOf(client);
    await management().send(new DeleteConnectionCommand({ ConnectionId: id }));
    expect((await client.closed).code).toBe(1000);
    await waitFor(() => events.some((e) => e.requestContext.eventType === 'DISCONNECT' && e.requestContext.connectionId === id));
  });

  it('answers 410 GoneException for a closed connection', async () => {
    const client = await open();
    const id = await idOf(client);
    client.ws.close();
    await client.closed;
    await waitFor(() => !front.connectionIds().includes(id));
    const post = management().send(new PostToConnectionCommand({ ConnectionId: id, Data: 'late' }));
    await expect(post).rejects.toBeInstanceOf(GoneException);
    await expect(post).rejects.toMatchObject({ $metadata: { httpStatusCode: 410 } });
    await expect(management().send(new GetConnectionCommand({ ConnectionId: id }))).rejects.toBeInstanceOf(GoneException);
    await expect(management().send(new DeleteConnectionCommand({ ConnectionId: id }))).rejects.toBeInstanceOf(GoneException);
  });

  it('answers 410 GoneException for an id that never existed', async () => {
    await expect(management().send(new PostToConnectionCommand({ ConnectionId: 'AAAAAAAAAAAAAAA=', Data: 'x' }))).rejects.toBeInstanceOf(
      GoneException,
    );
  });

  it('answers 413 PayloadTooLargeException over 128 KB', async () => {
    const client = await open();
    const id = await idOf(client);
    const post = management().send(new PostToConnectionCommand({ ConnectionId: id, Data: 'x'.repeat(128 * 1024 + 1) }));
    await expect(post).rejects.toBeInstanceOf(PayloadTooLargeException);
  });

  it('delays each call by managementLatencyMs', async () => {
    const slow = await start({ managementLatencyMs: 150 });
    try {
      const client = await connect(`${slow.url}/?token=${token}`);
      const id = await idOf(client);
      const started = Date.now();
      await management(slow.managementEndpoint).send(new PostToConnectionCommand({ ConnectionId: id, Data: 'x' }));
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      client.ws.terminate();
    } finally {
      await slow.close();
    }
  });
});
