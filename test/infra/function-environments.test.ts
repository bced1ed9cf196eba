/**
 * Every function works with the environment its template gives it, nothing more: each one's
 * Environment.Variables are taken from the synthesized dev app and set alone (computed values such
 * as table names or the cache endpoint replaced by local ones), as in a fresh Lambda container,
 * against local services played as deployed (a Redis cluster that requires the AUTH token, the
 * token in Secrets Manager behind IAM, DynamoDB Local, @connections, CloudFront).
 *  - for every function of the app, the config its needs imply is complete, and a first call of
 *    its handler (an ordinary request, message or stream batch) succeeds: whatever its code parses
 *    or reaches is there (which a check of needs alone cannot see: code that uses more than its
 *    needs say, as the Invalidate consumer and WsDefault once did);
 *  - the Invalidate consumer (in the VPC, no table) bumps the cache generations of a product change;
 *  - WsDefault answers a frame it cannot route with an error message through @connections (it
 *    reads and counts the connection in the connections table), and its role may do so.
 */
import { marshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { Redis } from 'ioredis';
import { entries } from '../../functions/cache/keys';
import { RedisL2Store } from '../../functions/cache/l2-store';
import { TwoTierCache, type CacheSettings } from '../../functions/cache/two-tier-cache';
import { DynamoConnectionStore } from '../../functions/realtime/connection-store';
import {
  AUTHORIZER,
  PERMISSIONS,
  REST_ROUTES,
  STREAM_CONSUMERS,
  WEBSOCKET_ROUTES,
  type FunctionNeeds,
  type RestRoute,
  type WebSocketRoute,
} from '../../functions/routes';
import { createRedisClient, type RedisClient } from '../../functions/shared/clients/redis';
import type * as Config from '../../functions/shared/config';
import { CONNECTIONS_TABLE, SHOP_TABLE } from '../../functions/shared/tables';
import { startCloudFront, type LocalCloudFront } from '../../local/aws/cloudfront';
import { IamAuthority } from '../../local/aws/iam';
import { startSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { createLambdaContext } from '../../local/lambda-context';
import { startRedisCluster, type RedisCluster } from '../../local/services/redis-server';
import { ACCOUNT, REGION, credentialsOf, principal } from '../aws/support';
import { dynamoDbEndpoint, testDocumentClient, testTables, uniqueId } from '../support';
import { startConnectionsRecorder, type ConnectionsRecorder } from '../support/connections-recorder';
import { inContainer, resolveVariables, runtimeVariables, templateVariables, type Container } from './container';
import { resourceNamed, synthesize, type StackName, type SynthesizedShopEdge } from './support';

jest.setTimeout(120_000);

const AUTH_TOKEN = 'cache-auth-token-0123456789abcdef0123456789abcdef';
const SECRET_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:ShopEdge-dev-Cache-AuthToken-AbCdEf`;
const CURSOR_KEY_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:ShopEdge-dev-Api-CursorKey-GhIjKl`;
const DISTRIBUTION = 'E1SHOPEDGE0001';
const TENANT = 'fnenv';
/**
 * The functions' role session: what the CDK's secret.grantRead gives the cache clients, and the
 * fan-out's purge grant (each function's exact grants are asserted on the templates).
 */
const functionRole = principal('Function', [
  { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: [SECRET_ARN, CURSOR_KEY_ARN] },
  {
    Effect: 'Allow',
    Action: ['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation'],
    Resource: `arn:aws:cloudfront::${ACCOUNT}:distribution/${DISTRIBUTION}`,
  },
]);

let dev: SynthesizedShopEdge;
let authority: IamAuthority;
let secrets: LocalSecretsManager;
let cloudFront: LocalCloudFront;
let cluster: RedisCluster;
let redis: RedisClient;
let tables: { shop: string; connections: string };
let connectionsEndpoint: ConnectionsRecorder;

type Kind = 'authorizer' | 'rest' | 'webSocket' | 'stream';
interface Fn {
  readonly name: string;
  readonly stack: StackName;
  readonly entry: string;
  readonly needs: FunctionNeeds;
  readonly kind: Kind;
  readonly rest?: RestRoute;
  readonly webSocket?: WebSocketRoute;
}

/** Every function of the route table, with the stack that deploys it. */
const FUNCTIONS: Fn[] = [
  { name: AUTHORIZER.name, stack: 'api', entry: AUTHORIZER.entry, needs: AUTHORIZER.needs, kind: 'authorizer' },
  { name: AUTHORIZER.name, stack: 'realtime', entry: AUTHORIZER.entry, needs: AUTHORIZER.needs, kind: 'authorizer' },
  ...REST_ROUTES.map((r) => ({ name: r.name, stack: 'api' as const, entry: r.entry, needs: r.needs, kind: 'rest' as const, rest: r })),
  ...WEBSOCKET_ROUTES.map((r) => ({
    name: r.name,
    stack: 'realtime' as const,
    entry: r.entry,
    needs: r.needs,
    kind: 'webSocket' as const,
    webSocket: r,
  })),
  ...STREAM_CONSUMERS.map((c) => ({ name: c.name, stack: 'streams' as const, entry: c.entry, needs: c.needs, kind: 'stream' as const })),
];

/** Local stand-ins for the values the dev templates compute (everything else is a literal). */
const localValues = () => ({
  SHOP_TABLE_NAME: tables.shop,
  CONNECTIONS_TABLE_NAME: tables.connections,
  REDIS_URL: `redis://${cluster.startupNodes[0]!.host}:${String(cluster.startupNodes[0]!.port)}`,
  REDIS_AUTH_SECRET_ARN: SECRET_ARN,
  CURSOR_KEY_SECRET_ARN: CURSOR_KEY_ARN,
  WS_MANAGEMENT_ENDPOINT: `${connectionsEndpoint.url}/dev`,
  CDN_DISTRIBUTION_ID: DISTRIBUTION,
});

function containerEnvironment(f: { name: string; stack: StackName }): Record<string, string> {
  return {
    ...resolveVariables(templateVariables(dev.templates[f.stack], f.name), localValues()),
    ...runtimeVariables({
      functionName: `ShopEdge-dev-${f.name}`,
      region: REGION,
      credentials: credentialsOf(functionRole),
      endpoints: { SECRETS_MANAGER: secrets.url, DYNAMODB: dynamoDbEndpoint(), CLOUDFRONT: cloudFront.url },
    }),
  };
}

/** A connection of TENANT with every permission, as $connect stores it. */
async function openConnection(): Promise<string> {
  const connectionId = `${uniqueId('c').replace(/[^A-Za-z0-9]/g, '')}=`;
  const db = testDocumentClient();
  const now = Date.now();
  try {
    await new DynamoConnectionStore(db, tables.connections).put({
      connectionId,
      tenantId: TENANT,
      userId: 'u1',
      permissions: [...PERMISSIONS],
      connectedAt: now,
      expiresAt: Math.floor(now / 1000) + 3600,
      tokenExpiresAt: Math.floor(now / 1000) + 3600,
    });
  } finally {
    db.destroy();
  }
  return connectionId;
}

beforeAll(async () => {
  dev = synthesize();
  authority = new IamAuthority();
  authority.register(functionRole);
  secrets = await startSecretsManager({
    authority,
    region: REGION,
    accountId: ACCOUNT,
    secrets: [
      { name: 'ShopEdge-dev-Cache-AuthToken', arn: SECRET_ARN, value: AUTH_TOKEN },
      { name: 'ShopEdge-dev-Api-CursorKey', arn: CURSOR_KEY_ARN, value: 'cursor-key-0123456789abcdef0123456789abcdef' },
    ],
  });
  cloudFront = await startCloudFront({ authority, accountId: ACCOUNT, distributions: [DISTRIBUTION] });
  // The cache as deployed: a cluster that requires the AUTH token.
  cluster = await startRedisCluster({ masters: 3 });
  for (const node of cluster.startupNodes) {
    const conn = new Redis({ ...node, lazyConnect: true, maxRetriesPerRequest: 0 });
    await conn.connect();
    await conn.config('SET', 'requirepass', AUTH_TOKEN);
    conn.disconnect();
  }
  const [first, ...rest] = cluster.startupNodes;
  redis = createRedisClient({
    url: `redis://${first!.host}:${String(first!.port)}`,
    cluster: true,
    clusterNodes: rest,
    authToken: AUTH_TOKEN,
    commandTimeoutMs: 1000,
  });
  tables = await testTables('fn-env');
  connectionsEndpoint = await startConnectionsRecorder();
});

afterAll(async () => {
  await connectionsEndpoint.close();
  await redis.quit().catch(() => {
    redis.disconnect();
  });
  await cluster.stop();
  await secrets.close();
  await cloudFront.close();
});

type Outcome = { readonly resolved: unknown } | { readonly rejected: string };

/** One invocation of the function's handler in a fresh container with its template environment. */
async function firstCall(
  f: { name: string; stack: StackName; entry: string },
  event: unknown,
): Promise<{ outcome: Outcome; logs: string[] }> {
  return inContainer(containerEnvironment(f), async ({ load, logs }: Container) => {
    try {
      const { handler } = await load<{ handler: (e: unknown, c: Context) => Promise<unknown> }>(f.entry.replace(/\.ts$/, ''));
      const outcome = await handler(event, createLambdaContext({ functionName: f.name })).then(
        (resolved): Outcome => ({ resolved }),
        (error: unknown): Outcome => ({ rejected: String(error) }),
      );
      return { outcome, logs: logs() };
    } finally {
      // The end of the container: its connections closed.
      await (await load<typeof import('../../functions/composition/lifecycle')>('functions/composition/lifecycle')).closeServices();
    }
  });
}

function restEvent(route: RestRoute): unknown {
  const path = route.path.replace('{id}', 'p1');
  const body = ['POST', 'PUT', 'PATCH'].includes(route.method) ? '{}' : null;
  return {
    resource: route.path,
    path,
    httpMethod: route.method,
    headers: body === null ? {} : { 'Content-Type': 'application/json' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: route.path.includes('{id}') ? { id: 'p1' } : null,
    stageVariables: null,
    body,
    isBase64Encoded: false,
    requestContext: {
      accountId: ACCOUNT,
      apiId: 'abc123',
      httpMethod: route.method,
      path: `/dev${path}`,
      stage: 'dev',
      requestId: uniqueId('r'),
      requestTimeEpoch: Date.now(),
      resourceId: 'res1',
      resourcePath: route.path,
      protocol: 'HTTP/1.1',
      identity: { sourceIp: '127.0.0.1', userAgent: 'test' },
      ...(route.permission
        ? {
            authorizer: {
              principalId: 'u1',
              tenantId: TENANT,
              userId: 'u1',
              permissions: PERMISSIONS.join(' '),
              exp: String(Math.floor(Date.now() / 1000) + 3600),
            },
          }
        : {}),
    },
  };
}

function webSocketEvent(route: WebSocketRoute, connectionId: string, body?: string): unknown {
  const eventType = route.routeKey === '$connect' ? 'CONNECT' : route.routeKey === '$disconnect' ? 'DISCONNECT' : 'MESSAGE';
  return {
    ...(body === undefined ? {} : { body, isBase64Encoded: false }),
    requestContext: {
      routeKey: route.routeKey,
      eventType,
      connectionId,
      connectedAt: Date.now(),
      messageId: 'm1',
      extendedRequestId: 'x1',
      requestId: uniqueId('r'),
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      stage: 'dev',
      apiId: 'abc123',
      requestTimeEpoch: Date.now(),
      messageDirection: 'IN',
      ...(route.routeKey === '$connect'
        ? {
            authorizer: {
              principalId: 'u1',
              tenantId: TENANT,
              userId: 'u1',
              permissions: 'products:read',
              exp: String(Math.floor(Date.now() / 1000) + 3600),
            },
          }
        : {}),
    },
  };
}

const WEBSOCKET_BODIES: Record<string, string | undefined> = {
  $default: 'not json',
  subscribe: '{"action":"subscribe","channel":"dashboard"}',
  unsubscribe: '{"action":"unsubscribe","channel":"dashboard"}',
  ping: '{"action":"ping"}',
};

function productChange(tenant: string, product: string, version: number): DynamoDBStreamEvent {
  const keys = { pk: `T#${tenant}`, sk: `P#${product}` };
  return {
    Records: [
      {
        eventID: uniqueId('ev'),
        eventName: 'MODIFY',
        eventSource: 'aws:dynamodb',
        awsRegion: REGION,
        dynamodb: {
          SequenceNumber: String(Date.now()),
          ApproximateCreationDateTime: Date.now() / 1000,
          Keys: marshall(keys) as never,
          OldImage: marshall({ ...keys, name: 'Old', version, listed: false }) as never,
          NewImage: marshall({ ...keys, name: 'New', version: version + 1, listed: false }) as never,
          StreamViewType: 'NEW_AND_OLD_IMAGES',
        },
      },
    ],
  };
}

describe('every function of the dev app', () => {
  it.each(FUNCTIONS)('$stack/$name: the config its needs imply is complete in its template environment', async (f) => {
    await inContainer(containerEnvironment(f), async ({ load }) => {
      const config = await load<typeof Config>('functions/shared/config');
      // Sections with defaults still refuse a malformed value.
      expect(() => config.appConfig()).not.toThrow();
      expect(() => config.cacheConfig()).not.toThrow();
      if (f.kind === 'authorizer') expect(() => config.authConfig()).not.toThrow();
      if (f.needs.tables.length > 0) expect(() => config.tablesConfig()).not.toThrow();
      if (f.needs.redis) expect(config.redisConfig()).toMatchObject({ url: expect.any(String), cluster: true, authSecretArn: SECRET_ARN });
      if (f.needs.manageConnections === true) expect(config.appConfig().wsManagementEndpoint).toEqual(expect.any(String));
      if (f.needs.cdnInvalidation === true) expect(config.appConfig().cdnDistributionId).toEqual(expect.any(String));
      return Promise.resolve();
    });
  });

  it.each(FUNCTIONS)('$stack/$name: a first call succeeds in its template environment', async (f) => {
    const connectionId = await openConnection();
    let event: unknown;
    switch (f.kind) {
      case 'authorizer':
        event =
          f.stack === 'api'
            ? {
                type: 'REQUEST',
                methodArn: `arn:aws:execute-api:${REGION}:${ACCOUNT}:abc123/dev/GET/api/products`,
                headers: { Authorization: 'Bearer a.b.c' },
              }
            : {
                type: 'REQUEST',
                methodArn: `arn:aws:execute-api:${REGION}:${ACCOUNT}:abc123/dev/$connect`,
                queryStringParameters: { token: 'a.b.c' },
              };
        break;
      case 'rest':
        event = restEvent(f.rest!);
        break;
      case 'webSocket':
        event = webSocketEvent(f.webSocket!, connectionId, WEBSOCKET_BODIES[f.webSocket!.routeKey]);
        break;
      case 'stream':
        event = productChange(TENANT, 'p1', 1);
        break;
    }
    const { outcome, logs } = await firstCall(f, event);

    expect(JSON.stringify({ outcome, logs })).not.toMatch(/Invalid \w+ configuration|is required/);
    expect(logs.filter((line) => line.includes('"level":"ERROR"'))).toEqual([]);
    switch (f.kind) {
      case 'authorizer':
        // A malformed token is refused for what it is, not for want of configuration.
        expect(outcome).toEqual({ rejected: 'Error: Unauthorized' });
        expect(logs.find((l) => l.includes('token refused'))).toMatch(/JWS|JWT/);
        break;
      case 'rest':
        expect(outcome).toEqual({ resolved: expect.objectContaining({ statusCode: expect.any(Number) }) });
        expect([f.name, (outcome as { resolved: { statusCode: number } }).resolved.statusCode < 500]).toEqual([f.name, true]);
        break;
      case 'webSocket': {
        expect(outcome).toEqual({ resolved: { statusCode: 200 } });
        const replies = connectionsEndpoint.posts.filter((p) => p.connectionId === connectionId).map((p) => p.body);
        expect(JSON.stringify(replies)).not.toContain('UNAVAILABLE');
        break;
      }
      case 'stream':
        expect(outcome).toEqual({ resolved: { batchItemFailures: [] } });
        break;
    }
  });
});

/** The deployed defaults (the templates set no CACHE_* variable), L1 off: every read shows L2. */
const L2_ONLY: CacheSettings = {
  l1MaxEntries: 0,
  l1TtlMs: 2000,
  ttlShortSeconds: 60,
  ttlMediumSeconds: 300,
  ttlLongSeconds: 3600,
  staleSeconds: 60,
  negativeTtlSeconds: 30,
  compressAboveBytes: 4096,
  leaseMs: 2000,
  leaseWaitMs: 500,
  revalidateBudgetMs: 150,
};

describe('Invalidate (stream consumer, in the VPC, no table)', () => {
  const invalidate = STREAM_CONSUMERS.find((c) => c.name === 'Invalidate')!;

  it('bumps the generations of a changed product with exactly its template environment', async () => {
    const tenant = uniqueId('inv').replace(/[^A-Za-z0-9_-]/g, '_');
    const entry = entries.product(tenant, 'lamp');
    const reader = new TwoTierCache({ settings: L2_ONLY, l2: new RedisL2Store(redis) });
    // Cached, and served from Redis.
    expect(await reader.getOrLoad(entry, 'medium', () => Promise.resolve('old'))).toMatchObject({ value: 'old', source: 'origin' });
    expect(await reader.getOrLoad(entry, 'medium', () => Promise.resolve('unused'))).toMatchObject({ value: 'old', source: 'l2' });

    const env = containerEnvironment({ name: 'Invalidate', stack: 'streams' });
    expect(Object.keys(env)).not.toContain('SHOP_TABLE_NAME'); // as deployed: no table of its own
    const { outcome } = await firstCall({ ...invalidate, stack: 'streams' }, productChange(tenant, 'lamp', 1));
    expect(outcome).toEqual({ resolved: { batchItemFailures: [] } });
    // The cached entry is no longer served: the next read goes to the origin.
    expect(await reader.getOrLoad(entry, 'medium', () => Promise.resolve('new'))).toMatchObject({ value: 'new', source: 'origin' });
  });
});

describe('WsDefault (an unknown action or a frame that is not JSON)', () => {
  const wsDefault = WEBSOCKET_ROUTES.find((r) => r.name === 'WsDefault')!;

  it('has the connections table in its environment and may read and count connections there', () => {
    const vars = templateVariables(dev.templates.realtime, 'WsDefault');
    expect(vars).toMatchObject({ CONNECTIONS_TABLE_NAME: expect.anything(), WS_MANAGEMENT_ENDPOINT: expect.anything() });
    const statements = (
      resourceNamed(dev.templates.realtime, 'AWS::IAM::Policy', 'WsDefaultRoleDefaultPolicy').Properties.PolicyDocument as {
        Statement: { Action: string | string[]; Resource: unknown }[];
      }
    ).Statement;
    const on = (table: string) =>
      statements
        .filter((s) => JSON.stringify(s.Resource).includes(`FnGetAtt${table}`))
        .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
    // admit(): GetItem of the connection, UpdateItem of its message count; a gone one is removed.
    expect(on(CONNECTIONS_TABLE.logicalName)).toEqual(
      expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:BatchWriteItem']),
    );
    expect(on(SHOP_TABLE.logicalName)).toEqual([]); // it reads no product
    const role = resourceNamed(dev.templates.realtime, 'AWS::IAM::Role', 'WsDefaultRole').Properties;
    expect(JSON.stringify(role.ManagedPolicyArns)).toContain('ManageConnections');
  });

  it('answers a frame it cannot route with an error message, with exactly its template environment', async () => {
    const connectionId = await openConnection();
    const { outcome } = await firstCall({ ...wsDefault, stack: 'realtime' }, webSocketEvent(wsDefault, connectionId, 'not json'));
    expect(outcome).toEqual({ resolved: { statusCode: 200 } });
    expect(connectionsEndpoint.posts.filter((p) => p.connectionId === connectionId)).toEqual([
      { connectionId, body: { type: 'error', code: 'BAD_REQUEST', message: expect.stringContaining('action') } },
    ]);
  });
});
