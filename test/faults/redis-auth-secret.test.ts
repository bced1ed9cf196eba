/**
 * The cache's AUTH token from Secrets Manager, when the read fails and when the token is rotated:
 * a redis-server that requires a password, the local Secrets Manager (SigV4, IAM, faults) through
 * the real SDK client, and the GetProduct handler in a fresh container (its modules, its
 * per-container connection) invoked again and again, as Lambda reuses a container.
 *  - GetSecretValue throttled (every SDK attempt) or hanging at the first invocation: that
 *    invocation still answers 200 from DynamoDB; the next ones do not hammer Secrets Manager (a
 *    backoff, no hot loop); a later one reads the secret and uses Redis;
 *  - the token changed on the server and in the secret (rotation), connections dropped: the client
 *    reads the secret again on WRONGPASS and reconnects with the new token; reads are Redis hits again.
 */
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { Redis } from 'ioredis';
import { entries } from '../../functions/cache/keys';
import { DynamoShopRepository } from '../../functions/catalog/dynamodb/shop-repository';
import { IamAuthority } from '../../local/aws/iam';
import { startSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { createLambdaContext } from '../../local/lambda-context';
import { startRedisServer, type RedisServer } from '../../local/services/redis-server';
import { tenantId } from '../api/api-fixtures';
import { ACCOUNT, REGION, credentialsOf, principal } from '../aws/support';
import { inContainer, runtimeVariables } from '../infra/container';
import { dynamoDbEndpoint, testDocumentClient, testTables } from '../support';
import { until } from './fault-fixtures';

jest.setTimeout(60_000);

const FIRST = 'first-token-0123456789abcdef0123456789abcdef';
const SECOND = 'second-token-0123456789abcdef0123456789abcdef';
const SECRET_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:shop-edge/redis-auth-AbCdEf`;
/** What the CDK's secret.grantRead gives a cache client's role. */
const reader = principal('CacheClient', [
  { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: SECRET_ARN },
]);
const rotator = principal('Rotator', [{ Effect: 'Allow', Action: 'secretsmanager:*', Resource: '*' }]);

let authority: IamAuthority;
let sm: LocalSecretsManager;
let server: RedisServer;
let admin: Redis;
let tables: { shop: string; connections: string };
const tenant = tenantId('auth');

beforeAll(async () => {
  authority = new IamAuthority();
  authority.register(reader);
  authority.register(rotator);
  sm = await startSecretsManager({
    authority,
    region: REGION,
    accountId: ACCOUNT,
    secrets: [{ name: 'shop-edge/redis-auth', arn: SECRET_ARN, value: FIRST }],
  });
  server = await startRedisServer({ password: FIRST });
  admin = new Redis({ host: server.host, port: server.port, password: FIRST, lazyConnect: true });
  await admin.connect();
  tables = await testTables('redis-auth');
  const db = testDocumentClient();
  await new DynamoShopRepository(db, tables.shop).createProduct(
    tenant,
    { id: 'lamp', name: 'Lamp', description: '', price: 2500, currency: 'EUR', category: 'light', listed: false },
    5,
  );
  db.destroy();
});

afterAll(async () => {
  admin.disconnect();
  await server.stop();
  await sm.close();
});

afterEach(() => {
  sm.clearFaults();
});

/** What GetProduct's function gets: the cache and table settings, the role, the route to Secrets Manager. */
function environment(): Record<string, string> {
  return {
    SHOP_TABLE_NAME: tables.shop,
    CONNECTIONS_TABLE_NAME: tables.connections,
    REDIS_URL: server.url,
    REDIS_AUTH_SECRET_ARN: SECRET_ARN,
    // L1 off: every read shows whether Redis served it.
    CACHE_L1_MAX_ENTRIES: '0',
    POWERTOOLS_SERVICE_NAME: 'get-product',
    POWERTOOLS_METRICS_DISABLED: 'true',
    ...runtimeVariables({
      functionName: 'GetProduct',
      region: REGION,
      credentials: credentialsOf(reader),
      endpoints: { SECRETS_MANAGER: sm.url, DYNAMODB: dynamoDbEndpoint() },
    }),
  };
}

function getProduct(id: string): unknown {
  return {
    resource: '/api/products/{id}',
    path: `/api/products/${id}`,
    httpMethod: 'GET',
    headers: {},
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { id },
    stageVariables: null,
    body: null,
    isBase64Encoded: false,
    requestContext: {
      httpMethod: 'GET',
      path: `/dev/api/products/${id}`,
      stage: 'dev',
      requestId: String(Math.random()),
      resourcePath: '/api/products/{id}',
      identity: { sourceIp: '127.0.0.1' },
      authorizer: { principalId: 'u1', tenantId: tenant, userId: 'u1', permissions: 'products:read' },
    },
  };
}

const secretReads = () => sm.calls().filter((c) => c.operation === 'GetSecretValue');
const cached = async () => (await admin.exists(entries.product(tenant, 'lamp').key)) === 1;

/** A container of GetProduct: `invoke` runs one invocation, timed. */
async function withContainer(body: (invoke: () => Promise<{ status: number; name: unknown; ms: number }>) => Promise<void>): Promise<void> {
  await inContainer(environment(), async ({ load }) => {
    const { handler } = await load<{ handler: (e: unknown, c: Context) => Promise<APIGatewayProxyResult> }>(
      'functions/handlers/products/get',
    );
    const invoke = async () => {
      const started = Date.now();
      const result = await handler(getProduct('lamp'), createLambdaContext({ functionName: 'GetProduct' }));
      return {
        status: result.statusCode,
        name: (JSON.parse(result.body) as { data?: { name?: unknown } }).data?.name,
        ms: Date.now() - started,
      };
    };
    try {
      await body(invoke);
    } finally {
      await (await load<typeof import('../../functions/composition/lifecycle')>('functions/composition/lifecycle')).closeServices();
    }
  });
}

describe.each([
  // Every attempt of the SDK's retries is throttled.
  ['throttled', () => sm.failNext(3, 'throttle', ['GetSecretValue'])],
  // No answer: the read gives up after its timeout.
  ['hanging', () => sm.failNext(1, 'hang', ['GetSecretValue'])],
])('GetSecretValue %s at the first invocation', (_label, fault) => {
  it('answers from DynamoDB meanwhile, backs off, and a later invocation uses Redis', async () => {
    await admin.del(entries.product(tenant, 'lamp').key);
    const before = secretReads().length;
    fault();
    await withContainer(async (invoke) => {
      expect(await invoke()).toMatchObject({ status: 200, name: 'Lamp' });
      expect(await cached()).toBe(false); // served from DynamoDB: no Redis connection yet
      const failedReads = secretReads().length - before;
      expect(failedReads).toBeGreaterThanOrEqual(1);

      // Right after: no new secret read (backoff), and no waiting either.
      const next = await invoke();
      expect(next).toMatchObject({ status: 200, name: 'Lamp' });
      expect(next.ms).toBeLessThan(1000);
      expect(secretReads().length - before).toBe(failedReads);

      // A later invocation tries again, reads the secret and fills Redis.
      await until(
        async () => {
          expect(await invoke()).toMatchObject({ status: 200, name: 'Lamp' });
          return cached();
        },
        10_000,
        'a later invocation uses Redis',
      );
      expect(secretReads().length - before).toBe(failedReads + 1);
    });
  });
});

it('reads the secret again when the server refuses the token (rotation) and reconnects with the new one', async () => {
  const rotate = new SecretsManagerClient({ endpoint: sm.url, region: REGION, credentials: credentialsOf(rotator), maxAttempts: 1 });
  try {
    await withContainer(async (invoke) => {
      expect(await invoke()).toMatchObject({ status: 200, name: 'Lamp' });
      await until(cached, 5000, 'the first reads fill Redis');
      const reads = secretReads().length;

      // Rotation: the secret first, then the server; then the connections drop (a node replaced,
      // a failover), so the client reconnects with the token it has.
      await rotate.send(new PutSecretValueCommand({ SecretId: SECRET_ARN, SecretString: SECOND }));
      await admin.config('SET', 'requirepass', SECOND);
      await admin.auth(SECOND);
      await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await admin.del(entries.product(tenant, 'lamp').key);

      await until(
        async () => {
          expect(await invoke()).toMatchObject({ status: 200, name: 'Lamp' });
          return cached();
        },
        15_000,
        'reads use Redis again, with the new token',
      );
      expect(secretReads().length).toBeGreaterThan(reads);
    });
  } finally {
    rotate.destroy();
  }
});
