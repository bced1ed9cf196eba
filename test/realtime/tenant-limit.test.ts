/**
 * A tenant holds at most WS_MAX_CONNECTIONS_PER_TENANT connections (20 here: from source the
 * variable is set in this process; as deployed, in a copy of the dev app whose connect function's
 * template environment says 20), through the whole stack: the next handshake is refused with 429,
 * exactly so under concurrency, another tenant is unaffected, a close frees a slot, connections
 * that vanished without $disconnect stop counting, and no release is counted twice.
 */
import { PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import WebSocket from 'ws';
import { connect, type LimitedInfo } from '../../client/src';
import { DynamoConnectionStore, endBucket, type ConnectionRecord } from '../../functions/realtime/connection-store';
import { createDocumentClient } from '../../functions/shared/clients/dynamodb';
import { connectionKeys } from '../../functions/shared/tables';
import { synthesizeApp } from '../../local/deployed/synth';
import { copyAssembly, resourceStartingWith, type AssemblyCopy } from '../deployed/assembly-copy';
import { testDocumentClient } from '../support';
import { testMode, type StackUnderTest } from '../support/stack-under-test';
import { mint, openSocket, startStack, tenantId, type Received } from './realtime-fixtures';

const LIMIT = 20;

let stack: StackUnderTest;
let copy: AssemblyCopy | undefined;
let db: ReturnType<typeof createDocumentClient>;
let store: DynamoConnectionStore;
const clients: Received[] = [];
let users = 0;

beforeAll(async () => {
  if (testMode() === 'as-deployed') {
    const source = process.env.SHOP_EDGE_TEST_ASSEMBLY ?? (await synthesizeApp({ envName: 'dev' })).directory;
    copy = await copyAssembly(source, (stackName, resources) => {
      if (!stackName.endsWith('-Realtime')) return;
      const connect = resourceStartingWith(resources, 'AWS::Lambda::Function', 'WsConnect');
      const variables = (connect.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      if (variables.WS_MAX_CONNECTIONS_PER_TENANT !== '10000')
        throw new Error('WsConnect has no tenant limit of 10,000: the template changed');
      variables.WS_MAX_CONNECTIONS_PER_TENANT = String(LIMIT);
    });
  } else {
    process.env.WS_MAX_CONNECTIONS_PER_TENANT = String(LIMIT);
  }
  stack = await startStack(copy ? { assemblyDir: copy.directory } : {});
  db = testDocumentClient();
  store = new DynamoConnectionStore(db, stack.tableNames.connections);
  if (stack.mode === 'as-deployed') {
    // Warm as many authorizer and connect containers as the bursts below start (each cold one
    // fetches the JWKS and opens its clients): a burst of 40 cold starts on a 2-core machine
    // times some authorizations out, which Lambda's own hardware would not. A few rounds of the
    // same burst, for tenants of their own, until every handshake is answered by the limit.
    for (let round = 0; round < 3; round++) {
      const tenant = tenantId('warm');
      const results = await Promise.all(Array.from({ length: 2 * LIMIT }, async () => handshake(await userToken(tenant))));
      for (const r of results) r.socket.terminate();
      if (results.every((r) => r.status === 101 || r.status === 429)) break;
    }
  }
}, 240_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  db.destroy();
  await (stack as StackUnderTest | undefined)?.stop();
  await copy?.remove();
  delete process.env.WS_MAX_CONNECTIONS_PER_TENANT;
});

/** A token of a user of its own (each user may hold 10 connections: the tenant's limit is what is tested). */
const userToken = (tenant: string) => mint({ tenantId: tenant, userId: `user-${users++}` });

async function client(bearer: string): Promise<Received> {
  const c = await openSocket(stack, bearer);
  clients.push(c);
  return c;
}

/** The status of a handshake: 101 when accepted (the socket is kept, and returned), else the refusal's. */
function handshake(bearer: string): Promise<{ status: number; socket: WebSocket }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${stack.wsUrl}?token=${encodeURIComponent(bearer)}`);
    socket.once('open', () => resolve({ status: 101, socket }));
    socket.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, socket });
      socket.terminate();
    });
    socket.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

/** Handshakes until one is not 429 (a $disconnect runs after the close it follows); its status. */
async function admittedOnceFreed(bearer: string, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, socket } = await handshake(bearer);
    if (status !== 429 || Date.now() > deadline) {
      if (status === 101) socket.close();
      return status;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('connections per tenant', () => {
  it('admits exactly the limit of twice as many concurrent handshakes of one tenant, refuses the rest with 429, and leaves another tenant alone', async () => {
    const tenant = tenantId('full');
    const bearers = await Promise.all(Array.from({ length: 2 * LIMIT }, () => userToken(tenant)));
    const results = await Promise.all(bearers.map((b) => handshake(b)));
    const statuses = results.map((r) => r.status);

    const tally = statuses.reduce<Record<number, number>>((t, s) => ({ ...t, [s]: (t[s] ?? 0) + 1 }), {});
    expect(tally).toEqual({ 101: LIMIT, 429: LIMIT });
    expect((await store.tenantCount(tenant)).open).toBe(LIMIT);
    const other = await handshake(await userToken(tenantId('other')));
    expect(other.status).toBe(101);

    other.socket.close();
    for (const r of results) r.socket.terminate();
  });

  it('takes a handshake again once one of the connections closed', async () => {
    const tenant = tenantId('freed');
    const open = await Promise.all(Array.from({ length: LIMIT }, async () => client(await userToken(tenant))));
    const next = await userToken(tenant);
    expect((await handshake(next)).status).toBe(429);

    await open[0]?.close();

    expect(await admittedOnceFreed(next)).toBe(101);
  });

  it('stops counting connections that vanished without $disconnect: silent past the idle timeout, or past their 2 hours', async () => {
    const tenant = tenantId('ghosts');
    const now = Date.now();
    const ghost = (i: number, connectedAt: number): ConnectionRecord => ({
      connectionId: `ghost${tenant.slice(-6)}${String(i).padStart(5, '0')}`,
      tenantId: tenant,
      userId: `ghost-${i}`,
      permissions: [],
      connectedAt,
      expiresAt: Math.floor(connectedAt / 1000) + 7800,
      tokenExpiresAt: Math.floor(now / 1000) + 3600,
    });
    // Half of them connected 20 minutes ago and never spoke (API Gateway's idle timeout closed
    // them), half 3 hours ago (its 2 hours closed them); none said so. Their records and the
    // tenant's counter, as their connects wrote them.
    const ghosts = Array.from({ length: LIMIT }, (_, i) => ghost(i, i % 2 === 0 ? now - 20 * 60_000 : now - 3 * 3600_000));
    const buckets: Record<string, number> = {};
    for (const g of ghosts) {
      const bucket = endBucket(g.connectedAt);
      buckets[bucket] = (buckets[bucket] ?? 0) + 1;
      await store.put(g);
      await db.send(
        new UpdateCommand({
          TableName: stack.tableNames.connections,
          Key: { pk: connectionKeys.connection(g.connectionId), sk: connectionKeys.meta },
          UpdateExpression: 'SET countedIn = :b, gsi1pk = :k, gsi1sk = :id',
          ExpressionAttributeValues: { ':b': bucket, ':k': connectionKeys.tenantConnectionIndex(tenant), ':id': g.connectionId },
        }),
      );
    }
    await db.send(
      new PutCommand({
        TableName: stack.tableNames.connections,
        Item: { pk: connectionKeys.tenant(tenant), sk: connectionKeys.tenantConnections, tenantId: tenant, open: LIMIT, ...buckets },
      }),
    );

    const live = await client(await userToken(tenant));

    expect(live.socket.readyState).toBe(WebSocket.OPEN);
    expect((await store.tenantCount(tenant)).open).toBe(1);
    for (const g of ghosts) expect(await store.get(g.connectionId)).toBeUndefined();
  });

  it('releases each connection once: a $disconnect after the fan-out found it gone (or after a second removal) takes nothing more', async () => {
    const tenant = tenantId('once');
    const open = await Promise.all([0, 1].map(async () => client(await userToken(tenant))));
    expect((await store.tenantCount(tenant)).open).toBe(2);
    const ids = await countedIds(tenant);
    expect(ids).toHaveLength(2);
    const [gone, other] = ids as [string, string];

    // Gone for the fan-out (410: it removes the connection), twice.
    await store.remove(gone);
    await store.remove(gone);
    expect((await store.tenantCount(tenant)).open).toBe(1);

    // Then both close: two $disconnects, of which only the other's releases anything.
    const since = Date.now();
    await Promise.all(open.map((c) => c.close()));
    await disconnectRan(gone, since);
    await disconnectRan(other, since);
    expect(await store.tenantCount(tenant)).toMatchObject({ open: 0 });
  });

  it('the SDK backs off when its tenant is full, tells the app, and connects once a slot is free', async () => {
    const tenant = tenantId('sdk');
    const open = await Promise.all(Array.from({ length: LIMIT }, async () => client(await userToken(tenant))));
    const sdk = connect(stack.wsUrl, await userToken(tenant), { WebSocket, limitedBackoffBaseMs: 50, backoffCapMs: 400 });
    const limited: LimitedInfo[] = [];
    sdk.on('limited', (info) => limited.push(info));
    try {
      const deadline = Date.now() + 20_000;
      while (limited.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(limited[0]).toMatchObject({ status: 429, reason: 'too-many-connections', refusals: 1, handover: false });
      expect(sdk.state).toBe('connecting');

      await open[0]?.close();
      while (sdk.state !== 'connected' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(sdk.state).toBe('connected');
    } finally {
      sdk.close();
    }
  });
});

/** The tenant's counted connections, as its index holds them. */
async function countedIds(tenant: string): Promise<string[]> {
  const out = await db.send(
    new QueryCommand({
      TableName: stack.tableNames.connections,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :k',
      ExpressionAttributeValues: { ':k': connectionKeys.tenantConnectionIndex(tenant) },
    }),
  );
  return (out.Items ?? []).map((item) => String(item.connectionId));
}

/** Waits until the functions' $disconnect of the connection has read its subscriptions: past its release. */
async function disconnectRan(connectionId: string, since: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const ran = () =>
    stack
      .dataCallsNaming(connectionKeys.connection(connectionId), since)
      .some((call) => call.operation === 'Query' && call.text.includes('SUB#'));
  while (!ran()) {
    if (Date.now() > deadline) throw new Error(`no $disconnect of ${connectionId} ran`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
