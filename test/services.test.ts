/**
 * The local services the test run depends on (test/harness/global-setup.ts) and the helpers that
 * start them (local/services): DynamoDB Local with the real table definitions, the single Redis,
 * the 3-master cluster, and a redis-server a test can kill, restart, pause and resume.
 */
import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  TransactWriteItemsCommand,
  type DynamoDBClient as DynamoDBClientType,
} from '@aws-sdk/client-dynamodb';
import Redis, { Cluster, type RedisOptions } from 'ioredis';
import { CONNECTIONS_TABLE, SHOP_TABLE, shopKeys } from '../functions/shared/tables';
import { freePort } from '../local/services/free-port';
import { respCommand } from '../local/services/resp';
import { startRedisServer, type RedisServer } from '../local/services/redis-server';
import { createTableInput, createTables } from '../local/services/tables';
import { redisClusterNodes, redisSingleUrl, testDynamoDbClient, testTables, uniqueId } from './support';

describe('DynamoDB Local', () => {
  let client: DynamoDBClientType;
  let names: { shop: string; connections: string };

  beforeAll(async () => {
    names = await testTables('services');
    client = testDynamoDbClient();
  });
  afterAll(() => client.destroy());

  test('testTables() points the functions at the new tables', () => {
    expect(process.env.SHOP_TABLE_NAME).toBe(names.shop);
    expect(process.env.CONNECTIONS_TABLE_NAME).toBe(names.connections);
    expect(process.env.DYNAMODB_ENDPOINT).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test('the shop table has its keys, GSIs projecting ALL and a NEW_AND_OLD_IMAGES stream', async () => {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: names.shop }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    const indexes = (Table?.GlobalSecondaryIndexes ?? []).map((i) => ({
      name: i.IndexName,
      keys: i.KeySchema?.map((k) => `${k.AttributeName}:${k.KeyType}`),
      projection: i.Projection?.ProjectionType,
      status: i.IndexStatus,
    }));
    expect(indexes.sort((a, b) => String(a.name).localeCompare(String(b.name)))).toEqual([
      { name: 'gsi1', keys: ['gsi1pk:HASH', 'gsi1sk:RANGE'], projection: 'ALL', status: 'ACTIVE' },
      { name: 'gsi2', keys: ['gsi2pk:HASH', 'gsi2sk:RANGE'], projection: 'ALL', status: 'ACTIVE' },
    ]);
    expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(Table?.LatestStreamArn).toEqual(expect.stringContaining(names.shop));
  });

  test('the connections table expires items on expiresAt and has no stream', async () => {
    const { TimeToLiveDescription } = await client.send(new DescribeTimeToLiveCommand({ TableName: names.connections }));
    expect(TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
    const { Table } = await client.send(new DescribeTableCommand({ TableName: names.connections }));
    expect(Table?.StreamSpecification?.StreamEnabled ?? false).toBe(false);
    expect(Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName)).toEqual(['gsi1']);
  });

  test('createTables is idempotent', async () => {
    await expect(createTables(client, names)).resolves.toBeUndefined();
  });

  test('every region and credential sees the same tables (-sharedDb)', async () => {
    const other = new DynamoDBClient({
      endpoint: process.env.DYNAMODB_ENDPOINT,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'someoneElse', secretAccessKey: 'other' },
    });
    try {
      const seen: string[] = [];
      let start: string | undefined;
      do {
        const page = await other.send(new ListTablesCommand({ ExclusiveStartTableName: start }));
        seen.push(...(page.TableNames ?? []));
        start = page.LastEvaluatedTableName;
      } while (start !== undefined);
      expect(seen).toEqual(expect.arrayContaining([names.shop, names.connections]));
    } finally {
      other.destroy();
    }
  });

  test('TransactWriteItems commits all or nothing', async () => {
    const tenant = shopKeys.tenant(uniqueId('tenant'));
    const product = { pk: { S: tenant }, sk: { S: shopKeys.product('p1') }, name: { S: 'Mug' } };
    const stockKey = { pk: { S: tenant }, sk: { S: shopKeys.stock('p1') } };

    await client.send(
      new TransactWriteItemsCommand({
        TransactItems: [
          { Put: { TableName: names.shop, Item: product, ConditionExpression: 'attribute_not_exists(pk)' } },
          { Put: { TableName: names.shop, Item: { ...stockKey, stock: { N: '5' }, version: { N: '1' } } } },
        ],
      }),
    );

    const second = client.send(
      new TransactWriteItemsCommand({
        TransactItems: [
          { Put: { TableName: names.shop, Item: product, ConditionExpression: 'attribute_not_exists(pk)' } },
          {
            Update: {
              TableName: names.shop,
              Key: stockKey,
              UpdateExpression: 'SET stock = stock - :one, version = version + :one',
              ExpressionAttributeValues: { ':one': { N: '1' } },
            },
          },
        ],
      }),
    );
    await expect(second).rejects.toMatchObject({
      name: 'TransactionCanceledException',
      CancellationReasons: [expect.objectContaining({ Code: 'ConditionalCheckFailed' }), expect.objectContaining({ Code: 'None' })],
    });

    const { Item } = await client.send(new GetItemCommand({ TableName: names.shop, Key: stockKey, ConsistentRead: true }));
    expect(Item).toMatchObject({ stock: { N: '5' }, version: { N: '1' } });
  });

  test('createTableInput builds the CreateTable request from a definition', () => {
    const input = createTableInput(SHOP_TABLE, 'shop-x');
    expect(input).toMatchObject({ TableName: 'shop-x', BillingMode: 'PAY_PER_REQUEST', StreamSpecification: { StreamEnabled: true } });
    expect(input.AttributeDefinitions?.map((a) => a.AttributeName).sort()).toEqual(['gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'pk', 'sk']);
    const connections = createTableInput(CONNECTIONS_TABLE, 'conn-x');
    expect(connections.StreamSpecification).toBeUndefined();
    expect(connections.GlobalSecondaryIndexes?.[0]?.Projection).toEqual({ ProjectionType: 'ALL' });
  });
});

describe('the single Redis', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(redisSingleUrl(), { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    await redis.quit();
  });

  test('answers, and evicts only keys with a TTL', async () => {
    const key = uniqueId('k');
    expect(await redis.ping()).toBe('PONG');
    await redis.set(key, 'v', 'EX', 60);
    expect(await redis.get(key)).toBe('v');
    expect(await redis.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'volatile-lru']);
    expect(await redis.config('GET', 'save')).toEqual(['save', '']);
  });
});

describe('the Redis cluster', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = new Cluster(redisClusterNodes(), { redisOptions: { maxRetriesPerRequest: 1 } });
    await new Promise<void>((resolve, reject) => {
      cluster.once('ready', () => resolve());
      cluster.once('error', reject);
    });
  });
  afterAll(async () => {
    await cluster.quit();
  });

  test('has 3 masters serving all 16384 slots', async () => {
    expect(redisClusterNodes()).toHaveLength(3);
    expect(cluster.nodes('master')).toHaveLength(3);
    const slots = (await cluster.cluster('SLOTS')) as [number, number, ...unknown[]][];
    expect(slots.reduce((sum, [from, to]) => sum + (to - from + 1), 0)).toBe(16384);
    const info = await cluster.cluster('INFO');
    expect(info).toContain('cluster_state:ok');
  });

  test('multi-key commands work on hash-tagged keys and fail across slots', async () => {
    const tag = uniqueId('tag');
    await cluster.mset(`{${tag}}:a`, '1', `{${tag}}:b`, '2');
    expect(await cluster.mget(`{${tag}}:a`, `{${tag}}:b`)).toEqual(['1', '2']);
    // Two keys that hash to different slots ("a" and "b" do) are refused.
    await expect(cluster.mset(`${tag}:a`, '1', `${tag}:b`, '2')).rejects.toThrow(/CROSSSLOT/);
  });
});

describe('startRedisServer', () => {
  let server: RedisServer;
  const clients: Redis[] = [];
  const connect = (options: RedisOptions = {}): Redis => {
    const client = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50, ...options });
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await server.stop();
  });

  test('a killed server restarts on the same port, empty, and clients reconnect', async () => {
    const port = server.port;
    const client = connect({ maxRetriesPerRequest: 20 });
    await client.set('k', 'v');

    await server.kill();
    expect(server.isRunning()).toBe(false);
    await expect(respCommand(server.host, port, ['PING'])).rejects.toThrow(/ECONNREFUSED/);

    await server.restart();
    expect(server.isRunning()).toBe(true);
    expect(server.port).toBe(port);
    expect(server.url).toBe(`redis://127.0.0.1:${port}`);
    expect(await connect().get('k')).toBeNull();
    // The old client finds the server again by itself.
    await expect(client.ping()).resolves.toBe('PONG');
  });

  test('a paused server times commands out until resumed', async () => {
    const client = connect({ commandTimeout: 500 });
    expect(await client.ping()).toBe('PONG');
    server.pause();
    try {
      await expect(client.ping()).rejects.toThrow(/timed out/i);
    } finally {
      server.resume();
    }
    await expect(client.ping()).resolves.toBe('PONG');
  });

  test('starts on a port it is given', async () => {
    const port = await freePort();
    const other = await startRedisServer({ port, args: ['--maxmemory', '16mb'] });
    try {
      expect(other.port).toBe(port);
      const direct = new Redis(other.url, { maxRetriesPerRequest: 1 });
      try {
        expect(await direct.config('GET', 'maxmemory')).toEqual(['maxmemory', String(16 * 1024 * 1024)]);
      } finally {
        direct.disconnect();
      }
    } finally {
      await other.stop();
    }
    expect(other.isRunning()).toBe(false);
  });
});
