/**
 * Every function works with the environment its template gives it, nothing more: each one's
 * Environment.Variables are taken from the synthesized dev app and set alone (computed values such
 * as table names or the cache endpoint replaced by local ones), as in a fresh Lambda container,
 * against local services played as deployed (a Redis cluster that requires the AUTH token, the
 * token in Secrets Manager behind IAM, DynamoDB Local, @connections, CloudFront).
 *  - the Invalidate consumer (in the VPC, no table) bumps the cache generations of a product change.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { Redis } from 'ioredis';
import { entries } from '../../functions/cache/keys';
import { RedisL2Store } from '../../functions/cache/l2-store';
import { TwoTierCache, type CacheSettings } from '../../functions/cache/two-tier-cache';
import { STREAM_CONSUMERS } from '../../functions/routes';
import { createRedisClient, type RedisClient } from '../../functions/shared/clients/redis';
import { startCloudFront, type LocalCloudFront } from '../../local/aws/cloudfront';
import { IamAuthority } from '../../local/aws/iam';
import { startSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { createLambdaContext } from '../../local/lambda-context';
import { startRedisCluster, type RedisCluster } from '../../local/services/redis-server';
import { ACCOUNT, REGION, credentialsOf, principal } from '../aws/support';
import { dynamoDbEndpoint, testTables, uniqueId } from '../support';
import { inContainer, resolveVariables, runtimeVariables, templateVariables, type Container } from './container';
import { synthesize, type StackName, type SynthesizedShopEdge } from './support';

jest.setTimeout(120_000);

const AUTH_TOKEN = 'cache-auth-token-0123456789abcdef0123456789abcdef';
const SECRET_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:ShopEdge-dev-Cache-AuthToken-AbCdEf`;
const DISTRIBUTION = 'E1SHOPEDGE0001';
/**
 * The functions' role session: what the CDK's secret.grantRead gives the cache clients, and the
 * fan-out's purge grant (each function's exact grants are asserted on the templates).
 */
const functionRole = principal('Function', [
  { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: SECRET_ARN },
  {
    Effect: 'Allow',
    Action: ['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation'],
    Resource: `arn:aws:cloudfront::${ACCOUNT}:distribution/${DISTRIBUTION}`,
  },
]);

interface Post {
  readonly connectionId: string;
  readonly body: unknown;
}

let dev: SynthesizedShopEdge;
let authority: IamAuthority;
let secrets: LocalSecretsManager;
let cloudFront: LocalCloudFront;
let cluster: RedisCluster;
let redis: RedisClient;
let tables: { shop: string; connections: string };
let connectionsEndpoint: { url: string; posts: Post[]; close: () => Promise<void> };

/** Local stand-ins for the values the dev templates compute (everything else is a literal). */
const localValues = () => ({
  SHOP_TABLE_NAME: tables.shop,
  CONNECTIONS_TABLE_NAME: tables.connections,
  REDIS_URL: `redis://${cluster.startupNodes[0]!.host}:${String(cluster.startupNodes[0]!.port)}`,
  REDIS_AUTH_SECRET_ARN: SECRET_ARN,
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

/** A recording @connections endpoint: every post answered 200. */
async function startConnectionsEndpoint(): Promise<typeof connectionsEndpoint> {
  const posts: Post[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const id = decodeURIComponent(/\/@connections\/([^/?]+)/.exec(req.url ?? '')?.[1] ?? '');
      if (req.method === 'POST') posts.push({ connectionId: id, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
    posts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

beforeAll(async () => {
  dev = synthesize();
  authority = new IamAuthority();
  authority.register(functionRole);
  secrets = await startSecretsManager({
    authority,
    region: REGION,
    accountId: ACCOUNT,
    secrets: [{ name: 'ShopEdge-dev-Cache-AuthToken', arn: SECRET_ARN, value: AUTH_TOKEN }],
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
  connectionsEndpoint = await startConnectionsEndpoint();
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
      await (await load<typeof import('../../functions/app')>('functions/app')).closeAppServices();
    }
  });
}

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
