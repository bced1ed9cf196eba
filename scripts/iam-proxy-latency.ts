/**
 * What the IAM proxy adds to a DynamoDB call: GetItem and PutItem through the real SDK client,
 * straight to DynamoDB Local and through local/aws/dynamodb-proxy.ts, interleaved so both see
 * the same machine load. Prints the medians and p90s of both paths, their difference, and the
 * proxy's own time per call from its recorder (arrival to answer, less DynamoDB Local's part).
 *
 *   npx tsx scripts/iam-proxy-latency.ts [--calls 2000]
 */
import { DynamoDBClient, GetItemCommand, PutItemCommand, CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { recordCalls, startDynamoDbProxy } from '../local/aws/dynamodb-proxy';
import { IamAuthority } from '../local/aws/iam';
import { localDynamoDbClient, startDynamoDbLocal } from '../local/services/dynamodb-local';

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const TABLE = 'latency-probe';

function argument(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i < 0 ? undefined : Number(process.argv[i + 1]);
  return value === undefined || !Number.isFinite(value) || value <= 0 ? fallback : value;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const fmt = (ms: number): string => `${ms.toFixed(3)} ms`;

async function main(): Promise<void> {
  const calls = argument('calls', 2000);
  const dynamo = await startDynamoDbLocal();
  const log = recordCalls(calls * 2 + 100);
  const authority = new IamAuthority();
  const credentials = {
    accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(20).toString('base64'),
  };
  authority.register({
    ...credentials,
    roleArn: `arn:aws:iam::${ACCOUNT}:role/LatencyProbe`,
    sessionName: 'probe',
    policies: [
      {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['dynamodb:GetItem', 'dynamodb:PutItem'],
            Resource: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${TABLE}`,
          },
        ],
      },
    ],
  });
  const proxy = await startDynamoDbProxy({
    upstream: dynamo.endpoint,
    authority,
    region: REGION,
    accountId: ACCOUNT,
    recorder: log.recorder,
  });
  const direct = localDynamoDbClient(dynamo.endpoint, { maxAttempts: 1 });
  const viaProxy = new DynamoDBClient({ endpoint: proxy.url, region: REGION, credentials, maxAttempts: 1 });
  try {
    await direct.send(
      new CreateTableCommand({
        TableName: TABLE,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      }),
    );
    const item = (i: number) => ({ TableName: TABLE, Item: { pk: { S: `k${String(i % 100)}` }, v: { S: 'x'.repeat(200) } } });
    const key = (i: number) => ({ TableName: TABLE, Key: { pk: { S: `k${String(i % 100)}` } } });
    for (let i = 0; i < 100; i++) await direct.send(new PutItemCommand(item(i)));

    // Warm-up: JIT, sockets, the proxy's decision cache (its first evaluation is timed apart below).
    const firstStarted = performance.now();
    await viaProxy.send(new GetItemCommand(key(0)));
    const firstCall = performance.now() - firstStarted;
    for (let i = 0; i < 300; i++) {
      await direct.send(new GetItemCommand(key(i)));
      await viaProxy.send(new GetItemCommand(key(i)));
      await viaProxy.send(new PutItemCommand(item(i)));
    }
    log.clear();

    const samples = { direct: [] as number[], proxy: [] as number[], directPut: [] as number[], proxyPut: [] as number[] };
    const time = async (into: number[], call: () => Promise<unknown>): Promise<void> => {
      const started = performance.now();
      await call();
      into.push(performance.now() - started);
    };
    for (let i = 0; i < calls; i++) {
      // Alternate which path goes first, so neither always runs on a just-woken event loop.
      const order = i % 2 === 0 ? (['direct', 'proxy'] as const) : (['proxy', 'direct'] as const);
      for (const path of order) {
        const client = path === 'direct' ? direct : viaProxy;
        await time(samples[path], () => client.send(new GetItemCommand(key(i))));
        await time(path === 'direct' ? samples.directPut : samples.proxyPut, () => client.send(new PutItemCommand(item(i))));
      }
    }
    const own = log.calls().map((c) => c.latencyMs - (c.upstreamMs ?? 0));
    const authorize = log.calls().map((c) => c.authorizeMs);

    const row = (name: string, values: number[]) =>
      `${name.padEnd(28)} median ${fmt(percentile(values, 50))}   p90 ${fmt(percentile(values, 90))}`;
    process.stdout.write(
      [
        `IAM proxy latency, ${String(calls)} GetItem and ${String(calls)} PutItem per path, sequential, real SDK client, load average ${loadavg()[0]?.toFixed(2) ?? '?'}`,
        row('GetItem direct', samples.direct),
        row('GetItem via proxy', samples.proxy),
        row('PutItem direct', samples.directPut),
        row('PutItem via proxy', samples.proxyPut),
        `added per call (medians)     GetItem ${fmt(percentile(samples.proxy, 50) - percentile(samples.direct, 50))}   PutItem ${fmt(percentile(samples.proxyPut, 50) - percentile(samples.directPut, 50))}`,
        row("proxy's own time", own),
        row('  of which SigV4 + IAM', authorize),
        `first call through the proxy (uncached policy evaluation, cold sockets): ${fmt(firstCall)}`,
        '',
      ].join('\n'),
    );
  } finally {
    direct.destroy();
    viaProxy.destroy();
    await proxy.close();
    await dynamo.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});
