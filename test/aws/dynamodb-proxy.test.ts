/**
 * The IAM proxy in front of DynamoDB Local, through the real DynamoDB, DocumentClient and
 * DynamoDB Streams clients: what a role's policies allow goes through, anything else is the
 * AccessDeniedException AWS answers, with AWS's message.
 */
import { DynamoDBClient, GetItemCommand, ListTablesCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListStreamsCommand,
} from '@aws-sdk/client-dynamodb-streams';
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import type { TableNames } from '../../local/services/tables';
import { IamAuthority, type PrincipalRegistration } from '../../local/aws/iam';
import { recordCalls, startDynamoDbProxy, type DynamoDbProxy } from '../../local/aws/dynamodb-proxy';
import { dynamoDbEndpoint, testDynamoDbClient, testTables } from '../support';
import { ACCOUNT, REGION, credentialsOf, failure, principal, sessionArn } from './support';

let authority: IamAuthority;
let proxy: DynamoDbProxy;
let tables: TableNames;
const log = recordCalls();
const clients: { destroy(): void }[] = [];

const arn = (table: string): string => `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${table}`;

function dynamo(p: Pick<PrincipalRegistration, 'accessKeyId' | 'secretAccessKey' | 'sessionToken'>): DynamoDBClient {
  const client = new DynamoDBClient({
    endpoint: proxy.url,
    region: REGION,
    credentials: credentialsOf(p as PrincipalRegistration),
    maxAttempts: 1,
  });
  clients.push(client);
  return client;
}

function documents(p: PrincipalRegistration): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(dynamo(p));
}

function streams(p: PrincipalRegistration): DynamoDBStreamsClient {
  const client = new DynamoDBStreamsClient({ endpoint: proxy.url, region: REGION, credentials: credentialsOf(p), maxAttempts: 1 });
  clients.push(client);
  return client;
}

function registered(p: PrincipalRegistration): PrincipalRegistration {
  authority.register(p);
  return p;
}

beforeAll(async () => {
  tables = await testTables('iam');
  authority = new IamAuthority();
  proxy = await startDynamoDbProxy({
    upstream: dynamoDbEndpoint(),
    authority,
    region: REGION,
    accountId: ACCOUNT,
    recorder: log.recorder,
    keyAttributes: () => ['pk', 'sk'],
  });
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await proxy.close();
});

beforeEach(() => {
  log.clear();
});

describe('allowed calls', () => {
  it('reads and writes what the role is granted, through the DocumentClient', async () => {
    const p = registered(
      principal('Writer', [{ Effect: 'Allow', Action: ['dynamodb:PutItem', 'dynamodb:GetItem'], Resource: arn(tables.shop) }]),
    );
    const doc = documents(p);
    await doc.send(new PutCommand({ TableName: tables.shop, Item: { pk: 'T#acme', sk: 'P#1', name: 'beans' } }));
    const got = await doc.send(new GetCommand({ TableName: tables.shop, Key: { pk: 'T#acme', sk: 'P#1' } }));
    expect(got.Item).toEqual({ pk: 'T#acme', sk: 'P#1', name: 'beans' });
  });

  it("relays DynamoDB Local's own errors unchanged", async () => {
    const p = registered(principal('Conditional', [{ Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: arn(tables.shop) }]));
    const put = () =>
      documents(p).send(
        new PutCommand({ TableName: tables.shop, Item: { pk: 'T#cond', sk: 'x' }, ConditionExpression: 'attribute_not_exists(pk)' }),
      );
    await put();
    expect((await failure(put())).name).toBe('ConditionalCheckFailedException');
  });

  it('takes access keys DynamoDB Local would refuse (it accepts letters and digits only)', async () => {
    const p = registered({
      ...principal('Odd', [{ Effect: 'Allow', Action: 'dynamodb:DescribeTable', Resource: arn(tables.shop) }]),
      accessKeyId: 'ASIA_odd-key.1',
    });
    const out = await dynamo(p).send(new DescribeTableCommand({ TableName: tables.shop }));
    expect(out.Table?.TableName).toBe(tables.shop);
  });

  it('ListTables is evaluated on * ', async () => {
    const on = registered(principal('Lister', [{ Effect: 'Allow', Action: 'dynamodb:ListTables', Resource: '*' }]));
    const off = registered(principal('NoLister', [{ Effect: 'Allow', Action: 'dynamodb:ListTables', Resource: arn(tables.shop) }]));
    expect((await dynamo(on).send(new ListTablesCommand({ Limit: 100 }))).TableNames).toBeDefined();
    const denied = await failure(dynamo(off).send(new ListTablesCommand({})));
    expect(denied.message).toBe(
      `User: ${sessionArn(off)} is not authorized to perform: dynamodb:ListTables on resource: * because no identity-based policy allows the dynamodb:ListTables action`,
    );
  });
});

describe('denied calls', () => {
  it('answers AccessDeniedException, 400, with the message AWS words, and nothing is written', async () => {
    const p = registered(principal('Reader', [{ Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: arn(tables.shop) }]));
    const denied = await failure(documents(p).send(new PutCommand({ TableName: tables.shop, Item: { pk: 'T#denied', sk: 'x' } })));
    expect(denied).toEqual({
      name: 'AccessDeniedException',
      status: 400,
      message: `User: ${sessionArn(p)} is not authorized to perform: dynamodb:PutItem on resource: ${arn(tables.shop)} because no identity-based policy allows the dynamodb:PutItem action`,
    });
    const direct = testDynamoDbClient();
    try {
      const out = await direct.send(new GetItemCommand({ TableName: tables.shop, Key: { pk: { S: 'T#denied' }, sk: { S: 'x' } } }));
      expect(out.Item).toBeUndefined();
    } finally {
      direct.destroy();
    }
  });

  it('a grant on one table is no grant on another', async () => {
    const p = registered(principal('OneTable', [{ Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: arn(tables.shop) }]));
    const denied = await failure(
      dynamo(p).send(new GetItemCommand({ TableName: tables.connections, Key: { pk: { S: 'a' }, sk: { S: 'b' } } })),
    );
    expect(denied.name).toBe('AccessDeniedException');
    expect(denied.message).toContain(`on resource: ${arn(tables.connections)} because`);
  });

  it('a wildcard action grants, an explicit Deny wins over it', async () => {
    const p = registered(
      principal('Wild', [
        { Effect: 'Allow', Action: 'dynamodb:*', Resource: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/iam-*` },
        { Effect: 'Deny', Action: ['dynamodb:DeleteItem', 'dynamodb:Update*'], Resource: '*' },
      ]),
    );
    const doc = documents(p);
    await doc.send(new PutCommand({ TableName: tables.shop, Item: { pk: 'T#wild', sk: 'x' } }));
    const denied = await failure(
      doc.send(
        new UpdateCommand({
          TableName: tables.shop,
          Key: { pk: 'T#wild', sk: 'x' },
          UpdateExpression: 'SET a = :a',
          ExpressionAttributeValues: { ':a': 1 },
        }),
      ),
    );
    expect(denied.name).toBe('AccessDeniedException');
    expect(denied.message).toBe(
      `User: ${sessionArn(p)} is not authorized to perform: dynamodb:UpdateItem on resource: ${arn(tables.shop)} with an explicit deny in an identity-based policy`,
    );
  });

  it("conditions are evaluated on the request context: an Allow for another account's principals does not apply", async () => {
    const p = registered(
      principal('Conditioned', [
        {
          Effect: 'Allow',
          Action: 'dynamodb:GetItem',
          Resource: arn(tables.shop),
          Condition: { StringEquals: { 'aws:PrincipalAccount': '999999999999' } },
        },
      ]),
    );
    expect(
      (await failure(dynamo(p).send(new GetItemCommand({ TableName: tables.shop, Key: { pk: { S: 'a' }, sk: { S: 'b' } } })))).name,
    ).toBe('AccessDeniedException');
  });
});

describe('batches and transactions', () => {
  it('TransactWriteItems is denied whole when one item is not granted, and writes nothing', async () => {
    const p = registered(
      principal('Transactor', [
        { Effect: 'Allow', Action: ['dynamodb:PutItem', 'dynamodb:GetItem'], Resource: arn(tables.shop) },
        { Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: arn(tables.connections) },
      ]),
    );
    const doc = documents(p);
    const transact = new TransactWriteCommand({
      TransactItems: [
        { Put: { TableName: tables.shop, Item: { pk: 'T#tx', sk: 'a' } } },
        {
          Update: {
            TableName: tables.connections,
            Key: { pk: 'C#1', sk: 'x' },
            UpdateExpression: 'SET n = :n',
            ExpressionAttributeValues: { ':n': 1 },
          },
        },
      ],
    });
    const denied = await failure(doc.send(transact));
    expect(denied.name).toBe('AccessDeniedException');
    expect(denied.message).toContain(`dynamodb:UpdateItem on resource: ${arn(tables.connections)}`);
    expect((await doc.send(new GetCommand({ TableName: tables.shop, Key: { pk: 'T#tx', sk: 'a' } }))).Item).toBeUndefined();

    // Each item needs its own action: PutItem on both tables is enough for two Puts.
    await doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: tables.shop, Item: { pk: 'T#tx', sk: 'a' } } },
          { Put: { TableName: tables.connections, Item: { pk: 'C#1', sk: 'x' } } },
        ],
      }),
    );
    expect((await doc.send(new GetCommand({ TableName: tables.shop, Key: { pk: 'T#tx', sk: 'a' } }))).Item).toEqual({
      pk: 'T#tx',
      sk: 'a',
    });
  });

  it('a ConditionCheck item needs dynamodb:ConditionCheckItem', async () => {
    const p = registered(principal('Checker', [{ Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: arn(tables.shop) }]));
    const denied = await failure(
      documents(p).send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: tables.shop, Item: { pk: 'T#cc', sk: 'a' } } },
            { ConditionCheck: { TableName: tables.shop, Key: { pk: 'T#cc', sk: 'b' }, ConditionExpression: 'attribute_not_exists(pk)' } },
          ],
        }),
      ),
    );
    expect(denied.message).toContain('dynamodb:ConditionCheckItem');
  });

  it('BatchWriteItem needs dynamodb:BatchWriteItem on each table, whatever its requests', async () => {
    const putOnly = registered(
      principal('PutOnly', [{ Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: [arn(tables.shop), arn(tables.connections)] }]),
    );
    const batch = registered(principal('Batcher', [{ Effect: 'Allow', Action: 'dynamodb:BatchWriteItem', Resource: arn(tables.shop) }]));
    const input = {
      RequestItems: {
        [tables.shop]: [{ PutRequest: { Item: { pk: 'T#b', sk: '1' } } }, { DeleteRequest: { Key: { pk: 'T#b', sk: '2' } } }],
      },
    };
    expect((await failure(documents(putOnly).send(new BatchWriteCommand(input)))).message).toContain('dynamodb:BatchWriteItem');
    await documents(batch).send(new BatchWriteCommand(input));
    const twoTables = { RequestItems: { ...input.RequestItems, [tables.connections]: [{ PutRequest: { Item: { pk: 'C#b', sk: '1' } } }] } };
    expect((await failure(documents(batch).send(new BatchWriteCommand(twoTables)))).message).toContain(
      `dynamodb:BatchWriteItem on resource: ${arn(tables.connections)}`,
    );
  });
});

describe('indexes and streams', () => {
  it('Query on an index needs the index ARN', async () => {
    const tableOnly = registered(principal('TableQuery', [{ Effect: 'Allow', Action: 'dynamodb:Query', Resource: arn(tables.shop) }]));
    const withIndex = registered(
      principal('IndexQuery', [{ Effect: 'Allow', Action: 'dynamodb:Query', Resource: [arn(tables.shop), `${arn(tables.shop)}/index/*`] }]),
    );
    const query = new QueryCommand({
      TableName: tables.shop,
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :p',
      ExpressionAttributeValues: { ':p': { S: 'x' } },
    });
    await dynamo(tableOnly).send(
      new QueryCommand({ TableName: tables.shop, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': { S: 'x' } } }),
    );
    const denied = await failure(dynamo(tableOnly).send(query));
    expect(denied.message).toContain(`dynamodb:Query on resource: ${arn(tables.shop)}/index/gsi1 because`);
    expect((await dynamo(withIndex).send(query)).Items).toEqual([]);
  });

  it('stream reads need the stream ARN (DynamoDB Local answers its own region and account; the ARN checked is the policy one)', async () => {
    const reader = registered(
      principal('StreamReader', [
        {
          Effect: 'Allow',
          Action: ['dynamodb:DescribeStream', 'dynamodb:GetShardIterator', 'dynamodb:GetRecords'],
          Resource: `${arn(tables.shop)}/stream/*`,
        },
        { Effect: 'Allow', Action: 'dynamodb:ListStreams', Resource: '*' },
        { Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: arn(tables.shop) },
      ]),
    );
    const tableReader = registered(principal('TableReader', [{ Effect: 'Allow', Action: 'dynamodb:*', Resource: arn(tables.shop) }]));
    await documents(reader).send(new PutCommand({ TableName: tables.shop, Item: { pk: 'T#stream', sk: '1' } }));
    const listed = await streams(reader).send(new ListStreamsCommand({ TableName: tables.shop }));
    const streamArn = listed.Streams?.[0]?.StreamArn as string;
    expect(streamArn).toContain(`table/${tables.shop}/stream/`);

    const { StreamDescription } = await streams(reader).send(new DescribeStreamCommand({ StreamArn: streamArn }));
    const shardId = StreamDescription?.Shards?.[0]?.ShardId as string;
    const { ShardIterator } = await streams(reader).send(
      new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    const records = await streams(reader).send(new GetRecordsCommand({ ShardIterator }));
    expect(records.Records?.some((r) => r.dynamodb?.Keys?.pk?.S === 'T#stream')).toBe(true);

    // dynamodb:* on the table ARN does not reach its stream.
    const label = streamArn.split('/stream/')[1] as string;
    const streamResource = `${arn(tables.shop)}/stream/${label}`;
    for (const call of [
      streams(tableReader).send(new DescribeStreamCommand({ StreamArn: streamArn })),
      streams(tableReader).send(new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' })),
      streams(tableReader).send(new GetRecordsCommand({ ShardIterator })),
    ]) {
      const denied = await failure(call);
      expect(denied.name).toBe('AccessDeniedException');
      expect(denied.message).toContain(`on resource: ${streamResource} because`);
    }
    expect((await failure(streams(tableReader).send(new ListStreamsCommand({})))).message).toContain('dynamodb:ListStreams on resource: *');
  });
});

describe('who is calling', () => {
  const allowAll = [{ Effect: 'Allow' as const, Action: 'dynamodb:*', Resource: '*' }];

  async function raw(headers: Record<string, string>): Promise<{ status: number; body: { __type: string; message?: string } }> {
    const res = await fetch(proxy.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables', ...headers },
      body: '{}',
    });
    return { status: res.status, body: (await res.json()) as { __type: string; message?: string } };
  }

  it('refuses an unknown access key with UnrecognizedClientException', async () => {
    const stranger = principal('Stranger', allowAll); // never registered
    const denied = await failure(dynamo(stranger).send(new ListTablesCommand({})));
    expect(denied).toEqual({
      name: 'UnrecognizedClientException',
      status: 400,
      message: 'The security token included in the request is invalid.',
    });
  });

  it('refuses a wrong session token as AWS does a stale one', async () => {
    const p = registered(principal('Token', allowAll));
    const denied = await failure(dynamo({ ...p, sessionToken: 'not-the-token' }).send(new ListTablesCommand({})));
    expect(denied.name).toBe('UnrecognizedClientException');
  });

  it('refuses a signature made with another secret with InvalidSignatureException', async () => {
    const p = registered(principal('Signer', allowAll));
    const denied = await failure(dynamo({ ...p, secretAccessKey: 'wrong' }).send(new ListTablesCommand({})));
    expect(denied.name).toBe('InvalidSignatureException');
    expect(denied.message).toMatch(/^The request signature we calculated does not match/);
  });

  it('refuses a request without Authorization (MissingAuthenticationTokenException) or with a broken one (IncompleteSignatureException)', async () => {
    const missing = await raw({});
    expect(missing).toEqual({
      status: 400,
      body: { __type: 'com.amazon.coral.service#MissingAuthenticationTokenException', message: 'Request is missing Authentication Token' },
    });
    const broken = await raw({ authorization: 'AWS4-HMAC-SHA256 Credential=ASIAXYZ/20250101/us-east-1/dynamodb/aws4_request' });
    expect(broken.status).toBe(400);
    expect(broken.body.__type).toBe('com.amazon.coral.service#IncompleteSignatureException');
    const other = await raw({ authorization: 'Bearer abc' });
    expect(other.body.__type).toBe('com.amazon.coral.service#IncompleteSignatureException');
  });

  it('refuses a signature scoped to another service', async () => {
    const p = registered(principal('Scope', allowAll));
    const client = new DynamoDBClient({
      endpoint: proxy.url,
      region: REGION,
      credentials: credentialsOf(p),
      maxAttempts: 1,
      signingName: 'sqs',
    } as never);
    clients.push(client);
    expect(await failure(client.send(new ListTablesCommand({})))).toMatchObject({
      name: 'InvalidSignatureException',
      message: "Credential should be scoped to correct service: 'dynamodb'. ",
    });
  });
});

describe('the recorder', () => {
  it('records each call: principal, operation, table, index, keys, decision, latency', async () => {
    const p = registered(
      principal('Recorded', [{ Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem'], Resource: arn(tables.shop) }]),
    );
    const doc = documents(p);
    await doc.send(new PutCommand({ TableName: tables.shop, Item: { pk: 'T#rec', sk: '1', extra: 'not a key' } }));
    await doc.send(new GetCommand({ TableName: tables.shop, Key: { pk: 'T#rec', sk: '1' } }));
    await failure(
      dynamo(p).send(
        new QueryCommand({
          TableName: tables.shop,
          IndexName: 'gsi2',
          KeyConditionExpression: 'gsi2pk = :p',
          ExpressionAttributeValues: { ':p': { S: 'x' } },
        }),
      ),
    );
    await failure(dynamo(principal('Nobody', [])).send(new ListTablesCommand({})));

    const calls = log.calls();
    expect(calls.map((c) => [c.operation, c.allowed, c.status, c.errorType])).toEqual([
      ['PutItem', true, 200, undefined],
      ['GetItem', true, 200, undefined],
      ['Query', false, 400, 'AccessDeniedException'],
      ['ListTables', false, 400, 'UnrecognizedClientException'],
    ]);
    const [put, get, query, unknown] = calls as [(typeof calls)[0], (typeof calls)[0], (typeof calls)[0], (typeof calls)[0]];
    expect(put.principal?.roleArn).toBe(p.roleArn);
    expect(put.tables).toEqual([tables.shop]);
    expect(put.keys).toEqual([{ table: tables.shop, key: { pk: { S: 'T#rec' }, sk: { S: '1' } } }]);
    expect(get.keys).toEqual([{ table: tables.shop, key: { pk: { S: 'T#rec' }, sk: { S: '1' } } }]);
    expect(query.index).toBe('gsi2');
    expect(query.checks).toEqual([{ action: 'dynamodb:Query', resource: `${arn(tables.shop)}/index/gsi2` }]);
    expect(unknown.principal).toBeUndefined();
    for (const c of calls) {
      expect(c.latencyMs).toBeGreaterThan(0);
      expect(c.authorizeMs).toBeLessThanOrEqual(c.latencyMs);
    }
    expect(put.upstreamMs).toBeGreaterThan(0);
    expect(query.upstreamMs).toBeUndefined();
  });
});
