/**
 * startLocalStack wires every piece together: a REST write lands in DynamoDB, the stream poller
 * hands it to a consumer, the consumer posts to a WebSocket client through the management API
 * (all fixture handlers); and with the real route table, demo data is seeded through the real
 * REST handlers.
 */
import { AUTHORIZER, type RestRoute, type StreamConsumer, type WebSocketRoute } from '../../functions/routes';
import { resetConfig } from '../../functions/shared/config';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { mintDevToken } from '../../local/tokens';
import { dynamoDbEndpoint, redisSingleUrl, uniqueId } from '../support';
import { connect } from './ws-client';

const needs = { redis: false, tables: [] };
const FIXTURE_AUTHORIZER = { ...AUTHORIZER, name: 'FixtureAuthorizer', entry: 'test/local/fixtures/authorizer.ts' };
const REST: RestRoute[] = [
  {
    name: 'WriteItem',
    method: 'POST',
    path: '/api/items',
    entry: 'test/local/fixtures/writer.ts',
    permission: 'products:write',
    cacheClass: 'no-store',
    needs,
    summary: '',
  },
];
const WS: WebSocketRoute[] = ['$connect', '$disconnect', '$default'].map((routeKey) => ({
  name: `Ws${routeKey.slice(1)}`,
  routeKey,
  entry: 'test/local/fixtures/ws.ts',
  needs,
}));
const CONSUMERS: StreamConsumer[] = [
  { name: 'Notify', table: 'shop', entry: 'test/local/fixtures/notify.ts', needs, batchSize: 10, parallelizationFactor: 1 },
];

const savedEnv = { ...process.env };
function restoreEnv(): void {
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) Reflect.deleteProperty(process.env, key);
  Object.assign(process.env, savedEnv);
  resetConfig();
}

const freshTables = () => ({ shop: uniqueId('stack-shop'), connections: uniqueId('stack-connections') });

describe('startLocalStack with fixture handlers', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startLocalStack({
      port: 0,
      wsPort: 0,
      dynamoDbEndpoint: dynamoDbEndpoint(),
      redis: 'none',
      tableNames: freshTables(),
      seed: false,
      restRoutes: REST,
      webSocketRoutes: WS,
      streamConsumers: CONSUMERS,
      authorizer: FIXTURE_AUTHORIZER,
      pollIntervalMs: 100,
    });
  });

  afterAll(async () => {
    await (stack as LocalStack | undefined)?.stop(); // undefined when beforeAll failed
    restoreEnv();
  });

  it('sets the environment the handlers read', () => {
    expect(process.env).toMatchObject({
      SHOP_TABLE_NAME: stack.tableNames.shop,
      CONNECTIONS_TABLE_NAME: stack.tableNames.connections,
      DYNAMODB_ENDPOINT: dynamoDbEndpoint(),
      WS_MANAGEMENT_ENDPOINT: stack.managementEndpoint,
      AWS_ACCESS_KEY_ID: expect.any(String),
      JWT_ISSUER: expect.any(String),
    });
    expect(process.env.REDIS_URL).toBeUndefined();
    expect(stack.managementEndpoint).toBe(`http://127.0.0.1:${stack.wsPort}/local`);
    expect(stack.redisSource).toBe('none');
    expect(stack.startedDynamoDb).toBe(false);
  });

  it('takes a REST write through DynamoDB, its stream and the management API to a WebSocket client: the first record of a fresh table is not lost', async () => {
    const token = await mintDevToken({ tenantId: 'tenant-s' });
    const client = await connect(`${stack.wsUrl}/?token=${token}`);
    try {
      client.send('who am i');
      const { connectionId } = await client.nextJson<{ connectionId: string }>();

      const response = await fetch(`${stack.restUrl}/api/items`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ id: 'item-1', connectionId }),
      });
      expect(response.status).toBe(201);
      expect(response.headers.get('location')).toBe('/api/items/item-1');
      expect(await response.json()).toEqual({ data: { id: 'item-1', tenantId: 'tenant-s' } });

      // How fast is a benchmark's question; here: it arrives, and it is the INSERT (the poller once lost it).
      const notice = await client.nextJson(15_000);
      expect(notice).toEqual({
        type: 'written',
        sk: 'P#item-1',
        eventName: 'INSERT',
        source: expect.stringContaining(stack.tableNames.shop),
      });
    } finally {
      client.ws.terminate();
    }
  });

  it('refuses bad tokens on both fronts', async () => {
    const rest = await fetch(`${stack.restUrl}/api/items`, { method: 'POST', headers: { Authorization: 'Bearer nope' }, body: '{}' });
    expect(rest.status).toBe(401);
    await expect(connect(`${stack.wsUrl}/?token=nope`)).rejects.toMatchObject({ status: 401 });
  });
});

describe('Redis choice', () => {
  afterEach(() => restoreEnv());

  it('runs with L1 only when there is no REDIS_URL and no redis-server on PATH', async () => {
    delete process.env.REDIS_URL;
    process.env.PATH = '/nonexistent';
    const lines: string[] = [];
    const logger = (part: string) => ({
      info: (m: string) => lines.push(`[${part}] ${m}`),
      warn: (m: string) => lines.push(`[${part}] ${m}`),
      error: () => undefined,
    });
    const stack = await startLocalStack({
      port: 0,
      wsPort: 0,
      dynamoDbEndpoint: dynamoDbEndpoint(),
      tableNames: freshTables(),
      seed: false,
      streams: false,
      logger,
    });
    try {
      expect(stack.redisSource).toBe('none');
      expect(stack.redisUrl).toBeUndefined();
      expect(process.env.REDIS_URL).toBeUndefined();
      expect(lines.filter((l) => l.startsWith('[redis]'))).toEqual([
        '[redis] no REDIS_URL and no redis-server on PATH: the cache runs with L1 (in-process) only',
      ]);
    } finally {
      await stack.stop();
    }
  });

  it('uses REDIS_URL when it is set', async () => {
    process.env.REDIS_URL = redisSingleUrl();
    const stack = await startLocalStack({
      port: 0,
      wsPort: 0,
      dynamoDbEndpoint: dynamoDbEndpoint(),
      tableNames: freshTables(),
      seed: false,
      streams: false,
    });
    try {
      expect(stack.redisSource).toBe('env');
      expect(stack.redisUrl).toBe(redisSingleUrl());
    } finally {
      await stack.stop();
    }
  });
});

describe('startLocalStack with the route table', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startLocalStack({
      port: 0,
      wsPort: 0,
      dynamoDbEndpoint: dynamoDbEndpoint(),
      redis: 'none',
      tableNames: freshTables(),
      streams: false,
    });
  }, 60_000);

  afterAll(async () => {
    await (stack as LocalStack | undefined)?.stop(); // undefined when beforeAll failed
    restoreEnv();
  });

  it('seeds the demo data through the real REST handlers', async () => {
    expect(stack.seedError).toBeUndefined();
    expect(stack.seed).toEqual({ tenants: 2, products: 40, orders: 6, existing: false });

    const response = await fetch(`${stack.restUrl}/api/products?category=coffee&limit=100`, {
      headers: { Authorization: `Bearer ${stack.tokens.acme}` },
    });
    expect(response.status).toBe(200);
    const { data } = (await response.json()) as { data: { id: string; tenantId: string; category: string }[] };
    expect(data.length).toBeGreaterThanOrEqual(5);
    expect(data.every((p) => p.tenantId === 'acme' && p.category === 'coffee')).toBe(true);
  });

  it("lists one tenant's products on the marketplace", async () => {
    const response = await fetch(`${stack.restUrl}/api/marketplace/products?limit=100`);
    expect(response.status).toBe(200);
    const { data } = (await response.json()) as { data: { tenantId: string }[] };
    expect(data.length).toBeGreaterThan(0);
    expect(new Set(data.map((p) => p.tenantId))).toEqual(new Set(['acme']));
  });

  it('finds the demo data again instead of duplicating it', async () => {
    const { seedDemoData } = await import('../../local/seed');
    expect(await seedDemoData(stack.restUrl)).toMatchObject({ existing: true, products: 0 });
  });
});
