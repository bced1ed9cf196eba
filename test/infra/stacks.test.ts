/**
 * The properties a reviewer checks, asserted on the synthesized templates of the dev and prod
 * apps (and of an app with every opt-in switched on), and the cdk-nag AwsSolutions result of the
 * same syntheses. One synthesis per app for the whole file.
 */
import { Match } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { runInNewContext } from 'node:vm';
import { App, Stack } from 'aws-cdk-lib';
import { RestApi } from 'aws-cdk-lib/aws-apigateway';
import {
  AUTHORIZER,
  PUBLIC_CLIENT_LIMIT,
  REST_ROUTES,
  STREAM_CONSUMERS,
  WEBSOCKET_ROUTES,
  type FunctionNeeds,
} from '../../functions/routes';
import { CONNECTIONS_TABLE, SHOP_TABLE, TABLES } from '../../functions/shared/tables';
import { changeOf } from '../../functions/streams/changes';
import { compileFilters } from '../../local/event-filter';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import fc from 'fast-check';
import { CDN_CACHING, globMatches } from '../../functions/cdn/behaviours';
import { CDN_PURGE_PATHS } from '../../functions/streams/cdn-purge';
import { needsInternetEgress } from '../../lib/constructs/function-needs';
import { PublicClientLimit } from '../../lib/constructs/public-client-limit';
import { ERROR_STATUS, GATEWAY_ERRORS } from '../../functions/shared/gateway-errors';
import { CACHE_METRICS } from '../../lib/stacks/monitoring-stack';
import {
  PROD_CONTEXT,
  acknowledgements,
  buildApp,
  resourceNamed,
  resourcesOf,
  synthesize,
  unacknowledgedFindings,
  type StackName,
  type SynthesizedShopEdge,
} from './support';

jest.setTimeout(120_000);

const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';

let dev: SynthesizedShopEdge;
let prod: SynthesizedShopEdge;
let optIn: SynthesizedShopEdge;

beforeAll(() => {
  dev = synthesize();
  prod = synthesize(PROD_CONTEXT);
  optIn = synthesize({
    natGateways: '1',
    webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/shop-edge/0a1b2c3d',
    domainName: 'shop.example.com',
    certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d',
    alarmEmail: 'ops@example.com',
    cacheShards: '2',
  });
});

type Props = Record<string, unknown>;
const json = (value: unknown) => JSON.stringify(value);

/** Every function entry of the route table, with the stack that deploys it. */
const FUNCTIONS: { name: string; stack: StackName; needs: FunctionNeeds }[] = [
  { name: AUTHORIZER.name, stack: 'api', needs: AUTHORIZER.needs },
  ...REST_ROUTES.map((r) => ({ name: r.name, stack: 'api' as const, needs: r.needs })),
  { name: AUTHORIZER.name, stack: 'realtime', needs: AUTHORIZER.needs },
  ...WEBSOCKET_ROUTES.map((r) => ({ name: r.name, stack: 'realtime' as const, needs: r.needs })),
  ...STREAM_CONSUMERS.map((c) => ({ name: c.name, stack: 'streams' as const, needs: c.needs })),
];
const fnProps = (app: SynthesizedShopEdge, f: { name: string; stack: StackName }) =>
  resourceNamed(app.templates[f.stack], 'AWS::Lambda::Function', f.name).Properties;
const policyOf = (app: SynthesizedShopEdge, f: { name: string; stack: StackName }) =>
  resourceNamed(app.templates[f.stack], 'AWS::IAM::Policy', `${f.name}RoleDefaultPolicy`).Properties.PolicyDocument as {
    Statement: { Action: string | string[]; Resource: unknown }[];
  };
const actionsOf = (app: SynthesizedShopEdge, f: { name: string; stack: StackName }) =>
  policyOf(app, f).Statement.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
const warningsOf = (construct: IConstruct) =>
  construct.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data));
const env = (app: SynthesizedShopEdge, f: { name: string; stack: StackName }) =>
  (fnProps(app, f).Environment as { Variables: Record<string, unknown> }).Variables;

describe('network', () => {
  it('has isolated subnets only: no NAT gateway, no internet gateway, no public subnet', () => {
    const t = dev.templates.network;
    t.resourceCountIs('AWS::EC2::NatGateway', 0);
    t.resourceCountIs('AWS::EC2::InternetGateway', 0);
    for (const subnet of Object.values(resourcesOf(t, 'AWS::EC2::Subnet'))) {
      expect(subnet.Properties?.MapPublicIpOnLaunch).toBe(false);
    }
  });

  it('reaches DynamoDB through a gateway endpoint and Secrets Manager through an interface endpoint', () => {
    const t = dev.templates.network;
    t.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      ServiceName: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith(['.dynamodb'])]) }),
    });
    t.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Interface',
      PrivateDnsEnabled: true,
      ServiceName: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith(['.secretsmanager'])]) }),
    });
  });

  it('admits the cache port into the cache security group from the cache clients only', () => {
    const t = dev.templates.network;
    const cacheSg = Object.keys(resourcesOf(t, 'AWS::EC2::SecurityGroup')).find((id) => id.startsWith('CacheSecurityGroup'));
    const clientSg = Object.keys(resourcesOf(t, 'AWS::EC2::SecurityGroup')).find((id) => id.startsWith('CacheClientSecurityGroup'));
    const ingress = Object.values(resourcesOf(t, 'AWS::EC2::SecurityGroupIngress')).filter((r) =>
      json(r.Properties?.GroupId).includes(cacheSg!),
    );
    expect(ingress).toHaveLength(1);
    expect(ingress[0]!.Properties).toMatchObject({
      IpProtocol: 'tcp',
      FromPort: 6380,
      ToPort: 6380,
      SourceSecurityGroupId: { 'Fn::GetAtt': [clientSg, 'GroupId'] },
    });
    t.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('^Valkey cluster'),
      SecurityGroupIngress: Match.absent(),
    });
  });

  it('records VPC flow logs', () => {
    dev.templates.network.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'ALL' });
  });

  it("strips the VPC's default security group of its allow-all rules", () => {
    const t = dev.templates.network;
    const vpcId = Object.keys(resourcesOf(t, 'AWS::EC2::VPC'))[0]!;
    t.hasResourceProperties('Custom::VpcRestrictDefaultSG', { DefaultSecurityGroupId: { 'Fn::GetAtt': [vpcId, 'DefaultSecurityGroup'] } });
    // Its provider may change the rules of that group and no other.
    const [, provider] = Object.entries(resourcesOf(t, 'AWS::IAM::Role')).find(([id]) => id.startsWith('CustomVpcRestrictDefaultSG'))!;
    const statements = (provider.Properties!.Policies as { PolicyDocument: { Statement: { Action: string[]; Resource: unknown }[] } }[])[0]!
      .PolicyDocument.Statement;
    expect(statements).toHaveLength(1);
    expect(statements[0]!.Action).toEqual(expect.arrayContaining(['ec2:RevokeSecurityGroupIngress', 'ec2:RevokeSecurityGroupEgress']));
    expect(json(statements[0]!.Resource)).toContain(json({ 'Fn::GetAtt': [vpcId, 'DefaultSecurityGroup'] }));
  });

  it('adds NAT and egress subnets only when opted in, and keeps every cache function in isolated subnets unless it needs egress', () => {
    optIn.templates.network.resourceCountIs('AWS::EC2::NatGateway', 1);
    for (const f of FUNCTIONS.filter((f) => f.needs.redis)) {
      const expected = needsInternetEgress(f.needs) ? /egressSubnet/ : /isolatedSubnet/;
      expect([f.name, json(fnProps(optIn, f).VpcConfig)]).toEqual([f.name, expect.stringMatching(expected)]);
    }
  });

  it('needs no NAT: no function of the route table needs both the cache and an API without a VPC endpoint', () => {
    // The route table splits such work (Invalidate in the VPC, FanOut outside it purges the CDN);
    // a route that brings the conflict back warns at synth, and this test names it.
    const conflicted = FUNCTIONS.filter((f) => f.needs.redis && needsInternetEgress(f.needs)).map((f) => f.name);
    expect(conflicted).toEqual([]);
    expect(warningsOf(dev.stacks.streams.consumers.get('Invalidate')!.fn)).toEqual([]);
    expect(warningsOf(dev.stacks.api.routeFunctions.get('ListProducts')!)).toEqual([]);
  });
});

describe('data', () => {
  it.each(Object.values(TABLES))('creates $logicalName on demand, with PITR and KMS encryption, keys and GSIs as defined', (def) => {
    dev.templates.data.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      // SSEEnabled alone means KMS with the AWS managed key aws/dynamodb.
      SSESpecification: { SSEEnabled: true, SSEType: Match.absent(), KMSMasterKeyId: Match.absent() },
      KeySchema: [
        { AttributeName: def.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: def.sortKey!.name, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: def.globalSecondaryIndexes.map((i) => Match.objectLike({ IndexName: i.indexName })),
    });
  });

  it('streams every shop change with new and old images', () => {
    dev.templates.data.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: Match.anyValue(),
      GlobalSecondaryIndexes: Match.arrayWith([Match.objectLike({ IndexName: 'gsi2' })]),
      StreamSpecification: { StreamViewType: SHOP_TABLE.stream },
    });
  });

  it('expires connection items through TTL on expiresAt (epoch seconds)', () => {
    expect(CONNECTIONS_TABLE.timeToLiveAttribute).toBe('expiresAt');
    dev.templates.data.hasResourceProperties('AWS::DynamoDB::Table', {
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it('retains tables and turns on deletion protection in prod only', () => {
    prod.templates.data.allResources('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ DeletionProtectionEnabled: true }),
    });
    dev.templates.data.allResources('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
  });
});

describe('cache', () => {
  it('runs Valkey in cluster mode, encrypted at rest and in transit (TLS required), on a non-default port', () => {
    dev.templates.cache.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      Engine: 'valkey',
      ClusterMode: 'enabled',
      AtRestEncryptionEnabled: true,
      TransitEncryptionEnabled: true,
      TransitEncryptionMode: 'required',
      Port: 6380,
      SecurityGroupIds: [Match.objectLike({ 'Fn::ImportValue': Match.stringLikeRegexp('CacheSecurityGroup') })],
    });
  });

  it('takes its AUTH token from a generated Secrets Manager secret (dynamic reference, never plaintext)', () => {
    const t = dev.templates.cache;
    const group = Object.values(resourcesOf(t, 'AWS::ElastiCache::ReplicationGroup'))[0]!;
    const secretId = Object.keys(resourcesOf(t, 'AWS::SecretsManager::Secret'))[0]!;
    expect(group.Properties?.AuthToken).toEqual({
      'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: secretId }, ':SecretString:::}}']],
    });
    t.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { ExcludePunctuation: true, IncludeSpace: false, PasswordLength: 64 },
    });
  });

  it('evicts only keys with a TTL (volatile-lru), so generation counters survive', () => {
    dev.templates.cache.hasResourceProperties('AWS::ElastiCache::ParameterGroup', {
      CacheParameterGroupFamily: 'valkey8',
      Properties: { 'cluster-enabled': 'yes', 'maxmemory-policy': 'volatile-lru' },
    });
  });

  it('prod: 3 shards x 1 replica of cache.r7g.large, Multi-AZ, automatic failover, 7-day snapshots, windows', () => {
    prod.templates.cache.hasResource('AWS::ElastiCache::ReplicationGroup', {
      Properties: Match.objectLike({
        CacheNodeType: 'cache.r7g.large',
        NumNodeGroups: 3,
        ReplicasPerNodeGroup: 1,
        MultiAZEnabled: true,
        AutomaticFailoverEnabled: true,
        SnapshotRetentionLimit: 7,
        SnapshotWindow: Match.stringLikeRegexp('^\\d\\d:\\d\\d-\\d\\d:\\d\\d$'),
        PreferredMaintenanceWindow: Match.stringLikeRegexp('^[a-z]{3}:'),
      }),
      DeletionPolicy: 'Snapshot',
    });
  });

  it('dev: 1 shard x 1 replica on a small node, single AZ', () => {
    dev.templates.cache.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      CacheNodeType: 'cache.t4g.small',
      NumNodeGroups: 1,
      ReplicasPerNodeGroup: 1,
      MultiAZEnabled: false,
      AutomaticFailoverEnabled: true,
    });
  });

  it('takes the shard count from context (-c cacheShards=2)', () => {
    optIn.templates.cache.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', { NumNodeGroups: 2 });
  });
});

describe('functions', () => {
  it.each(FUNCTIONS)('$stack/$name: Node.js 24 on arm64, X-Ray, its own log group with retention, Powertools env', (f) => {
    const props = fnProps(dev, f);
    expect(props).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogGroup: { Ref: expect.stringMatching(new RegExp(`^${f.name}Logs`)) } },
    });
    expect(props.Timeout).toBeLessThanOrEqual(60);
    expect(props.MemorySize).toBeGreaterThanOrEqual(256);
    expect(env(dev, f)).toMatchObject({
      POWERTOOLS_SERVICE_NAME: expect.any(String),
      POWERTOOLS_METRICS_NAMESPACE: 'ShopEdge',
      NODE_OPTIONS: '--enable-source-maps',
    });
    const logGroup = resourceNamed(dev.templates[f.stack], 'AWS::Logs::LogGroup', `${f.name}Logs`);
    expect(logGroup.Properties.RetentionInDays).toBe(14);
  });

  it.each(FUNCTIONS)('$stack/$name runs in the VPC if and only if it needs the cache', (f) => {
    const props = fnProps(dev, f);
    if (f.needs.redis) {
      expect(json(props.VpcConfig)).toMatch(/CacheClientSecurityGroup/);
      expect(env(dev, f)).toMatchObject({
        REDIS_URL: { 'Fn::Join': ['', ['rediss://', expect.anything(), ':', expect.anything()]] },
        REDIS_CLUSTER: 'true',
        REDIS_AUTH_SECRET_ARN: expect.anything(),
      });
    } else {
      expect(props.VpcConfig).toBeUndefined();
      expect(env(dev, f).REDIS_URL).toBeUndefined();
    }
  });

  it.each(REST_ROUTES.filter((r) => r.permission !== undefined))(
    '$name ($permission) reaches the cache its per-user rate limit counts in',
    (route) => {
      expect(env(dev, { name: route.name, stack: 'api' })).toMatchObject({ REDIS_URL: expect.anything() });
    },
  );

  it('keeps the fan-out consumer (management API, no Redis) outside the VPC', () => {
    expect(fnProps(dev, { name: 'FanOut', stack: 'streams' }).VpcConfig).toBeUndefined();
  });

  it('gives the authorizers the JWT settings and nothing else to reach', () => {
    for (const stack of ['api', 'realtime'] as const) {
      expect(env(dev, { name: AUTHORIZER.name, stack })).toMatchObject({
        JWT_ISSUER: expect.any(String),
        JWT_AUDIENCE: expect.any(String),
        JWT_JWKS_URL: expect.stringMatching(/^https:\/\//),
      });
      expect(actionsOf(dev, { name: AUTHORIZER.name, stack }).filter((a) => !a.startsWith('logs:') && !a.startsWith('xray:'))).toEqual([]);
    }
  });

  it('sets the management endpoint and the distribution id only where needs ask for them', () => {
    for (const f of FUNCTIONS) {
      const vars = env(dev, f);
      expect([f.name, 'WS_MANAGEMENT_ENDPOINT' in vars]).toEqual([f.name, f.needs.manageConnections === true]);
      expect([f.name, 'CDN_DISTRIBUTION_ID' in vars]).toEqual([f.name, f.needs.cdnInvalidation === true]);
      expect([f.name, 'SHOP_TABLE_NAME' in vars && 'CONNECTIONS_TABLE_NAME' in vars]).toEqual([f.name, f.needs.tables.length > 0]);
    }
  });
});

describe('least privilege', () => {
  // Every policy of ours; aws-cdk-lib's BucketDeployment handler (which deploys the page) grants
  // its own S3 action groups, acknowledged one by one in lib/stacks/cdn-stack.ts.
  const allStatements = (app: SynthesizedShopEdge) =>
    Object.values(app.templates)
      .flatMap((t) => [
        ...Object.entries(resourcesOf(t, 'AWS::IAM::Policy'))
          .filter(([id]) => !id.startsWith('CustomCDKBucketDeployment'))
          .map(([, p]) => p),
        ...Object.values(resourcesOf(t, 'AWS::IAM::ManagedPolicy')),
      ])
      .flatMap((p) => (p.Properties?.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement);

  it('grants no wildcard action anywhere', () => {
    for (const statement of allStatements(dev)) {
      const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
      expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    }
  });

  it('scopes every table action to table and index ARNs (ListStreams, which has none, aside)', () => {
    for (const statement of allStatements(dev)) {
      const actions = (Array.isArray(statement.Action) ? statement.Action : [statement.Action]).filter(
        (a) => a.startsWith('dynamodb:') && a !== 'dynamodb:ListStreams',
      );
      if (actions.length === 0) continue;
      expect(json(statement.Resource)).not.toMatch(/"\*"|\/index\/\*/);
    }
  });

  it.each(FUNCTIONS.filter((f) => f.needs.tables.length > 0))('$stack/$name may write only the tables it writes', (f) => {
    const writes = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];
    const statements = policyOf(dev, f).Statement;
    for (const { table, access } of f.needs.tables) {
      const tableId = TABLES[table].logicalName;
      const onTable = statements.filter((s) => json(s.Resource).includes(`FnGetAtt${tableId}`));
      const granted = onTable.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
      expect(granted).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query']));
      if (access === 'write') expect(granted).toEqual(expect.arrayContaining(writes));
      else expect(granted.filter((a) => writes.includes(a))).toEqual([]);
    }
    const granted = new Set<string>(f.needs.tables.map((t) => TABLES[t.table].logicalName));
    for (const other of Object.values(TABLES)
      .map((d) => d.logicalName)
      .filter((n) => !granted.has(n))) {
      expect(json(statements.filter((s) => json(s.Action).includes('dynamodb:GetItem')))).not.toContain(`FnGetAtt${other}`);
    }
  });

  it('lets only the functions that need them post to connections, purge the CDN or read the AUTH token', () => {
    for (const f of FUNCTIONS) {
      const role = resourceNamed(dev.templates[f.stack], 'AWS::IAM::Role', `${f.name}Role`).Properties;
      const actions = actionsOf(dev, f);
      expect([f.name, json(role.ManagedPolicyArns ?? []).includes('ManageConnections')]).toEqual([
        f.name,
        f.needs.manageConnections === true,
      ]);
      expect([f.name, actions.includes('cloudfront:CreateInvalidation')]).toEqual([f.name, f.needs.cdnInvalidation === true]);
      expect([f.name, actions.includes('secretsmanager:GetSecretValue')]).toEqual([f.name, f.needs.redis || f.needs.cursorKey === true]);
    }
  });

  it('attaches functions to the VPC with the network policy, never AWSLambdaVPCAccessExecutionRole (logs and ENIs anywhere)', () => {
    for (const app of [dev, prod]) {
      for (const f of FUNCTIONS) {
        const arns = json(resourceNamed(app.templates[f.stack], 'AWS::IAM::Role', `${f.name}Role`).Properties.ManagedPolicyArns ?? []);
        expect([f.name, arns.includes('LambdaNetworkInterfaces')]).toEqual([f.name, f.needs.redis]);
        expect([f.name, arns.includes('AWSLambdaVPCAccessExecutionRole')]).toEqual([f.name, false]);
      }
    }
  });

  it("limits Lambda's network interfaces to this account, region and VPC; only the Describe calls are on *", () => {
    const t = dev.templates.network;
    const vpcId = Object.keys(resourcesOf(t, 'AWS::EC2::VPC'))[0]!;
    const here = (resource: string) => ({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, resource]],
    });
    const policy = resourceNamed(t, 'AWS::IAM::ManagedPolicy', 'LambdaNetworkInterfaces').Properties.PolicyDocument as {
      Statement: Props[];
    };
    expect(policy.Statement).toEqual([
      { Sid: 'DescribeNetwork', Effect: 'Allow', Action: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'], Resource: '*' },
      {
        Sid: 'NetworkInterfacesInThisVpc',
        Effect: 'Allow',
        Action: [
          'ec2:AssignPrivateIpAddresses',
          'ec2:CreateNetworkInterface',
          'ec2:DeleteNetworkInterface',
          'ec2:UnassignPrivateIpAddresses',
        ],
        Resource: here(':*/*'),
        Condition: {
          ArnEqualsIfExists: {
            'ec2:Vpc': {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  ':ec2:',
                  { Ref: 'AWS::Region' },
                  ':',
                  { Ref: 'AWS::AccountId' },
                  ':vpc/',
                  { Ref: vpcId },
                ],
              ],
            },
          },
        },
      },
    ]);
  });

  it('lets the CDN purgers create invalidations and read their status (coalescing), on the distribution only', () => {
    for (const f of FUNCTIONS.filter((fn) => fn.needs.cdnInvalidation === true)) {
      const onCdn = policyOf(dev, f).Statement.filter((s) => json(s.Action).includes('cloudfront:'));
      const granted = onCdn.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
      // functions/cdn/cdn-purger.ts calls exactly these two.
      expect([f.name, granted.sort()]).toEqual([f.name, ['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation']]);
      for (const statement of onCdn) {
        expect(json(statement.Resource)).toMatch(/":distribution\/",\{"Fn::ImportValue":"[^"]*Distribution/);
      }
    }
  });

  it('lets only the list functions read the cursor key, a secret generated per deployment, and tells them its ARN', () => {
    const t = dev.templates.api;
    const [keyId] = Object.entries(resourcesOf(t, 'AWS::SecretsManager::Secret')).find(([id]) => id.startsWith('CursorKey')) ?? [];
    expect(keyId).toBeDefined();
    t.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true, IncludeSpace: false },
      SecretString: Match.absent(),
    });
    for (const route of REST_ROUTES) {
      const f = { name: route.name, stack: 'api' as const };
      const onKey = policyOf(dev, f).Statement.filter((s) => json(s.Resource).includes(json({ Ref: keyId })));
      const wants = route.needs.cursorKey === true;
      expect([route.name, onKey.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort()]).toEqual([
        route.name,
        wants ? ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'] : [],
      ]);
      expect([route.name, env(dev, f).CURSOR_KEY_SECRET_ARN]).toEqual([route.name, wants ? { Ref: keyId } : undefined]);
    }
    expect(REST_ROUTES.filter((r) => r.needs.cursorKey === true).map((r) => r.name)).toEqual(['ListProducts', 'ListMarketplace']);
  });

  it('scopes posting to connections to this WebSocket API and stage', () => {
    dev.templates.realtime.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: [
          {
            Action: 'execute-api:ManageConnections',
            Effect: 'Allow',
            Resource: { 'Fn::Join': ['', Match.arrayWith([{ Ref: Match.stringLikeRegexp('^WebSocketApi') }, '/dev/*/@connections/*'])] },
          },
        ],
      },
    });
  });
});

describe('REST API', () => {
  it('is regional, traced, throttled (rate and burst) and access-logged', () => {
    const t = dev.templates.api;
    t.hasResourceProperties('AWS::ApiGateway::RestApi', { EndpointConfiguration: { Types: ['REGIONAL'] } });
    t.hasResourceProperties('AWS::ApiGateway::Stage', {
      TracingEnabled: true,
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
      MethodSettings: [
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: 50,
          ThrottlingBurstLimit: 100,
          LoggingLevel: 'ERROR',
        }),
      ],
    });
    prod.templates.api.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 })],
    });
  });

  it('authorizes with a cached REQUEST authorizer on the Authorization header', () => {
    dev.templates.api.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      Type: 'REQUEST',
      IdentitySource: 'method.request.header.Authorization',
      AuthorizerResultTtlInSeconds: AUTHORIZER.resultCacheTtlSeconds,
    });
  });

  it.each(REST_ROUTES)('$method $path: one function, the authorizer iff it needs a permission, validated', (route) => {
    const t = dev.templates.api;
    const integrated = resourceNamed(t, 'AWS::Lambda::Function', route.name);
    expect(integrated).toBeDefined();
    t.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: route.method,
      OperationName: route.name,
      AuthorizationType: route.permission ? 'CUSTOM' : 'NONE',
      AuthorizerId: route.permission ? { Ref: Match.stringLikeRegexp('^TokenAuthorizer') } : Match.absent(),
      RequestValidatorId: { Ref: Match.stringLikeRegexp('^Validator') },
      Integration: Match.objectLike({ Type: 'AWS_PROXY' }),
    });
  });

  it('validates bodies and parameters', () => {
    dev.templates.api.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
      ValidateRequestBody: true,
      ValidateRequestParameters: true,
    });
  });

  it('answers its own errors (401, 403, 404, 413, 429, 5xx) in the contract shape with no-store', () => {
    const t = dev.templates.api;
    for (const e of GATEWAY_ERRORS) {
      t.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: e.type,
        StatusCode: String(ERROR_STATUS[e.code]),
        ResponseParameters: Match.objectLike({
          'gatewayresponse.header.Content-Type': "'application/json'",
          'gatewayresponse.header.Cache-Control': "'no-store'",
        }),
        ResponseTemplates: { 'application/json': JSON.stringify({ error: { code: e.code, message: e.message } }) },
      });
    }
    const types = Object.values(resourcesOf(t, 'AWS::ApiGateway::GatewayResponse')).map((r) => [
      r.Properties?.ResponseType,
      r.Properties?.StatusCode,
    ]);
    expect(types).toEqual(
      expect.arrayContaining([
        ['UNAUTHORIZED', '401'],
        ['ACCESS_DENIED', '403'],
        ['REQUEST_TOO_LARGE', '413'],
        ['THROTTLED', '429'],
        ['DEFAULT_5XX', '503'],
      ]),
    );
  });
});

describe('the public routes, per client', () => {
  const publicPaths = REST_ROUTES.filter((r) => r.permission === undefined).map((r) => r.path);
  type Rule = { Name: string; Priority: number; Action: Props; Statement: { RateBasedStatement: Props & { ScopeDownStatement: Props } } };
  const aclOf = (app: SynthesizedShopEdge) => {
    const acls = Object.values(resourcesOf(app.templates.api, 'AWS::WAFv2::WebACL'));
    expect(acls).toHaveLength(1);
    return acls[0]!.Properties as Props & { Rules: Rule[] };
  };

  it.each([
    ['dev', () => dev],
    ['prod', () => prod],
  ])('%s: a regional web ACL on the stage blocks a client past PUBLIC_CLIENT_LIMIT with the THROTTLED answer', (_env, appOf) => {
    const app = appOf();
    const acl = aclOf(app);
    const throttled = GATEWAY_ERRORS.find((e) => e.type === 'THROTTLED')!;
    expect(acl).toMatchObject({ Scope: 'REGIONAL', DefaultAction: { Allow: {} } });
    expect(acl.CustomResponseBodies).toMatchObject({
      'rate-limited': {
        ContentType: 'APPLICATION_JSON',
        Content: JSON.stringify({ error: { code: throttled.code, message: throttled.message } }),
      },
    });
    const rateRules = acl.Rules.filter((r) => r.Name !== 'OnlyViaCdn');
    expect(rateRules.map((r) => r.Name)).toEqual(['PublicClientsViaCdn', 'PublicClientsDirect']);
    for (const rule of rateRules) {
      expect([rule.Name, rule.Action]).toEqual([
        rule.Name,
        {
          Block: {
            CustomResponse: {
              ResponseCode: ERROR_STATUS[throttled.code],
              CustomResponseBodyKey: 'rate-limited',
              ResponseHeaders: [
                { Name: 'Retry-After', Value: String(PUBLIC_CLIENT_LIMIT.windowSeconds) },
                { Name: 'Cache-Control', Value: 'no-store' },
              ],
            },
          },
        },
      ]);
      const rate = rule.Statement.RateBasedStatement;
      expect([rule.Name, rate.Limit, rate.EvaluationWindowSec]).toEqual([
        rule.Name,
        PUBLIC_CLIENT_LIMIT.requests,
        PUBLIC_CLIENT_LIMIT.windowSeconds,
      ]);
      // Exactly the public routes' paths, with or without the stage in front.
      expect(json(rate.ScopeDownStatement)).toContain(`)?(${publicPaths.join('|')})/?$`);
    }
    app.templates.api.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      ResourceArn: { 'Fn::Join': ['', Match.arrayWith(['/stages/', { Ref: Match.stringLikeRegexp('^RestApiDeploymentStage') }])] },
      WebACLArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^PublicClientLimitWebAcl'), 'Arn'] },
    });
  });

  it('prod: the stage refuses (403, WAF_FILTERED, no-store) every request without the origin secret, before any other rule; dev does not', () => {
    const filtered = GATEWAY_ERRORS.find((e) => e.type === 'WAF_FILTERED')!;
    const acl = aclOf(prod);
    expect(acl.Rules.map((r) => [r.Name, r.Priority])).toEqual([
      ['OnlyViaCdn', 0],
      ['PublicClientsViaCdn', 1],
      ['PublicClientsDirect', 2],
    ]);
    const [onlyViaCdn] = acl.Rules;
    expect(onlyViaCdn).toMatchObject({
      Action: {
        Block: {
          CustomResponse: {
            ResponseCode: ERROR_STATUS[filtered.code],
            CustomResponseBodyKey: 'filtered',
            ResponseHeaders: [{ Name: 'Cache-Control', Value: 'no-store' }],
          },
        },
      },
      // Every path: the public routes, the authenticated ones and API Gateway's own answers.
      Statement: {
        NotStatement: {
          Statement: {
            ByteMatchStatement: {
              FieldToMatch: { SingleHeader: { Name: PublicClientLimit.ORIGIN_HEADER } },
              PositionalConstraint: 'EXACTLY',
              SearchString: {
                'Fn::Join': [
                  '',
                  ['{{resolve:secretsmanager:', { Ref: expect.stringMatching(/^PublicClientLimitOriginSecret/) }, ':SecretString:::}}'],
                ],
              },
              TextTransformations: [{ Priority: 0, Type: 'NONE' }],
            },
          },
        },
      },
    });
    expect((acl.CustomResponseBodies as Props).filtered).toEqual({
      ContentType: 'APPLICATION_JSON',
      Content: JSON.stringify({ error: { code: filtered.code, message: filtered.message } }),
    });
    // The secret's value never appears in a template: only its dynamic reference.
    expect(json(prod.templates.api.toJSON())).not.toMatch(/"SecretString":"/);
    expect(aclOf(dev).Rules.map((r) => r.Name)).not.toContain('OnlyViaCdn');
  });

  it('during a rotation accepts the previous version as well, and makes the distribution take the current value again', () => {
    const version = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
    const { stacks } = buildApp({ ...PROD_CONTEXT, originSecretPreviousVersion: version });
    const limit = stacks.api.publicClientLimit;
    const acl = stacks.api.resolve(limit.webAcl.rules) as { name: string; statement: Props }[];
    const reference = (suffix: string) => ({
      'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: expect.stringMatching(/^PublicClientLimitOriginSecret/) }, suffix]],
    });
    const bears = (suffix: string) => ({ byteMatchStatement: expect.objectContaining({ searchString: reference(suffix) }) });
    expect(acl[0]).toMatchObject({
      name: 'OnlyViaCdn',
      statement: {
        notStatement: { statement: { orStatement: { statements: [bears(':SecretString:::}}'), bears(`:SecretString:::${version}}}`)] } } },
      },
    });
    // Another text than outside a rotation (':SecretString:::}}'), the same current value: CloudFormation resolves it again.
    expect(stacks.api.resolve(limit.originHeaderValue)).toEqual(reference(':SecretString::AWSCURRENT:}}'));
    expect(() => buildApp({ ...PROD_CONTEXT, originSecretPreviousVersion: 'AWSPREVIOUS' })).toThrow(/must be a Secrets Manager version id/);
  });

  it('counts a request from CloudFront (it bears the origin secret) by the viewer address it carries, any other by its source address', () => {
    const [viaCdn, direct] = aclOf(dev).Rules as [Rule, Rule];
    const fromCdn = {
      ByteMatchStatement: {
        FieldToMatch: { SingleHeader: { Name: PublicClientLimit.ORIGIN_HEADER } },
        PositionalConstraint: 'EXACTLY',
        SearchString: {
          'Fn::Join': [
            '',
            ['{{resolve:secretsmanager:', { Ref: Match.stringLikeRegexp('^PublicClientLimitOriginSecret') }, ':SecretString:::}}'],
          ],
        },
        TextTransformations: [{ Priority: 0, Type: 'NONE' }],
      },
    };
    const path = Match.objectLike({ RegexMatchStatement: Match.anyValue() });
    expect(viaCdn.Statement.RateBasedStatement).toMatchObject({
      AggregateKeyType: 'FORWARDED_IP',
      ForwardedIPConfig: { HeaderName: PublicClientLimit.VIEWER_ADDRESS_HEADER, FallbackBehavior: 'MATCH' },
    });
    expect(direct.Statement.RateBasedStatement.AggregateKeyType).toBe('IP');
    const t = dev.templates.api;
    t.hasResourceProperties('AWS::WAFv2::WebACL', {
      Rules: [
        Match.objectLike({
          Statement: { RateBasedStatement: Match.objectLike({ ScopeDownStatement: { AndStatement: { Statements: [path, fromCdn] } } }) },
        }),
        Match.objectLike({
          Statement: {
            RateBasedStatement: Match.objectLike({
              ScopeDownStatement: { AndStatement: { Statements: [path, { NotStatement: { Statement: fromCdn } }] } },
            }),
          },
        }),
      ],
    });
    t.hasResourceProperties('AWS::SecretsManager::Secret', {
      Description: Match.stringLikeRegexp(PublicClientLimit.ORIGIN_HEADER),
      GenerateSecretString: Match.objectLike({ PasswordLength: 48 }),
      SecretString: Match.absent(),
    });
  });

  it('CloudFront writes the viewer address over what the viewer sent, on every API behaviour, and sends the origin secret', () => {
    const t = dev.templates.cdn;
    const config = Object.values(resourcesOf(t, 'AWS::CloudFront::Distribution'))[0]!.Properties!.DistributionConfig as {
      CacheBehaviors: Props[];
      DefaultCacheBehavior: Props;
      Origins: { Id: string; OriginCustomHeaders?: unknown }[];
    };
    const functions = resourcesOf(t, 'AWS::CloudFront::Function');
    const apiBehaviours = [config.DefaultCacheBehavior, ...config.CacheBehaviors.filter((b) => b.PathPattern !== '/assets/*')];
    for (const b of apiBehaviours) {
      // The cached tenant routes' one viewer-request function writes the address too (expired-token.js).
      const associations = b.FunctionAssociations as { EventType: string; FunctionARN: { 'Fn::GetAtt': [string, string] } }[];
      expect([b.PathPattern ?? 'default', associations.map((a) => a.EventType)]).toEqual([b.PathPattern ?? 'default', ['viewer-request']]);
      const code = String(functions[associations[0]!.FunctionARN['Fn::GetAtt'][0]]!.Properties!.FunctionCode);
      const handler = runInNewContext(`${code}; handler`, {}) as (event: unknown) => { headers: Record<string, { value: string }> };
      const request = handler({
        viewer: { ip: '203.0.113.7' },
        request: {
          method: 'GET',
          uri: '/',
          querystring: {},
          headers: { [PublicClientLimit.VIEWER_ADDRESS_HEADER]: { value: '10.0.0.1' } },
        },
      });
      expect([b.PathPattern ?? 'default', request.headers[PublicClientLimit.VIEWER_ADDRESS_HEADER]]).toEqual([
        b.PathPattern ?? 'default',
        { value: '203.0.113.7' },
      ]);
    }

    const apiOrigin = config.Origins.find((o) => o.Id === config.DefaultCacheBehavior.TargetOriginId)!;
    expect(apiOrigin.OriginCustomHeaders).toEqual([
      {
        HeaderName: PublicClientLimit.ORIGIN_HEADER,
        HeaderValue: {
          'Fn::Join': [
            '',
            [
              '{{resolve:secretsmanager:',
              { 'Fn::ImportValue': expect.stringMatching(/PublicClientLimitOriginSecret/) },
              ':SecretString:::}}',
            ],
          ],
        },
      },
    ]);
  });

  it('refuses at synthesis a limit WAF cannot take, and public paths with parameters', () => {
    const limitOn = (props: Partial<ConstructorParameters<typeof PublicClientLimit>[2]>) => () => {
      const stack = new Stack(new App(), 'Probe');
      const api = new RestApi(stack, 'Api');
      api.root.addMethod('GET');
      new PublicClientLimit(stack, 'Limit', { stage: api.deploymentStage, paths: ['/health'], requests: 100, windowSeconds: 60, ...props });
    };
    expect(limitOn({})).not.toThrow();
    expect(limitOn({ windowSeconds: 30 })).toThrow(/60, 120, 300, 600/);
    expect(limitOn({ requests: 5 })).toThrow(/10 to 2,000,000,000/);
    expect(limitOn({ paths: ['/api/things/{id}'] })).toThrow(/literal/);
  });
});

describe('WebSocket API', () => {
  it('routes every WEBSOCKET_ROUTES key, with the query-string token authorizer on $connect only', () => {
    const t = dev.templates.realtime;
    t.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'WEBSOCKET', RouteSelectionExpression: '$request.body.action' });
    t.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      IdentitySource: [AUTHORIZER.webSocketIdentitySource],
    });
    for (const route of WEBSOCKET_ROUTES) {
      t.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: route.routeKey,
        AuthorizationType: route.routeKey === '$connect' ? 'CUSTOM' : 'NONE',
      });
    }
    t.resourceCountIs('AWS::ApiGatewayV2::Route', WEBSOCKET_ROUTES.length);
  });

  it("gives the connect function alone the tenant's connection limit (10,000 by default)", () => {
    const functions = Object.entries(resourcesOf(dev.templates.realtime, 'AWS::Lambda::Function'));
    const limits = functions.flatMap(([id, f]) => {
      const value = (f.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
        ?.WS_MAX_CONNECTIONS_PER_TENANT;
      return value === undefined ? [] : [[id.replace(/[0-9A-F]{8}$/, ''), value]];
    });
    expect(limits).toEqual([['WsConnect', '10000']]);
  });

  it('throttles the stage and logs access and errors', () => {
    dev.templates.realtime.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100, LoggingLevel: 'ERROR', DetailedMetricsEnabled: true },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('connectionId') },
    });
  });
});

describe('CloudFront', () => {
  type Behaviour = Props & { PathPattern?: string; CachePolicyId: unknown; TargetOriginId: string };
  const distributionConfig = (app: SynthesizedShopEdge) =>
    Object.values(resourcesOf(app.templates.cdn, 'AWS::CloudFront::Distribution'))[0]!.Properties!.DistributionConfig as Props & {
      CacheBehaviors: Behaviour[];
      DefaultCacheBehavior: Behaviour;
    };
  /** What CloudFront does for a path: the first matching behaviour, else the default. */
  const behaviourFor = (path: string) => {
    const config = distributionConfig(dev);
    return config.CacheBehaviors.find((b) => globMatches(b.PathPattern!, path)) ?? config.DefaultCacheBehavior;
  };
  /** The cache policy config of a behaviour, or 'CachingDisabled'. */
  const cachePolicyFor = (path: string) => {
    const id = behaviourFor(path).CachePolicyId;
    if (id === CACHING_DISABLED) return 'CachingDisabled';
    const logicalId = (id as { Ref: string }).Ref;
    return resourcesOf(dev.templates.cdn, 'AWS::CloudFront::CachePolicy')[logicalId]!.Properties!.CachePolicyConfig as {
      MinTTL: number;
      MaxTTL: number;
      DefaultTTL: number;
      ParametersInCacheKeyAndForwardedToOrigin: Props;
    };
  };

  it.each(['/api/products', '/api/products/p-1'])(
    '%s: Authorization and every query string in the key, origin TTL up to 10 min, MinTTL 0',
    (path) => {
      expect(cachePolicyFor(path)).toMatchObject({
        MinTTL: 0,
        DefaultTTL: 0,
        MaxTTL: 600,
        ParametersInCacheKeyAndForwardedToOrigin: {
          HeadersConfig: { HeaderBehavior: 'whitelist', Headers: ['Authorization'] },
          QueryStringsConfig: { QueryStringBehavior: 'all' },
          CookiesConfig: { CookieBehavior: 'none' },
          EnableAcceptEncodingGzip: true,
          EnableAcceptEncodingBrotli: true,
        },
      });
    },
  );

  it.each(['/api/products/p-1/stock', '/api/products/p-1/stock-adjustments', '/api/orders', '/api/orders/o-1', '/health', '/unknown'])(
    '%s: caching disabled',
    (path) => {
      expect(cachePolicyFor(path)).toBe('CachingDisabled');
    },
  );

  it('lists /api/products/*/stock before /api/products*', () => {
    const patterns = distributionConfig(dev).CacheBehaviors.map((b) => b.PathPattern);
    expect(patterns.indexOf('/api/products/*/stock')).toBeGreaterThanOrEqual(0);
    expect(patterns.indexOf('/api/products/*/stock')).toBeLessThan(patterns.indexOf('/api/products*'));
  });

  it('shares the marketplace publicly: query strings in the key, no Authorization', () => {
    expect(cachePolicyFor('/api/marketplace/products')).toMatchObject({
      MinTTL: 0,
      ParametersInCacheKeyAndForwardedToOrigin: {
        HeadersConfig: { HeaderBehavior: 'none' },
        QueryStringsConfig: { QueryStringBehavior: 'all' },
      },
    });
  });

  it('agrees with the route table for every GET route', () => {
    for (const route of REST_ROUTES.filter((r) => r.method === 'GET')) {
      const sample = route.path.replace(/\{[^}]+\}/g, 'x-1');
      const policy = cachePolicyFor(sample);
      const caching = CDN_CACHING[route.cacheClass];
      if (caching === 'none') expect([route.name, policy]).toEqual([route.name, 'CachingDisabled']);
      else expect([route.name, json(policy).includes('Authorization')]).toEqual([route.name, caching === 'tenant']);
    }
  });

  it("purges exactly the behaviours of the shared-cacheable routes, and covers every such route's responses", () => {
    const config = distributionConfig(dev);
    const sample = (route: (typeof REST_ROUTES)[number]) => route.path.replace(/\{[^}]+\}/g, 'x-1');
    const shared = REST_ROUTES.filter((r) => r.method === 'GET' && CDN_CACHING[r.cacheClass] !== 'none');
    // The behaviours CloudFront serves those routes from are the template's only cached API behaviours.
    const servedBy = [...new Set(shared.map((r) => behaviourFor(sample(r)).PathPattern ?? 'default'))].sort();
    const cachedApi = config.CacheBehaviors.filter((b) => b.PathPattern !== '/assets/*' && b.CachePolicyId !== CACHING_DISABLED);
    expect(servedBy).toEqual(cachedApi.map((b) => b.PathPattern!).sort());
    // One purge path per such behaviour, its pattern: `*`-terminated, as CloudFront invalidates a
    // path without a wildcard only without a query string, and these cache every query string apart.
    const purgePaths = [...CDN_PURGE_PATHS.tenantProducts, ...CDN_PURGE_PATHS.marketplace];
    expect([...purgePaths].sort()).toEqual(servedBy.map((p) => (p.endsWith('*') ? p : `${p}*`)).sort());
    // Every shared-cacheable route, with and without a query string, is purged by the changes that
    // can alter it: any product change for tenant reads, a listed product's for the marketplace.
    for (const route of shared) {
      const group = CDN_CACHING[route.cacheClass] === 'tenant' ? CDN_PURGE_PATHS.tenantProducts : CDN_PURGE_PATHS.marketplace;
      for (const path of [sample(route), `${sample(route)}?limit=1&cursor=c`]) {
        expect([route.name, path, group.some((p) => globMatches(p, path))]).toEqual([route.name, path, true]);
      }
    }
  });

  it('sends API paths to API Gateway with every viewer header but Host, HTTPS only, compressed', () => {
    const config = distributionConfig(dev);
    for (const b of [...config.CacheBehaviors.filter((x) => x.PathPattern !== '/assets/*'), config.DefaultCacheBehavior]) {
      expect(b).toMatchObject({ OriginRequestPolicyId: ALL_VIEWER_EXCEPT_HOST_HEADER, ViewerProtocolPolicy: 'https-only', Compress: true });
      expect(b.AllowedMethods).toEqual(expect.arrayContaining(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']));
    }
  });

  it('serves /assets/* from the private bucket through origin access control, for a year, immutable', () => {
    const config = distributionConfig(dev);
    const assets = config.CacheBehaviors.find((b) => b.PathPattern === '/assets/*')!;
    expect(assets).toMatchObject({ ViewerProtocolPolicy: 'https-only', Compress: true });
    const origins = config.Origins as { Id: string; OriginAccessControlId?: unknown; S3OriginConfig?: unknown }[];
    expect(origins.find((o) => o.Id === assets.TargetOriginId)).toMatchObject({
      OriginAccessControlId: expect.anything(),
      S3OriginConfig: expect.anything(),
    });
    expect(cachePolicyFor('/assets/app.js')).toMatchObject({ DefaultTTL: 31_536_000, MaxTTL: 31_536_000 });
    dev.templates.cdn.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
      ResponseHeadersPolicyConfig: Match.objectLike({
        CustomHeadersConfig: { Items: [{ Header: 'Cache-Control', Value: 'public, max-age=31536000, immutable', Override: true }] },
      }),
    });
    dev.templates.cdn.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: { Status: 'Enabled' },
    });
  });

  it('expires noncurrent versions of the assets after 30 days, keeping the newest 3 (the entry files each deployment overwrites)', () => {
    const [, assets] = Object.entries(resourcesOf(dev.templates.cdn, 'AWS::S3::Bucket')).find(([id]) => id.startsWith('Assets'))!;
    expect(assets.Properties).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: [
          {
            Id: 'ExpireNoncurrentVersions',
            Status: 'Enabled',
            NoncurrentVersionExpiration: { NoncurrentDays: 30, NewerNoncurrentVersions: 3 },
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
          },
        ],
      },
    });
  });

  it('adds security headers and access logs', () => {
    const config = distributionConfig(dev);
    expect(config.Logging).toMatchObject({ Bucket: expect.anything(), Prefix: 'cloudfront/' });
    dev.templates.cdn.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
      ResponseHeadersPolicyConfig: Match.objectLike({
        SecurityHeadersConfig: Match.objectLike({
          StrictTransportSecurity: Match.objectLike({ AccessControlMaxAgeSec: 63_072_000 }),
          ContentTypeOptions: { Override: true },
          FrameOptions: { FrameOption: 'DENY', Override: true },
        }),
      }),
    });
  });

  it.each([
    ['dev', () => dev],
    ['prod', () => prod],
  ])(
    '%s: refuses an expired token at the edge on the cached tenant routes only (a cloudfront-js-2.0 viewer-request function)',
    (_env, appOf) => {
      const app = appOf();
      const functions = resourcesOf(app.templates.cdn, 'AWS::CloudFront::Function');
      const [fnId, fn] = Object.entries(functions).find(([id]) => id.startsWith('ExpiredToken'))!;
      expect(fn.Properties).toMatchObject({ AutoPublish: true, FunctionConfig: { Runtime: 'cloudfront-js-2.0' } });
      const config = distributionConfig(app);
      const usesIt = (b: Behaviour) => json(b.FunctionAssociations ?? []).includes(`"${fnId}"`);
      const tenant = config.CacheBehaviors.filter((b) => json(b.CachePolicyId).includes('TenantCache'));
      expect(tenant.map((b) => b.PathPattern)).toEqual(['/api/products*']);
      for (const b of tenant) {
        expect(b.FunctionAssociations).toEqual([{ EventType: 'viewer-request', FunctionARN: { 'Fn::GetAtt': [fnId, 'FunctionARN'] } }]);
      }
      // Not on the uncached stock route under it, the marketplace, the assets or the default.
      const others = [config.DefaultCacheBehavior, ...config.CacheBehaviors.filter((b) => !tenant.includes(b))];
      expect(others.filter(usesIt).map((b) => b.PathPattern ?? 'default')).toEqual([]);
      expect(others.map((b) => b.PathPattern ?? 'default')).toEqual(expect.arrayContaining(['/api/products/*/stock', 'default']));

      // The deployed code, run: a token past its exp is refused with the contract's 401.
      const handler = runInNewContext(`${String(fn.Properties!.FunctionCode)}; handler`, {}) as (event: unknown) => Props;
      const payload = Buffer.from(JSON.stringify({ sub: 'u', exp: Math.floor(Date.now() / 1000) - 60 })).toString('base64url');
      const answer = handler({
        version: '1.0',
        viewer: { ip: '203.0.113.7' },
        request: { method: 'GET', uri: '/api/products', querystring: {}, headers: { authorization: { value: `Bearer e30.${payload}.x` } } },
      });
      expect(answer).toMatchObject({
        statusCode: 401,
        headers: { 'cache-control': { value: 'no-store' } },
        body: { data: JSON.stringify({ error: { code: 'UNAUTHORIZED', message: 'Token expired' } }) },
      });
    },
  );

  it('prod attaches the web ACL it requires to the distribution', () => {
    expect(distributionConfig(prod).WebACLId).toBe(PROD_CONTEXT.webAclArn);
  });

  it('attaches a WAF web ACL and a custom domain with TLS 1.2 only when opted in', () => {
    expect(distributionConfig(dev).WebACLId).toBeUndefined();
    const config = distributionConfig(optIn);
    expect(config.WebACLId).toMatch(/^arn:aws:wafv2:us-east-1:/);
    expect(config.Aliases).toEqual(['shop.example.com']);
    expect(config.ViewerCertificate).toMatchObject({ MinimumProtocolVersion: 'TLSv1.2_2021', SslSupportMethod: 'sni-only' });
  });
});

describe('stream consumers', () => {
  it.each(STREAM_CONSUMERS)('$name: partial batch responses, bisection, bounded retries and age, an SQS on-failure queue', (consumer) => {
    const t = dev.templates.streams;
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: Match.stringLikeRegexp(`^${consumer.name}`) },
      // The Data stack's parameter, read at deployment (a new stream has a new ARN): not an export.
      EventSourceArn: { Ref: Match.stringLikeRegexp('^SsmParameterValueShopEdgedevDataShopstreamarn') },
      BatchSize: consumer.batchSize,
      ParallelizationFactor: consumer.parallelizationFactor,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: 5,
      MaximumRecordAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp(`^${consumer.name}Failures`), 'Arn'] } } },
    });
  });

  const mappingOf = (app: SynthesizedShopEdge, name: string) =>
    Object.values(resourcesOf(app.templates.streams, 'AWS::Lambda::EventSourceMapping')).find(
      (m) =>
        json(m.Properties?.FunctionName) ===
        json({
          Ref: Object.keys(resourcesOf(app.templates.streams, 'AWS::Lambda::Function')).find((id) =>
            new RegExp(`^${name}[0-9A-F]{8}$`).test(id),
          ),
        }),
    )!.Properties!;

  it("runs FanOut's batches in 10 lanes per shard (one tenant's fan-out does not hold up the others); Invalidate's in 1", () => {
    for (const app of [dev, prod]) {
      for (const [name, factor] of [
        ['FanOut', 10],
        ['Invalidate', 1],
      ] as const) {
        expect([name, mappingOf(app, name).ParallelizationFactor]).toEqual([name, factor]);
        expect(STREAM_CONSUMERS.find((c) => c.name === name)!.parallelizationFactor).toBe(factor);
      }
    }
  });

  it("invokes Invalidate only for the records it acts on (the route table's filters); FanOut for every batch", () => {
    for (const consumer of STREAM_CONSUMERS) {
      const criteria = mappingOf(dev, consumer.name).FilterCriteria as { Filters: { Pattern: string }[] } | undefined;
      expect([consumer.name, criteria?.Filters.map((f) => JSON.parse(f.Pattern) as unknown)]).toEqual([consumer.name, consumer.filters]);
    }
    // FanOut sends a deferred CDN purge with any batch (streams/cdn-purge.ts): it must see every one.
    expect(STREAM_CONSUMERS.find((c) => c.name === 'FanOut')!.filters).toBeUndefined();
    expect(STREAM_CONSUMERS.find((c) => c.name === 'Invalidate')!.filters).toBeDefined();
  });

  it("Invalidate's filter, as Lambda applies it, keeps every record it bumps a generation for and drops the other kinds", () => {
    const criteria = mappingOf(prod, 'Invalidate').FilterCriteria as { Filters: { Pattern: string }[] };
    const delivered = compileFilters(criteria.Filters.map((f) => JSON.parse(f.Pattern) as unknown));
    const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
    const pk = fc.oneof(
      id.map((t) => `T#${t}`),
      id.map((c) => `C#${c}`),
      id.map((u) => `U#${u}#h`),
      fc.string(),
    );
    const sk = fc.oneof(
      id.map((p) => `P#${p}`),
      id.map((s) => `S#${s}`),
      id.map((o) => `O#${o}`),
      fc.constant('M#2026-01-31'),
      fc.constant('META'),
      id.map((c) => `SUB#${c}`),
      fc.string(),
    );
    const image = fc.option(fc.record({ listed: fc.boolean(), version: fc.nat() }), { nil: undefined });
    const record = fc
      .record({ eventName: fc.constantFrom('INSERT', 'MODIFY', 'REMOVE'), pk, sk, newImage: image, oldImage: image })
      .map(({ eventName, pk: p, sk: k, newImage, oldImage }) => ({
        eventID: '1',
        eventName,
        eventSource: 'aws:dynamodb',
        dynamodb: {
          Keys: marshall({ pk: p, sk: k }),
          ...(newImage ? { NewImage: marshall({ pk: p, sk: k, ...newImage }) } : {}),
          ...(oldImage ? { OldImage: marshall({ pk: p, sk: k, ...oldImage }) } : {}),
          SequenceNumber: '100',
          ApproximateCreationDateTime: 1_760_000_000,
          StreamViewType: 'NEW_AND_OLD_IMAGES',
        },
      }));
    fc.assert(
      fc.property(record, (r) => {
        const kind = changeOf(r as DynamoDBRecord)?.kind;
        if (kind === 'product') expect(delivered(r)).toBe(true);
        else if (kind !== undefined) expect(delivered(r)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('reserves concurrency for each consumer in prod (a REST burst takes the unreserved pool, not theirs); none in dev', () => {
    for (const consumer of STREAM_CONSUMERS) {
      expect([consumer.name, fnProps(prod, { name: consumer.name, stack: 'streams' }).ReservedConcurrentExecutions]).toEqual([
        consumer.name,
        10,
      ]);
      expect([consumer.name, fnProps(dev, { name: consumer.name, stack: 'streams' }).ReservedConcurrentExecutions]).toEqual([
        consumer.name,
        undefined,
      ]);
    }
    // Nothing else reserves (or is capped): the REST and WebSocket functions share what is left.
    for (const f of FUNCTIONS.filter((fn) => fn.stack !== 'streams')) {
      expect([f.name, fnProps(prod, f).ReservedConcurrentExecutions]).toEqual([f.name, undefined]);
    }
  });

  it('encrypts the on-failure queues and keeps messages for 14 days', () => {
    dev.templates.streams.allResourcesProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
  });
});

describe('monitoring', () => {
  const dashboardBody = (app: SynthesizedShopEdge) =>
    json(Object.values(resourcesOf(app.templates.monitoring, 'AWS::CloudWatch::Dashboard'))[0]!.Properties!.DashboardBody);

  it('charts the cache module metrics with the service dimension and the hit ratio', () => {
    const body = dashboardBody(dev);
    expect(body).toContain('ShopEdge');
    for (const metric of CACHE_METRICS) expect(body).toContain(`\\"${metric}\\"`);
    expect(body).toContain('\\"service\\"');
    expect(body).toContain('Hit ratio');
  });

  it('charts latency percentiles, errors, WebSocket, ElastiCache, DynamoDB throttles, iterator age and DLQ depth', () => {
    const body = dashboardBody(prod);
    for (const needle of [
      'p50',
      'p99',
      '4XXError',
      '5XXError',
      'ConnectCount',
      'MessageCount',
      'EngineCPUUtilization',
      'DatabaseMemoryUsagePercentage',
      'Evictions',
      'ReplicationLag',
      'ReadThrottleEvents',
      'WriteThrottleEvents',
      'IteratorAge',
      'ApproximateNumberOfMessagesVisible',
    ]) {
      expect([needle, body.includes(needle)]).toEqual([needle, true]);
    }
    // Every node of the prod cluster: 3 shards x (1 primary + 1 replica).
    expect(body).toContain('-0003-002');
    // CloudFront metrics live in us-east-1 with Region=Global, wherever the stack is.
    expect(body).toMatch(/AWS\/CloudFront.*Region\\",\\"Global.*\\"region\\":\\"us-east-1/);
  });

  it('sends every alarm to the SNS topic, which refuses plain HTTP', () => {
    const t = dev.templates.monitoring;
    const topicId = Object.keys(resourcesOf(t, 'AWS::SNS::Topic'))[0]!;
    const alarms = Object.values(resourcesOf(t, 'AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBeGreaterThan(20);
    for (const alarm of alarms) expect(alarm.Properties?.AlarmActions).toEqual([{ Ref: topicId }]);
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
    t.resourceCountIs('AWS::SNS::Subscription', 0);
    optIn.templates.monitoring.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });

  it('alarms on 5xx rate, p99 latency, function errors, stream lag, failed batches, throttles and cache nodes', () => {
    const descriptions = Object.values(resourcesOf(prod.templates.monitoring, 'AWS::CloudWatch::Alarm')).map((a) =>
      String(a.Properties?.AlarmDescription),
    );
    for (const pattern of [
      /5xx/,
      /p99 latency/,
      /ListProducts .*errors/,
      /behind its stream/,
      /gave up on a batch/,
      /throttled/,
      /engine CPU/,
      /memory above/,
      /replication lag/,
      /circuit breaker/,
      /FanOut: CloudFront refused/,
    ]) {
      expect([pattern.source, descriptions.some((d) => pattern.test(d))]).toEqual([pattern.source, true]);
    }
    expect(descriptions.filter((d) => /engine CPU/.test(d))).toHaveLength(6);
  });
});

describe('outputs', () => {
  const outputsOf = (app: SynthesizedShopEdge, stack: StackName) =>
    (app.templates[stack].toJSON() as { Outputs?: Record<string, Props & { Value: unknown }> }).Outputs ?? {};

  it.each([
    ['api', 'RestApiUrl'],
    ['realtime', 'WebSocketUrl'],
    ['cdn', 'DistributionDomainName'],
    ['cdn', 'PageUrl'],
    ['cache', 'AuthSecretArn'],
    ['cache', 'ReplicationGroupId'],
  ] as const)('%s stack: %s, with a description and no export', (stack, name) => {
    const output = outputsOf(prod, stack)[name];
    expect(output).toMatchObject({ Description: expect.stringMatching(/^.{30,}$/) });
    expect(output!.Export).toBeUndefined();
  });

  it('say where everything is: the URLs, the page, the secret and the replication group', () => {
    const value = (stack: StackName, name: string) => json(outputsOf(dev, stack)[name]!.Value);
    expect(value('api', 'RestApiUrl')).toMatch(/^\{"Fn::Join":\["",\["https:\/\/",\{"Ref":"RestApi[0-9A-F]{8}"\},".execute-api."/);
    expect(value('realtime', 'WebSocketUrl')).toMatch(/"wss:\/\/",\{"Ref":"WebSocketApi[0-9A-F]{8}"\}/);
    expect(value('cdn', 'DistributionDomainName')).toMatch(/^\{"Fn::GetAtt":\["Distribution[0-9A-F]{8}","DomainName"\]\}$/);
    expect(value('cdn', 'PageUrl')).toMatch(
      /"https:\/\/",\{"Fn::GetAtt":\["Distribution[0-9A-F]{8}","DomainName"\]\},"\/assets\/index.html"/,
    );
    expect(json(outputsOf(optIn, 'cdn').PageUrl!.Value)).toBe(json('https://shop.example.com/assets/index.html'));
    expect(value('cache', 'ReplicationGroupId')).toBe(json({ Ref: 'ReplicationGroup' }));
    expect(value('cache', 'AuthSecretArn')).toMatch(/^\{"Ref":"AuthToken[0-9A-F]{8}"\}$/);
    // The REST API construct's own bare output gives way to RestApiUrl.
    expect(Object.keys(outputsOf(dev, 'api')).filter((id) => id.startsWith('RestApiEndpoint'))).toEqual([]);
  });
});

/** Every acknowledged finding; a new one must be added here on purpose, with its reason in lib/. */
const EXPECTED_ACKNOWLEDGEMENTS = [
  'AwsSolutions-AEC4', // dev only: single-AZ cache
  'AwsSolutions-APIG4', // public REST routes; WebSocket routes after $connect
  'AwsSolutions-CFR1', // no geo restriction
  'AwsSolutions-CFR2', // dev only: the edge WAF is opt-in there, required in prod
  'AwsSolutions-CFR4', // default CloudFront certificate without a custom domain
  'AwsSolutions-COG4', // external identity provider, Lambda authorizer
  'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
  'AwsSolutions-IAM5[Resource::*]', // X-Ray; dynamodb:ListStreams for stream consumers; ec2:Describe* for VPC functions
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:*/*]', // Lambda's network interfaces, held to the VPC
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<WebSocketApi34BCF99B>/<stage>/*/@connections/*]',
  'AwsSolutions-S1', // the access-log bucket itself
  'AwsSolutions-SMG4', // AUTH token rotation is a runbook step
  'AwsSolutions-SQS3', // the on-failure queues are the terminal destination
  // aws-cdk-lib's BucketDeployment handler (the live page under /assets/), acknowledged in cdn-stack.ts,
  // and the provider of restrictDefaultSecurityGroup (IAM4 AWSLambdaBasicExecutionRole), in network-stack.ts:
  'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
  'AwsSolutions-IAM5[Action::s3:Abort*]',
  'AwsSolutions-IAM5[Action::s3:DeleteObject*]',
  'AwsSolutions-IAM5[Action::s3:GetBucket*]',
  'AwsSolutions-IAM5[Action::s3:GetObject*]',
  'AwsSolutions-IAM5[Action::s3:List*]',
  'AwsSolutions-IAM5[Resource::<Assets9A31D427.Arn>/*]',
  'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]',
  'AwsSolutions-L1', // its runtime is pinned by aws-cdk-lib
];

/**
 * cdk-nag AwsSolutions runs as a validation plugin (lib/shop-edge.ts): the syntheses above would
 * have thrown on any unacknowledged finding. nag-proof.test.ts shows that they do.
 */
describe.each([
  ['dev', () => dev],
  ['prod', () => prod],
])('cdk-nag AwsSolutions on %s', (envName, appOf) => {
  it('leaves no error or warning unacknowledged', () => {
    const app = appOf();
    expect(unacknowledgedFindings(app.app, app.assemblyDir)).toEqual([]);
  });

  it('acknowledges exactly the expected findings, each with a specific reason', () => {
    const acks = acknowledgements(appOf().app);
    const expected = EXPECTED_ACKNOWLEDGEMENTS.map((id) => id.replace('<stage>', envName)).filter(
      (id) => envName === 'dev' || (id !== 'AwsSolutions-AEC4' && id !== 'AwsSolutions-CFR2'),
    );
    // aws-cdk-lib acknowledges some of its own CloudFormation-Validate rules; ours are AwsSolutions-*.
    const ours = [...acks.keys()].filter((id) => id.startsWith('AwsSolutions-'));
    expect(ours.sort()).toEqual(expected.sort());
    for (const id of ours) {
      for (const reason of acks.get(id)!) expect([id, reason.length >= 60]).toEqual([id, true]);
    }
  });
});
