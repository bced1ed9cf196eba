/**
 * A tenant's count of open connections in the Connections table (DynamoConnectionStore against
 * DynamoDB Local): one counter item, exact under concurrent connects, each connection released
 * once by whoever closes its record, and connections that vanished without $disconnect (past
 * their 2 hours, or silent past API Gateway's idle timeout) reclaimed by a connect at the cap.
 */
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import type { ShopRepository } from '../../functions/catalog/ports';
import type { AttemptResult, ConnectionNotifier, PostResult } from '../../functions/realtime/notifier';
import { FanOut } from '../../functions/streams/fan-out';
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  DynamoConnectionStore,
  endBucket,
  IDLE_CLOSED_AFTER_SECONDS,
  silentPastIdleTimeout,
  type ConnectionRecord,
} from '../../functions/realtime/connection-store';
import { parseChannel } from '../../functions/realtime/channels';
import { messageOrder } from '../../functions/realtime/message-order';
import { connectionKeys } from '../../functions/shared/tables';
import { testDocumentClient, testTables, uniqueId } from '../support';

let db: DynamoDBDocumentClient;
let table: string;
let store: DynamoConnectionStore;

beforeAll(async () => {
  table = (await testTables('tenant-count')).connections;
  db = testDocumentClient();
  store = new DynamoConnectionStore(db, table);
});
afterAll(() => db.destroy());

const tenantId = () => uniqueId('t').replace(/[^A-Za-z0-9_-]/g, '_');
let serial = 0;

function record(tenant: string, connectedAt = Date.now()): ConnectionRecord {
  return {
    connectionId: `c${String(serial++).padStart(15, '0')}`,
    tenantId: tenant,
    userId: 'u',
    permissions: [],
    connectedAt,
    expiresAt: Math.floor(connectedAt / 1000) + 7800,
    tokenExpiresAt: Math.floor(Date.now() / 1000) + 3600,
  };
}

/** Puts the record and counts it, as a connect does. */
async function connect(connection: ConnectionRecord, max: number): Promise<boolean> {
  await store.put(connection);
  return store.countConnection(connection, max);
}

describe("a tenant's count", () => {
  it('admits exactly the cap of concurrent connects, and counts every one in its bucket', async () => {
    const tenant = tenantId();
    const connections = Array.from({ length: 40 }, () => record(tenant));
    const admitted = await Promise.all(connections.map((c) => connect(c, 20)));

    expect(admitted.filter(Boolean)).toHaveLength(20);
    const count = await store.tenantCount(tenant);
    expect(count.open).toBe(20);
    expect(Object.values(count.buckets).reduce((a, b) => a + b, 0)).toBe(20);
    // Another tenant has a count of its own.
    expect(await connect(record(tenantId()), 20)).toBe(true);
  });

  it('releases a connection once, however often and by whomever it is closed', async () => {
    const tenant = tenantId();
    const [a, b] = [record(tenant), record(tenant)];
    await connect(a, 5);
    await connect(b, 5);

    await Promise.all([store.remove(a.connectionId), store.remove(a.connectionId), store.remove(a.connectionId)]);
    await store.remove(a.connectionId);
    expect((await store.tenantCount(tenant)).open).toBe(1);

    // A connection never counted (refused, or unknown): its close takes nothing.
    await store.remove('neverconnected00');
    const refused = record(tenant);
    await store.put(refused);
    await store.remove(refused.connectionId);
    expect((await store.tenantCount(tenant)).open).toBe(1);

    await store.remove(b.connectionId);
    await store.remove(b.connectionId);
    expect(await store.tenantCount(tenant)).toEqual({ open: 0, buckets: { [endBucket(b.connectedAt)]: 0 } });
  });

  it('gives back the count of a connection closed while it was being counted', async () => {
    const tenant = tenantId();
    const c = record(tenant);
    await store.put(c);
    // $disconnect ran between the record's put and its count: it found nothing to release.
    await store.remove(c.connectionId);
    expect(await store.countConnection(c, 5)).toBe(true);
    expect((await store.tenantCount(tenant)).open).toBe(0);
  });

  it('frees a slot when a connection closes: the next connect at the cap is admitted', async () => {
    const tenant = tenantId();
    const open = Array.from({ length: 3 }, () => record(tenant));
    for (const c of open) expect(await connect(c, 3)).toBe(true);
    expect(await connect(record(tenant), 3)).toBe(false);
    await store.remove((open[0] as ConnectionRecord).connectionId);
    expect(await connect(record(tenant), 3)).toBe(true);
    expect((await store.tenantCount(tenant)).open).toBe(3);
  });
});

describe('connections that vanished without $disconnect', () => {
  /** A counted connection whose record says it connected at `connectedAt` (and, optionally, last spoke in `msgWindow`). */
  async function counted(tenant: string, connectedAt: number, msgWindow?: number): Promise<ConnectionRecord> {
    const c = record(tenant, connectedAt);
    expect(await connect(c, 1000)).toBe(true);
    if (msgWindow !== undefined) {
      await db.send(
        new UpdateCommand({
          TableName: table,
          Key: { pk: connectionKeys.connection(c.connectionId), sk: connectionKeys.meta },
          UpdateExpression: 'SET msgWindow = :w',
          ExpressionAttributeValues: { ':w': msgWindow },
        }),
      );
    }
    return c;
  }

  /** A connection counted 3 hours ago (its bucket's minute is over), written as its connect wrote it. */
  async function expired(tenant: string): Promise<ConnectionRecord> {
    const c = record(tenant, Date.now() - 3 * 3600_000);
    const bucket = endBucket(c.connectedAt);
    await store.put(c);
    await db.send(
      new UpdateCommand({
        TableName: table,
        Key: { pk: connectionKeys.connection(c.connectionId), sk: connectionKeys.meta },
        UpdateExpression: 'SET countedIn = :b',
        ExpressionAttributeValues: { ':b': bucket },
      }),
    );
    await db.send(
      new UpdateCommand({
        TableName: table,
        Key: { pk: connectionKeys.tenant(tenant), sk: connectionKeys.tenantConnections },
        UpdateExpression: 'ADD #open :one, #b :one',
        ExpressionAttributeNames: { '#open': 'open', '#b': bucket },
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
    return c;
  }

  it('prunes the buckets of connections past their 2 hours when the tenant is full, once', async () => {
    const tenant = tenantId();
    await counted(tenant, Date.now()); // first: the first connect of a minute prunes too (next test)
    const old = [await expired(tenant), await expired(tenant)];
    expect((await store.tenantCount(tenant)).open).toBe(3);

    // The cap is 3: the two old ones make room.
    expect(await connect(record(tenant), 3)).toBe(true);
    const count = await store.tenantCount(tenant);
    expect(count.open).toBe(2);
    expect(Object.keys(count.buckets)).not.toContain(endBucket((old[0] as ConnectionRecord).connectedAt));
    // Their late $disconnect only tombstones: the count stays the real one.
    await store.remove((old[0] as ConnectionRecord).connectionId);
    await store.remove((old[1] as ConnectionRecord).connectionId);
    expect((await store.tenantCount(tenant)).open).toBe(2);
  });

  it("prunes them with the first connect of a minute too: the item keeps about 2 hours' buckets", async () => {
    const tenant = tenantId();
    const old = await expired(tenant);
    expect(await connect(record(tenant), 1000)).toBe(true);
    expect(Object.keys((await store.tenantCount(tenant)).buckets)).not.toContain(endBucket(old.connectedAt));
    expect((await store.tenantCount(tenant)).open).toBe(1);
  });

  it('reclaims connections silent past the idle timeout, keeps those still talking, and leases the reclaim', async () => {
    const tenant = tenantId();
    const now = Date.now();
    const quiet = now - 20 * 60_000;
    const silent = [await counted(tenant, quiet), await counted(tenant, quiet, quiet + 60_000)];
    // Connected as long ago, but its last message was this minute.
    await counted(tenant, quiet, now - (now % 60_000));
    await counted(tenant, now);

    expect(await connect(record(tenant), 4)).toBe(true); // the two silent ones released
    expect((await store.tenantCount(tenant)).open).toBe(3);
    for (const c of silent) expect(await store.get(c.connectionId)).toBeUndefined(); // closed
    // Their $disconnect, should it come: nothing more is released.
    for (const c of silent) await store.remove(c.connectionId);
    expect((await store.tenantCount(tenant)).open).toBe(3);

    // At the cap again, with another silent one: the lease holds the reclaim off for a minute.
    await counted(tenant, quiet);
    expect(await connect(record(tenant), 4)).toBe(false);
    expect((await store.tenantCount(tenant)).open).toBe(4);
  });

  it('judges silence as the user slots do', () => {
    const now = Date.now();
    const idle = IDLE_CLOSED_AFTER_SECONDS * 1000;
    expect(silentPastIdleTimeout({ connectedAt: now - idle - 1 }, now)).toBe(true);
    expect(silentPastIdleTimeout({ connectedAt: now - idle + 1000 }, now)).toBe(false);
    expect(silentPastIdleTimeout({ connectedAt: now - 2 * idle, msgWindow: now - idle }, now)).toBe(false);
    expect(silentPastIdleTimeout({ connectedAt: now - 2 * idle, msgWindow: now - idle - 61_000 }, now)).toBe(true);
  });

  it("is in no channel's subscribers: the index holds a tenant's connections under a key no channel has", async () => {
    const tenant = tenantId();
    const c = await counted(tenant, Date.now());
    expect(await store.subscribe(c, 'dashboard', messageOrder({ at: Date.now(), messageId: 'm1' }, undefined))).toBe('subscribed');
    expect((await store.subscribers(tenant, 'dashboard')).connectionIds).toEqual([c.connectionId]);
    expect(parseChannel(connectionKeys.tenantConnectionIndex(tenant).slice(tenant.length + 1))).toBeUndefined();
    await store.remove(c.connectionId);
    expect((await store.subscribers(tenant, 'dashboard')).connectionIds).toEqual([]);
  });
});

describe('the fan-out ending connections', () => {
  it('releases a gone connection (410) and an expired session, each once', async () => {
    const tenant = tenantId();
    const [gone, expired, live] = [
      record(tenant),
      { ...record(tenant), tokenExpiresAt: Math.floor(Date.now() / 1000) - 5 },
      record(tenant),
    ];
    for (const c of [gone, expired, live]) {
      expect(await connect(c, 10)).toBe(true);
      expect(await store.subscribe(c, 'product:hot', messageOrder({ at: Date.now(), messageId: c.connectionId }, undefined))).toBe(
        'subscribed',
      );
    }
    const answer = (id: string): PostResult => (id === gone.connectionId ? 'gone' : 'sent');
    const notifier: ConnectionNotifier = {
      post: (id) => Promise.resolve(answer(id)),
      attempt: (id): Promise<AttemptResult> => Promise.resolve(answer(id)),
      disconnect: () => Promise.resolve(),
    };
    const repo = { recordStockState: () => Promise.resolve() } as unknown as ShopRepository;
    const keys = { pk: `T#${tenant}`, sk: 'S#hot' };
    const image = (version: number) => ({
      ...keys,
      entity: 'stock',
      tenantId: tenant,
      productId: 'hot',
      stock: 10 - version,
      lowStockThreshold: 0,
      version,
      lastUpdated: new Date().toISOString(),
    });
    const change: DynamoDBRecord = {
      eventName: 'MODIFY',
      dynamodb: {
        Keys: marshall(keys) as never,
        OldImage: marshall(image(1)) as never,
        NewImage: marshall(image(2)) as never,
        SequenceNumber: '1'.padStart(21, '0'),
        ApproximateCreationDateTime: Date.now() / 1000,
        StreamViewType: 'NEW_AND_OLD_IMAGES',
      },
    };

    expect((await new FanOut({ connections: store, repo, notifier }).handle([change])).batchItemFailures).toEqual([]);

    expect((await store.tenantCount(tenant)).open).toBe(1);
    // Their $disconnect, when API Gateway sends it: nothing more.
    await store.remove(gone.connectionId);
    await store.remove(expired.connectionId);
    expect((await store.tenantCount(tenant)).open).toBe(1);
    expect(await store.get(live.connectionId)).toBeDefined();
  });
});
