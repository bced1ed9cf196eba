/**
 * What a cloud assembly deploys, read from its templates alone: the functions that something
 * invokes (with their code, handler, timeout, environment, role and network), the REST and
 * WebSocket APIs, the stream event source mappings, the tables, the cache, the secrets and the
 * network. Every value is resolved through the intrinsic resolver against the local physical
 * values, so what runs locally is what CloudFormation would have created.
 *
 * A resource type not listed here, a property this mode cannot honour or an intrinsic it cannot
 * evaluate stops the mode with a TemplateError naming the resource and the property.
 */
import type { CreateTableCommandInput, StreamViewType } from '@aws-sdk/client-dynamodb';
import { originsOfPreflightTemplate } from '../../functions/shared/cors';
import type { CloudAssembly, ResourceRef } from './assembly';
import { TemplateError, type IntrinsicResolver, type Where } from './intrinsics';
import type { LocalPhysicalValues } from './physical';

/** Resource types whose presence changes nothing the local deployment runs. */
const INERT_TYPES = new Set([
  'AWS::CDK::Metadata',
  'AWS::Logs::LogGroup',
  'AWS::CloudWatch::Alarm',
  'AWS::CloudWatch::Dashboard',
  'AWS::SNS::Topic',
  'AWS::SNS::TopicPolicy',
  'AWS::SNS::Subscription',
  'AWS::S3::Bucket',
  'AWS::S3::BucketPolicy',
  'AWS::SQS::QueuePolicy',
  'AWS::EC2::FlowLog',
  'AWS::EC2::SubnetRouteTableAssociation',
  'AWS::ApiGateway::Account',
  'AWS::ApiGateway::Deployment',
  'AWS::ApiGateway::Model',
  'AWS::CloudFront::CachePolicy',
  'AWS::CloudFront::ResponseHeadersPolicy',
  'AWS::CloudFront::OriginAccessControl',
  'AWS::CloudFront::OriginRequestPolicy',
  'AWS::CloudFront::Function',
  'AWS::Lambda::LayerVersion',
  'Custom::CDKBucketDeployment',
  'AWS::ElastiCache::SubnetGroup',
  'AWS::IAM::Role',
  'AWS::IAM::Policy',
  'AWS::IAM::ManagedPolicy',
  'AWS::Lambda::Permission',
  // The values other stacks read at deployment (their AWS::SSM::Parameter::Value parameters resolve through ssmParameterValue).
  'AWS::SSM::Parameter',
  // Strips the VPC's default security group's rules; nothing local uses that group.
  'Custom::VpcRestrictDefaultSG',
]);

/** Resource types the local deployment runs or reads (see the read* functions below). */
const RUN_TYPES = new Set([
  'AWS::Lambda::Function',
  'AWS::Lambda::EventSourceMapping',
  'AWS::DynamoDB::Table',
  'AWS::SecretsManager::Secret',
  'AWS::ElastiCache::ReplicationGroup',
  'AWS::ElastiCache::ParameterGroup',
  'AWS::ApiGateway::RestApi',
  'AWS::ApiGateway::Resource',
  'AWS::ApiGateway::Method',
  'AWS::ApiGateway::Authorizer',
  'AWS::ApiGateway::GatewayResponse',
  'AWS::ApiGateway::RequestValidator',
  'AWS::ApiGateway::Stage',
  'AWS::ApiGatewayV2::Api',
  'AWS::ApiGatewayV2::Route',
  'AWS::ApiGatewayV2::Integration',
  'AWS::ApiGatewayV2::Authorizer',
  'AWS::ApiGatewayV2::Stage',
  'AWS::SQS::Queue',
  'AWS::CloudFront::Distribution',
  'AWS::EC2::VPC',
  'AWS::EC2::Subnet',
  'AWS::EC2::RouteTable',
  'AWS::EC2::Route',
  'AWS::EC2::SecurityGroup',
  'AWS::EC2::SecurityGroupIngress',
  'AWS::EC2::SecurityGroupEgress',
  'AWS::EC2::VPCEndpoint',
  'AWS::EC2::NatGateway',
  'AWS::EC2::InternetGateway',
  'AWS::WAFv2::WebACL',
  'AWS::WAFv2::WebACLAssociation',
]);

export interface PolicyDocument {
  readonly Version?: string;
  readonly Statement: readonly Record<string, unknown>[];
}

export interface DeployedRole {
  readonly arn: string;
  readonly name: string;
  /** Inline, attached and customer managed policies, resolved. */
  readonly policies: readonly PolicyDocument[];
  /** AWS managed policies (arn:aws:iam::aws:policy/...), by ARN: their documents are AWS's. */
  readonly awsManagedPolicyArns: readonly string[];
}

export interface DeployedFunction {
  readonly stack: string;
  readonly logicalId: string;
  /** Physical FunctionName. */
  readonly name: string;
  readonly arn: string;
  readonly runtime: string;
  readonly codeDirectory: string;
  /** e.g. index.handler */
  readonly handler: string;
  readonly timeoutMs: number;
  readonly memoryMb: number;
  /** Environment.Variables, resolved: exactly what the function gets in AWS. */
  readonly environment: Readonly<Record<string, string>>;
  readonly role: DeployedRole;
  readonly vpc?: { readonly subnetIds: readonly string[]; readonly securityGroupIds: readonly string[] };
  readonly reservedConcurrency?: number;
  readonly logFormat: 'Text' | 'JSON';
}

export interface DeployedAuthorizer {
  readonly id: string;
  readonly name: string;
  readonly type: 'REQUEST' | 'TOKEN';
  /** e.g. method.request.header.Authorization, route.request.querystring.token */
  readonly identitySources: readonly string[];
  readonly resultTtlSeconds: number;
  readonly functionArn: string;
}

export type DeployedIntegration =
  | { readonly type: 'AWS_PROXY'; readonly functionArn: string }
  | {
      readonly type: 'MOCK';
      /** The status code of the integration response, and its header values (already unquoted). */
      readonly statusCode: number;
      readonly headers: Readonly<Record<string, string>>;
      /** A CORS preflight's response template: Access-Control-Allow-Origin echoes an Origin of this list. */
      readonly allowedOrigins?: readonly string[];
    };

export interface DeployedMethod {
  readonly httpMethod: string;
  /** API Gateway resource path, e.g. /api/products/{id} */
  readonly resourcePath: string;
  readonly authorizerId?: string;
  readonly integration: DeployedIntegration;
  /** Request validation as configured (the validator's flags). */
  readonly validateBody: boolean;
  readonly validateParameters: boolean;
  /** Content type → JSON schema (draft 4), when the body is validated. */
  readonly requestModels: Readonly<Record<string, unknown>>;
  /** method.request.(path|querystring|header).<name> → required */
  readonly requestParameters: Readonly<Record<string, boolean>>;
}

export interface DeployedGatewayResponse {
  readonly statusCode?: number;
  /** Header name → value (unquoted static values; $context references kept for the front to render). */
  readonly headers: Readonly<Record<string, string>>;
  /** Header name → the request header it is mapped from (method.request.header.<name>). */
  readonly fromRequest: Readonly<Record<string, string>>;
  /** Content type → template. */
  readonly templates: Readonly<Record<string, string>>;
}

export interface DeployedThrottle {
  readonly rateLimit: number;
  readonly burstLimit: number;
}

export interface DeployedRestApi {
  readonly stack: string;
  readonly logicalId: string;
  readonly id: string;
  readonly name: string;
  readonly stageName: string;
  readonly methods: readonly DeployedMethod[];
  readonly authorizers: ReadonlyMap<string, DeployedAuthorizer>;
  readonly gatewayResponses: ReadonlyMap<string, DeployedGatewayResponse>;
  readonly throttle?: DeployedThrottle;
  /** SourceArns API Gateway may invoke each function with (AWS::Lambda::Permission), by function ARN. */
  readonly invokePermissions: ReadonlyMap<string, readonly string[]>;
  /** The web ACL associated with the stage: its properties, resolved (compiled by waf.ts). */
  readonly webAcl?: { readonly stack: string; readonly logicalId: string; readonly properties: Readonly<Record<string, unknown>> };
}

export interface DeployedWebSocketRoute {
  readonly routeKey: string;
  readonly authorizerId?: string;
  readonly functionArn: string;
  /** Set for two-way routes ($default: the integration's answer is sent back). */
  readonly routeResponseSelectionExpression?: string;
}

export interface DeployedWebSocketApi {
  readonly stack: string;
  readonly logicalId: string;
  readonly id: string;
  readonly name: string;
  readonly stageName: string;
  readonly routeSelectionExpression: string;
  readonly routes: ReadonlyMap<string, DeployedWebSocketRoute>;
  readonly authorizers: ReadonlyMap<string, DeployedAuthorizer>;
  readonly throttle?: DeployedThrottle;
  readonly invokePermissions: ReadonlyMap<string, readonly string[]>;
}

export interface DeployedEventSourceMapping {
  readonly logicalId: string;
  readonly stack: string;
  readonly functionName: string;
  readonly eventSourceArn: string;
  readonly batchSize: number;
  readonly maximumBatchingWindowSeconds: number;
  readonly startingPosition: 'LATEST' | 'TRIM_HORIZON';
  readonly bisectBatchOnFunctionError: boolean;
  /** -1: until the record expires. */
  readonly maximumRetryAttempts: number;
  /** -1: no maximum. */
  readonly maximumRecordAgeSeconds: number;
  readonly reportBatchItemFailures: boolean;
  /** FilterCriteria patterns (EventBridge pattern syntax), parsed. */
  readonly filters: readonly unknown[];
  readonly parallelizationFactor: number;
  readonly onFailureDestinationArn?: string;
  readonly enabled: boolean;
}

export interface DeployedTable {
  readonly stack: string;
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly createTable: CreateTableCommandInput;
  readonly timeToLiveAttribute?: string;
}

export interface DeployedSecret {
  readonly stack: string;
  readonly logicalId: string;
  readonly arn: string;
  readonly name: string;
  /** How to make the value: GenerateSecretString, or the literal SecretString. */
  readonly generate?: {
    readonly length: number;
    readonly excludePunctuation: boolean;
    readonly excludeCharacters: string;
    readonly includeSpace: boolean;
    readonly excludeUppercase: boolean;
    readonly excludeLowercase: boolean;
    readonly excludeNumbers: boolean;
    readonly template?: string;
    readonly key?: string;
  };
  readonly literal?: string;
}

export interface DeployedCache {
  readonly stack: string;
  readonly logicalId: string;
  readonly id: string;
  readonly engine: string;
  readonly clusterMode: boolean;
  readonly shards: number;
  readonly replicasPerShard: number;
  readonly port: number;
  readonly transitEncryption: boolean;
  /** The AuthToken property, unresolved: it usually is a dynamic reference to a secret. */
  readonly authToken?: unknown;
  /** From the cache parameter group. */
  readonly parameters: Readonly<Record<string, string>>;
  readonly securityGroupIds: readonly string[];
  /** The configuration (cluster mode) or primary endpoint the template hands out. */
  readonly endpoint: { readonly host: string; readonly port: number };
}

export interface SecurityGroupRule {
  readonly protocol: string;
  readonly fromPort: number;
  readonly toPort: number;
  readonly cidr?: string;
  readonly securityGroupId?: string;
}

export interface DeployedNetwork {
  readonly subnets: ReadonlyMap<string, { readonly vpcId: string; readonly routeTableId?: string }>;
  /** Route table id → destinations routed to a NAT or internet gateway. */
  readonly internetRoutes: ReadonlyMap<string, readonly string[]>;
  readonly endpoints: readonly {
    readonly service: string;
    readonly type: 'Gateway' | 'Interface';
    readonly vpcId: string;
    readonly routeTableIds: readonly string[];
    readonly subnetIds: readonly string[];
    readonly securityGroupIds: readonly string[];
    readonly privateDns: boolean;
  }[];
  readonly securityGroups: ReadonlyMap<
    string,
    { readonly vpcId: string; readonly ingress: readonly SecurityGroupRule[]; readonly egress: readonly SecurityGroupRule[] }
  >;
}

export interface Deployment {
  readonly functions: ReadonlyMap<string, DeployedFunction>;
  readonly restApis: readonly DeployedRestApi[];
  readonly webSocketApis: readonly DeployedWebSocketApi[];
  readonly eventSourceMappings: readonly DeployedEventSourceMapping[];
  readonly tables: readonly DeployedTable[];
  readonly secrets: readonly DeployedSecret[];
  readonly caches: readonly DeployedCache[];
  readonly queues: ReadonlyMap<string, { readonly name: string; readonly url: string }>;
  readonly distributions: readonly { readonly id: string }[];
  readonly network: DeployedNetwork;
}

/**
 * The value of the SSM parameter `name` as the assembly writes it (an AWS::SSM::Parameter of one
 * of its stacks), for the template parameters that read it at deployment.
 */
export function ssmParameterValue(assembly: CloudAssembly, resolver: IntrinsicResolver, name: string, at: Where): string {
  for (const ref of assembly.resources('AWS::SSM::Parameter')) {
    if (!resolver.included(ref)) continue;
    const p = props(ref);
    if (resolver.string(where(ref, 'Name'), p.Name) !== name) continue;
    if (p.Type !== undefined && p.Type !== 'String')
      throw new TemplateError(where(ref, 'Type'), `${JSON.stringify(p.Type)} parameters are not supported`);
    return resolver.string(where(ref, 'Value'), p.Value);
  }
  throw new TemplateError(at, `SSM parameter ${name} is not written by any stack of the assembly`);
}

/** Fails on a resource type the local deployment does not know. */
export function checkResourceTypes(assembly: CloudAssembly, resolver: IntrinsicResolver): void {
  for (const ref of assembly.resources()) {
    if (!resolver.included(ref)) continue;
    const type = ref.resource.Type;
    if (!INERT_TYPES.has(type) && !RUN_TYPES.has(type)) {
      throw new TemplateError(
        { stack: ref.stack, logicalId: ref.logicalId, path: 'Type' },
        `resource type ${type} is not supported by the as-deployed mode`,
      );
    }
  }
}

/** Tables and secrets: what has to exist before anything else can be resolved. */
export function readTables(assembly: CloudAssembly, resolver: IntrinsicResolver, physical: LocalPhysicalValues): DeployedTable[] {
  return [...included(assembly, resolver, 'AWS::DynamoDB::Table')].map((ref) => {
    const at = where(ref);
    const p = props(ref);
    const name = physical.nameOf(ref, 'TableName', 255);
    supportedOnly(ref, p, [
      'TableName',
      'AttributeDefinitions',
      'KeySchema',
      'GlobalSecondaryIndexes',
      'LocalSecondaryIndexes',
      'BillingMode',
      'ProvisionedThroughput',
      'StreamSpecification',
      'TimeToLiveSpecification',
      'PointInTimeRecoverySpecification',
      'SSESpecification',
      'DeletionProtectionEnabled',
      'Tags',
      'ContributorInsightsSpecification',
      'TableClass',
    ]);
    const resolved = resolver.resolve(at, {
      AttributeDefinitions: p.AttributeDefinitions,
      KeySchema: p.KeySchema,
      GlobalSecondaryIndexes: p.GlobalSecondaryIndexes,
      LocalSecondaryIndexes: p.LocalSecondaryIndexes,
      StreamSpecification: p.StreamSpecification,
    }) as Pick<CreateTableCommandInput, 'AttributeDefinitions' | 'KeySchema' | 'GlobalSecondaryIndexes' | 'LocalSecondaryIndexes'> & {
      StreamSpecification?: { StreamViewType?: StreamViewType };
    };
    const ttl = resolver.resolve({ ...at, path: 'TimeToLiveSpecification' }, p.TimeToLiveSpecification) as
      { Enabled?: boolean; AttributeName?: string } | undefined;
    const createTable: CreateTableCommandInput = {
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: resolved.AttributeDefinitions,
      KeySchema: resolved.KeySchema,
      ...(resolved.GlobalSecondaryIndexes ? { GlobalSecondaryIndexes: resolved.GlobalSecondaryIndexes } : {}),
      ...(resolved.LocalSecondaryIndexes ? { LocalSecondaryIndexes: resolved.LocalSecondaryIndexes } : {}),
      ...(resolved.StreamSpecification
        ? { StreamSpecification: { StreamEnabled: true, StreamViewType: resolved.StreamSpecification.StreamViewType } }
        : {}),
    };
    return {
      stack: ref.stack,
      logicalId: ref.logicalId,
      name,
      arn: resolver.string(at, { 'Fn::GetAtt': [ref.logicalId, 'Arn'] }),
      createTable,
      ...(ttl?.Enabled === true && ttl.AttributeName !== undefined ? { timeToLiveAttribute: ttl.AttributeName } : {}),
    };
  });
}

export function readSecrets(assembly: CloudAssembly, resolver: IntrinsicResolver, physical: LocalPhysicalValues): DeployedSecret[] {
  return [...included(assembly, resolver, 'AWS::SecretsManager::Secret')].map((ref) => {
    const at = where(ref);
    const p = props(ref);
    supportedOnly(ref, p, ['Name', 'Description', 'GenerateSecretString', 'SecretString', 'KmsKeyId', 'Tags', 'ReplicaRegions']);
    const arn = resolver.string(at, { Ref: ref.logicalId });
    const name = physical.nameOf(ref, 'Name', 256);
    if (p.SecretString !== undefined)
      return {
        stack: ref.stack,
        logicalId: ref.logicalId,
        arn,
        name,
        literal: resolver.string({ ...at, path: 'SecretString' }, p.SecretString),
      };
    const g = (resolver.resolve({ ...at, path: 'GenerateSecretString' }, p.GenerateSecretString) ?? {}) as Record<string, unknown>;
    return {
      stack: ref.stack,
      logicalId: ref.logicalId,
      arn,
      name,
      generate: {
        length: typeof g.PasswordLength === 'number' ? g.PasswordLength : 32,
        excludePunctuation: g.ExcludePunctuation === true,
        excludeCharacters: typeof g.ExcludeCharacters === 'string' ? g.ExcludeCharacters : '',
        includeSpace: g.IncludeSpace === true,
        excludeUppercase: g.ExcludeUppercase === true,
        excludeLowercase: g.ExcludeLowercase === true,
        excludeNumbers: g.ExcludeNumbers === true,
        ...(typeof g.SecretStringTemplate === 'string' ? { template: g.SecretStringTemplate } : {}),
        ...(typeof g.GenerateStringKey === 'string' ? { key: g.GenerateStringKey } : {}),
      },
    };
  });
}

/** The rest of the deployment, once tables, secrets and the cache's endpoints have local values. */
export function readDeployment(
  assembly: CloudAssembly,
  resolver: IntrinsicResolver,
  tables: readonly DeployedTable[],
  secrets: readonly DeployedSecret[],
): Deployment {
  const restApis = [...included(assembly, resolver, 'AWS::ApiGateway::RestApi')].map((ref) => readRestApi(assembly, resolver, ref));
  const webSocketApis = [...included(assembly, resolver, 'AWS::ApiGatewayV2::Api')].map((ref) => readWebSocketApi(assembly, resolver, ref));
  const eventSourceMappings = [...included(assembly, resolver, 'AWS::Lambda::EventSourceMapping')].map((ref) =>
    readEventSourceMapping(resolver, ref),
  );

  // Only the functions something invokes run locally (a custom resource's handler does not).
  const invoked = new Set<string>([
    ...restApis.flatMap((api) => [
      ...api.methods.flatMap((m) => (m.integration.type === 'AWS_PROXY' ? [m.integration.functionArn] : [])),
      ...[...api.authorizers.values()].map((a) => a.functionArn),
    ]),
    ...webSocketApis.flatMap((api) => [
      ...[...api.routes.values()].map((r) => r.functionArn),
      ...[...api.authorizers.values()].map((a) => a.functionArn),
    ]),
  ]);
  const functions = new Map<string, DeployedFunction>();
  for (const ref of included(assembly, resolver, 'AWS::Lambda::Function')) {
    const at = where(ref);
    const arn = resolver.string(at, { 'Fn::GetAtt': [ref.logicalId, 'Arn'] });
    const name = resolver.string(at, { Ref: ref.logicalId });
    if (!invoked.has(arn) && !eventSourceMappings.some((m) => m.functionName === name || m.functionName === arn)) continue;
    const fn = readFunction(assembly, resolver, ref, name, arn);
    functions.set(fn.arn, fn);
  }
  for (const arn of invoked) {
    if (!functions.has(arn)) throw new Error(`an API integrates function ${arn}, which is not in the assembly`);
  }
  for (const mapping of eventSourceMappings) {
    if (![...functions.values()].some((f) => f.name === mapping.functionName || f.arn === mapping.functionName)) {
      throw new TemplateError(
        where({ stack: mapping.stack, logicalId: mapping.logicalId }, 'FunctionName'),
        `no function ${mapping.functionName}`,
      );
    }
  }

  const caches = [...included(assembly, resolver, 'AWS::ElastiCache::ReplicationGroup')].map((ref) => readCache(assembly, resolver, ref));
  const queues = new Map(
    [...included(assembly, resolver, 'AWS::SQS::Queue')].map((ref) => {
      const at = where(ref);
      return [
        resolver.string(at, { 'Fn::GetAtt': [ref.logicalId, 'Arn'] }),
        { name: resolver.string(at, { 'Fn::GetAtt': [ref.logicalId, 'QueueName'] }), url: resolver.string(at, { Ref: ref.logicalId }) },
      ] as const;
    }),
  );
  const distributions = [...included(assembly, resolver, 'AWS::CloudFront::Distribution')].map((ref) => ({
    id: resolver.string(where(ref), { Ref: ref.logicalId }),
  }));
  return {
    functions,
    restApis,
    webSocketApis,
    eventSourceMappings,
    tables,
    secrets,
    caches,
    queues,
    distributions,
    network: readNetwork(assembly, resolver),
  };
}

function readFunction(assembly: CloudAssembly, resolver: IntrinsicResolver, ref: ResourceRef, name: string, arn: string): DeployedFunction {
  const at = where(ref);
  const p = props(ref);
  supportedOnly(ref, p, [
    'FunctionName',
    'Code',
    'Handler',
    'Runtime',
    'Timeout',
    'MemorySize',
    'Environment',
    'Role',
    'VpcConfig',
    'ReservedConcurrentExecutions',
    'LoggingConfig',
    'TracingConfig',
    'Architectures',
    'Description',
    'Tags',
  ]);
  const runtime = resolver.string({ ...at, path: 'Runtime' }, p.Runtime);
  if (!runtime.startsWith('nodejs'))
    throw new TemplateError({ ...at, path: 'Runtime' }, `runtime ${runtime} is not supported (Node.js only)`);
  const environment = resolver.stringMap(
    { ...at, path: 'Environment.Variables' },
    (p.Environment as { Variables?: unknown } | undefined)?.Variables,
  );
  const vpc = p.VpcConfig as { SubnetIds?: unknown; SecurityGroupIds?: unknown } | undefined;
  const logging = (p.LoggingConfig ?? {}) as { LogFormat?: unknown };
  return {
    stack: ref.stack,
    logicalId: ref.logicalId,
    name,
    arn,
    runtime,
    codeDirectory: assembly.assetDirectory(ref),
    handler: resolver.string({ ...at, path: 'Handler' }, p.Handler),
    timeoutMs: (p.Timeout === undefined ? 3 : resolver.number({ ...at, path: 'Timeout' }, p.Timeout)) * 1000,
    memoryMb: p.MemorySize === undefined ? 128 : resolver.number({ ...at, path: 'MemorySize' }, p.MemorySize),
    environment,
    role: readRole(assembly, resolver, at, p.Role),
    ...(vpc !== undefined
      ? {
          vpc: {
            subnetIds: resolver.stringList({ ...at, path: 'VpcConfig.SubnetIds' }, vpc.SubnetIds),
            securityGroupIds: resolver.stringList({ ...at, path: 'VpcConfig.SecurityGroupIds' }, vpc.SecurityGroupIds),
          },
        }
      : {}),
    ...(p.ReservedConcurrentExecutions !== undefined
      ? { reservedConcurrency: resolver.number({ ...at, path: 'ReservedConcurrentExecutions' }, p.ReservedConcurrentExecutions) }
      : {}),
    logFormat: resolver.optionalString({ ...at, path: 'LoggingConfig.LogFormat' }, logging.LogFormat) === 'JSON' ? 'JSON' : 'Text',
  };
}

function readRole(assembly: CloudAssembly, resolver: IntrinsicResolver, at: Where, roleArnValue: unknown): DeployedRole {
  const roleArn = resolver.string({ ...at, path: 'Role' }, roleArnValue);
  const roleRef = [...included(assembly, resolver, 'AWS::IAM::Role')].find(
    (r) => resolver.string(where(r), { 'Fn::GetAtt': [r.logicalId, 'Arn'] }) === roleArn,
  );
  if (roleRef === undefined) throw new TemplateError({ ...at, path: 'Role' }, `role ${roleArn} is not in the assembly`);
  const roleAt = where(roleRef);
  const roleName = resolver.string(roleAt, { Ref: roleRef.logicalId });
  const p = props(roleRef);
  const policies: PolicyDocument[] = [];
  for (const [i, inline] of ((p.Policies ?? []) as { PolicyDocument: unknown }[]).entries()) {
    policies.push(resolver.resolve({ ...roleAt, path: `Policies[${i}].PolicyDocument` }, inline.PolicyDocument) as PolicyDocument);
  }
  const attachedTo = (r: ResourceRef): boolean =>
    props(r).Roles !== undefined && resolver.stringList({ ...where(r), path: 'Roles' }, props(r).Roles).includes(roleName);
  for (const policyRef of included(assembly, resolver, 'AWS::IAM::Policy')) {
    if (attachedTo(policyRef))
      policies.push(resolver.resolve(where(policyRef, 'PolicyDocument'), props(policyRef).PolicyDocument) as PolicyDocument);
  }
  const managed = new Map<string, ResourceRef>();
  for (const policyRef of included(assembly, resolver, 'AWS::IAM::ManagedPolicy')) {
    managed.set(resolver.string(where(policyRef), { Ref: policyRef.logicalId }), policyRef);
    if (attachedTo(policyRef))
      policies.push(resolver.resolve(where(policyRef, 'PolicyDocument'), props(policyRef).PolicyDocument) as PolicyDocument);
  }
  const awsManagedPolicyArns: string[] = [];
  for (const policyArn of p.ManagedPolicyArns === undefined
    ? []
    : resolver.stringList({ ...roleAt, path: 'ManagedPolicyArns' }, p.ManagedPolicyArns)) {
    const customer = managed.get(policyArn);
    if (customer !== undefined)
      policies.push(resolver.resolve(where(customer, 'PolicyDocument'), props(customer).PolicyDocument) as PolicyDocument);
    else if (policyArn.startsWith('arn:aws:iam::aws:policy/')) awsManagedPolicyArns.push(policyArn);
    else throw new TemplateError({ ...roleAt, path: 'ManagedPolicyArns' }, `managed policy ${policyArn} is not in the assembly`);
  }
  return { arn: roleArn, name: roleName, policies, awsManagedPolicyArns };
}

/** arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations → the function ARN. */
function functionOfUri(at: Where, uri: string): string {
  const match = /:lambda:path\/2015-03-31\/functions\/(.+)\/invocations$/.exec(uri);
  if (match?.[1] === undefined) throw new TemplateError(at, `integration URI ${uri} is not a Lambda function's`);
  return match[1];
}

function readAuthorizers(
  assembly: CloudAssembly,
  resolver: IntrinsicResolver,
  type: 'AWS::ApiGateway::Authorizer' | 'AWS::ApiGatewayV2::Authorizer',
  apiProperty: 'RestApiId' | 'ApiId',
  apiId: string,
): Map<string, DeployedAuthorizer> {
  const authorizers = new Map<string, DeployedAuthorizer>();
  for (const ref of included(assembly, resolver, type)) {
    const at = where(ref);
    const p = props(ref);
    if (resolver.string({ ...at, path: apiProperty }, p[apiProperty]) !== apiId) continue;
    const kind = resolver.string({ ...at, path: 'Type' }, p.Type ?? p.AuthorizerType);
    if (kind !== 'REQUEST' && kind !== 'TOKEN')
      throw new TemplateError({ ...at, path: 'Type' }, `authorizer type ${kind} is not supported`);
    const sources = p.IdentitySource === undefined ? [] : resolver.resolve({ ...at, path: 'IdentitySource' }, p.IdentitySource);
    const identitySources = (Array.isArray(sources) ? sources.map(String) : String(sources).split(','))
      .map((s) => s.trim())
      .filter(Boolean);
    const id = resolver.string(at, { Ref: ref.logicalId });
    authorizers.set(id, {
      id,
      name: resolver.string({ ...at, path: 'Name' }, p.Name),
      type: kind,
      identitySources,
      // API Gateway's default TTL for REST authorizers is 300 s; WebSocket authorizers are not cached.
      resultTtlSeconds:
        p.AuthorizerResultTtlInSeconds === undefined
          ? type === 'AWS::ApiGateway::Authorizer'
            ? 300
            : 0
          : resolver.number({ ...at, path: 'AuthorizerResultTtlInSeconds' }, p.AuthorizerResultTtlInSeconds),
      functionArn: functionOfUri({ ...at, path: 'AuthorizerUri' }, resolver.string({ ...at, path: 'AuthorizerUri' }, p.AuthorizerUri)),
    });
  }
  return authorizers;
}

function readInvokePermissions(assembly: CloudAssembly, resolver: IntrinsicResolver): Map<string, string[]> {
  const permissions = new Map<string, string[]>();
  for (const ref of included(assembly, resolver, 'AWS::Lambda::Permission')) {
    const at = where(ref);
    const p = props(ref);
    if (resolver.string({ ...at, path: 'Principal' }, p.Principal) !== 'apigateway.amazonaws.com') continue;
    const fn = resolver.string({ ...at, path: 'FunctionName' }, p.FunctionName);
    const sourceArn = p.SourceArn === undefined ? '*' : resolver.string({ ...at, path: 'SourceArn' }, p.SourceArn);
    const list = permissions.get(fn) ?? [];
    list.push(sourceArn);
    permissions.set(fn, list);
  }
  return permissions;
}

function readThrottle(settings: Record<string, unknown> | undefined): DeployedThrottle | undefined {
  const rate = settings?.ThrottlingRateLimit;
  const burst = settings?.ThrottlingBurstLimit;
  if (typeof rate !== 'number' && typeof burst !== 'number') return undefined;
  return { rateLimit: typeof rate === 'number' ? rate : 10_000, burstLimit: typeof burst === 'number' ? burst : 5_000 };
}

function readRestApi(assembly: CloudAssembly, resolver: IntrinsicResolver, apiRef: ResourceRef): DeployedRestApi {
  const apiAt = where(apiRef);
  const id = resolver.string(apiAt, { Ref: apiRef.logicalId });
  const rootId = resolver.string(apiAt, { 'Fn::GetAtt': [apiRef.logicalId, 'RootResourceId'] });
  const ofApi = (ref: ResourceRef) => resolver.string({ ...where(ref), path: 'RestApiId' }, props(ref).RestApiId) === id;

  // Resource id → full path, from the PathPart chain up to the root.
  const parents = new Map<string, { parent: string; part: string }>();
  for (const ref of included(assembly, resolver, 'AWS::ApiGateway::Resource')) {
    if (!ofApi(ref)) continue;
    const at = where(ref);
    parents.set(resolver.string(at, { Ref: ref.logicalId }), {
      parent: resolver.string({ ...at, path: 'ParentId' }, props(ref).ParentId),
      part: resolver.string({ ...at, path: 'PathPart' }, props(ref).PathPart),
    });
  }
  const pathOf = (resourceId: string): string => {
    if (resourceId === rootId) return '/';
    const node = parents.get(resourceId);
    if (node === undefined) throw new TemplateError(apiAt, `method on unknown resource ${resourceId}`);
    const parent = pathOf(node.parent);
    return `${parent === '/' ? '' : parent}/${node.part}`;
  };

  const validators = new Map<string, { body: boolean; parameters: boolean }>();
  for (const ref of included(assembly, resolver, 'AWS::ApiGateway::RequestValidator')) {
    if (!ofApi(ref)) continue;
    const p = props(ref);
    validators.set(resolver.string(where(ref), { Ref: ref.logicalId }), {
      body: p.ValidateRequestBody === true,
      parameters: p.ValidateRequestParameters === true,
    });
  }
  const models = new Map<string, unknown>();
  for (const ref of assembly.resources('AWS::ApiGateway::Model')) {
    if (!resolver.included(ref) || !ofApi(ref)) continue;
    models.set(resolver.string(where(ref), { Ref: ref.logicalId }), resolver.resolve(where(ref, 'Schema'), props(ref).Schema));
  }

  const methods: DeployedMethod[] = [];
  for (const ref of included(assembly, resolver, 'AWS::ApiGateway::Method')) {
    if (!ofApi(ref)) continue;
    const at = where(ref);
    const p = props(ref);
    supportedOnly(ref, p, [
      'RestApiId',
      'ResourceId',
      'HttpMethod',
      'AuthorizationType',
      'AuthorizerId',
      'Integration',
      'RequestValidatorId',
      'RequestModels',
      'RequestParameters',
      'MethodResponses',
      'OperationName',
      'ApiKeyRequired',
    ]);
    const authorizationType = resolver.string({ ...at, path: 'AuthorizationType' }, p.AuthorizationType ?? 'NONE');
    if (authorizationType !== 'NONE' && authorizationType !== 'CUSTOM') {
      throw new TemplateError({ ...at, path: 'AuthorizationType' }, `authorization ${authorizationType} is not supported`);
    }
    if (p.ApiKeyRequired === true) throw new TemplateError({ ...at, path: 'ApiKeyRequired' }, 'API keys are not supported');
    const integration = readIntegration(resolver, { ...at, path: 'Integration' }, p.Integration);
    const validator =
      p.RequestValidatorId === undefined
        ? undefined
        : validators.get(resolver.string({ ...at, path: 'RequestValidatorId' }, p.RequestValidatorId));
    const requestModels: Record<string, unknown> = {};
    for (const [contentType, model] of Object.entries((p.RequestModels ?? {}) as Record<string, unknown>)) {
      const modelName = resolver.string({ ...at, path: `RequestModels.${contentType}` }, model);
      requestModels[contentType] = models.get(modelName) ?? { $schema: 'http://json-schema.org/draft-04/schema#', type: 'object' };
    }
    methods.push({
      httpMethod: resolver.string({ ...at, path: 'HttpMethod' }, p.HttpMethod),
      resourcePath: pathOf(resolver.string({ ...at, path: 'ResourceId' }, p.ResourceId)),
      ...(authorizationType === 'CUSTOM' ? { authorizerId: resolver.string({ ...at, path: 'AuthorizerId' }, p.AuthorizerId) } : {}),
      integration,
      validateBody: validator?.body ?? false,
      validateParameters: validator?.parameters ?? false,
      requestModels,
      requestParameters: (resolver.resolve({ ...at, path: 'RequestParameters' }, p.RequestParameters) ?? {}) as Record<string, boolean>,
    });
  }

  const gatewayResponses = new Map<string, DeployedGatewayResponse>();
  for (const ref of included(assembly, resolver, 'AWS::ApiGateway::GatewayResponse')) {
    if (!ofApi(ref)) continue;
    const at = where(ref);
    const p = props(ref);
    const headers: Record<string, string> = {};
    const fromRequest: Record<string, string> = {};
    for (const [key, value] of Object.entries(resolver.stringMap({ ...at, path: 'ResponseParameters' }, p.ResponseParameters))) {
      const header = /^gatewayresponse\.header\.(.+)$/.exec(key)?.[1];
      if (header === undefined) throw new TemplateError({ ...at, path: `ResponseParameters.${key}` }, 'only header mappings are supported');
      const source = /^method\.request\.header\.(.+)$/.exec(value)?.[1];
      if (source !== undefined) fromRequest[header] = source;
      else headers[header] = unquote({ ...at, path: `ResponseParameters.${key}` }, value);
    }
    gatewayResponses.set(resolver.string({ ...at, path: 'ResponseType' }, p.ResponseType), {
      ...(p.StatusCode !== undefined ? { statusCode: resolver.number({ ...at, path: 'StatusCode' }, p.StatusCode) } : {}),
      headers,
      fromRequest,
      templates: resolver.stringMap({ ...at, path: 'ResponseTemplates' }, p.ResponseTemplates),
    });
  }

  const stages = [...included(assembly, resolver, 'AWS::ApiGateway::Stage')].filter(ofApi);
  const stage = stages[0];
  if (stage === undefined || stages.length > 1) throw new TemplateError(apiAt, `expected one stage, found ${stages.length}`);
  const stageProps = props(stage);
  const methodSettings = (resolver.resolve(where(stage, 'MethodSettings'), stageProps.MethodSettings) ?? []) as Record<string, unknown>[];
  const throttle = readThrottle(methodSettings.find((s) => s.HttpMethod === '*' && s.ResourcePath === '/*'));
  const stageName = resolver.string(where(stage, 'StageName'), stageProps.StageName);
  const webAcl = readWebAcl(assembly, resolver, id, stageName);
  return {
    stack: apiRef.stack,
    logicalId: apiRef.logicalId,
    id,
    name: resolver.string({ ...apiAt, path: 'Name' }, props(apiRef).Name),
    stageName,
    methods,
    authorizers: readAuthorizers(assembly, resolver, 'AWS::ApiGateway::Authorizer', 'RestApiId', id),
    gatewayResponses,
    ...(throttle ? { throttle } : {}),
    invokePermissions: readInvokePermissions(assembly, resolver),
    ...(webAcl !== undefined ? { webAcl } : {}),
  };
}

/** The web ACL associated with a REST API's stage (ResourceArn .../restapis/<id>/stages/<stage>), if any. */
function readWebAcl(assembly: CloudAssembly, resolver: IntrinsicResolver, apiId: string, stageName: string): DeployedRestApi['webAcl'] {
  const associations = [...included(assembly, resolver, 'AWS::WAFv2::WebACLAssociation')].filter((ref) => {
    const arn = resolver.string(where(ref, 'ResourceArn'), props(ref).ResourceArn);
    const stage = /:apigateway:[^:]*::\/restapis\/([^/]+)\/stages\/([^/]+)$/.exec(arn);
    if (stage === null) throw new TemplateError(where(ref, 'ResourceArn'), `only REST API stages are supported, not ${arn}`);
    return stage[1] === apiId && stage[2] === stageName;
  });
  const association = associations[0];
  if (association === undefined) return undefined;
  if (associations.length > 1) throw new TemplateError(where(association), 'a stage has one web ACL');
  const aclArn = resolver.string(where(association, 'WebACLArn'), props(association).WebACLArn);
  const acl = [...included(assembly, resolver, 'AWS::WAFv2::WebACL')].find(
    (ref) => resolver.string(where(ref), { 'Fn::GetAtt': [ref.logicalId, 'Arn'] }) === aclArn,
  );
  if (acl === undefined) throw new TemplateError(where(association, 'WebACLArn'), `web ACL ${aclArn} is not in the assembly`);
  if (resolver.string(where(acl, 'Scope'), props(acl).Scope) !== 'REGIONAL')
    throw new TemplateError(where(acl, 'Scope'), 'expected REGIONAL');
  return {
    stack: acl.stack,
    logicalId: acl.logicalId,
    properties: resolver.resolve(where(acl), props(acl)) as Record<string, unknown>,
  };
}

function readIntegration(resolver: IntrinsicResolver, at: Where, value: unknown): DeployedIntegration {
  const integration = (value ?? {}) as Record<string, unknown>;
  const type = resolver.string({ ...at, path: `${at.path}.Type` }, integration.Type);
  if (type === 'AWS_PROXY') {
    return { type, functionArn: functionOfUri(at, resolver.string({ ...at, path: `${at.path}.Uri` }, integration.Uri)) };
  }
  if (type === 'MOCK') {
    const responses = (resolver.resolve({ ...at, path: `${at.path}.IntegrationResponses` }, integration.IntegrationResponses) ?? []) as {
      StatusCode?: string;
      ResponseParameters?: Record<string, string>;
      ResponseTemplates?: Record<string, string>;
    }[];
    const response = responses[0] ?? {};
    const headers: Record<string, string> = {};
    for (const [key, v] of Object.entries(response.ResponseParameters ?? {})) {
      const header = /^method\.response\.header\.(.+)$/.exec(key)?.[1];
      if (header !== undefined) headers[header] = unquote(at, v);
    }
    // A response template can only be the CORS preflight's (functions/shared/cors.ts): anything
    // else would change the answer in a way this mode does not render.
    let allowedOrigins: string[] | undefined;
    for (const [contentType, template] of Object.entries(response.ResponseTemplates ?? {})) {
      const origins = originsOfPreflightTemplate(template);
      if (origins === undefined) {
        throw new TemplateError(
          { ...at, path: `${at.path}.IntegrationResponses.0.ResponseTemplates.${contentType}` },
          'only the CORS preflight template of functions/shared/cors.ts is supported',
        );
      }
      allowedOrigins = origins;
    }
    return { type, statusCode: Number(response.StatusCode ?? 200), headers, ...(allowedOrigins !== undefined ? { allowedOrigins } : {}) };
  }
  throw new TemplateError({ ...at, path: `${at.path}.Type` }, `integration type ${type} is not supported`);
}

function readWebSocketApi(assembly: CloudAssembly, resolver: IntrinsicResolver, apiRef: ResourceRef): DeployedWebSocketApi {
  const apiAt = where(apiRef);
  const p = props(apiRef);
  const protocol = resolver.string({ ...apiAt, path: 'ProtocolType' }, p.ProtocolType);
  if (protocol !== 'WEBSOCKET') throw new TemplateError({ ...apiAt, path: 'ProtocolType' }, `${protocol} APIs are not supported`);
  const id = resolver.string(apiAt, { Ref: apiRef.logicalId });
  const ofApi = (ref: ResourceRef) => resolver.string({ ...where(ref), path: 'ApiId' }, props(ref).ApiId) === id;
  const integrations = new Map<string, string>();
  for (const ref of included(assembly, resolver, 'AWS::ApiGatewayV2::Integration')) {
    if (!ofApi(ref)) continue;
    const at = where(ref);
    const ip = props(ref);
    const type = resolver.string({ ...at, path: 'IntegrationType' }, ip.IntegrationType);
    if (type !== 'AWS_PROXY') throw new TemplateError({ ...at, path: 'IntegrationType' }, `integration type ${type} is not supported`);
    integrations.set(
      resolver.string(at, { Ref: ref.logicalId }),
      functionOfUri({ ...at, path: 'IntegrationUri' }, resolver.string({ ...at, path: 'IntegrationUri' }, ip.IntegrationUri)),
    );
  }
  const routes = new Map<string, DeployedWebSocketRoute>();
  for (const ref of included(assembly, resolver, 'AWS::ApiGatewayV2::Route')) {
    if (!ofApi(ref)) continue;
    const at = where(ref);
    const rp = props(ref);
    const routeKey = resolver.string({ ...at, path: 'RouteKey' }, rp.RouteKey);
    const target = resolver.string({ ...at, path: 'Target' }, rp.Target);
    const functionArn = integrations.get(target.replace(/^integrations\//, ''));
    if (functionArn === undefined) throw new TemplateError({ ...at, path: 'Target' }, `no integration ${target}`);
    const authorization = resolver.string({ ...at, path: 'AuthorizationType' }, rp.AuthorizationType ?? 'NONE');
    if (authorization !== 'NONE' && authorization !== 'CUSTOM')
      throw new TemplateError({ ...at, path: 'AuthorizationType' }, `${authorization} is not supported`);
    routes.set(routeKey, {
      routeKey,
      functionArn,
      ...(authorization === 'CUSTOM' ? { authorizerId: resolver.string({ ...at, path: 'AuthorizerId' }, rp.AuthorizerId) } : {}),
      ...(rp.RouteResponseSelectionExpression !== undefined
        ? {
            routeResponseSelectionExpression: resolver.string(
              { ...at, path: 'RouteResponseSelectionExpression' },
              rp.RouteResponseSelectionExpression,
            ),
          }
        : {}),
    });
  }
  const stages = [...included(assembly, resolver, 'AWS::ApiGatewayV2::Stage')].filter(ofApi);
  const stage = stages[0];
  if (stage === undefined || stages.length > 1) throw new TemplateError(apiAt, `expected one stage, found ${stages.length}`);
  const throttle = readThrottle(
    resolver.resolve(where(stage, 'DefaultRouteSettings'), props(stage).DefaultRouteSettings) as Record<string, unknown> | undefined,
  );
  return {
    stack: apiRef.stack,
    logicalId: apiRef.logicalId,
    id,
    name: resolver.string({ ...apiAt, path: 'Name' }, p.Name),
    stageName: resolver.string(where(stage, 'StageName'), props(stage).StageName),
    routeSelectionExpression: resolver.string({ ...apiAt, path: 'RouteSelectionExpression' }, p.RouteSelectionExpression),
    routes,
    authorizers: readAuthorizers(assembly, resolver, 'AWS::ApiGatewayV2::Authorizer', 'ApiId', id),
    ...(throttle ? { throttle } : {}),
    invokePermissions: readInvokePermissions(assembly, resolver),
  };
}

function readEventSourceMapping(resolver: IntrinsicResolver, ref: ResourceRef): DeployedEventSourceMapping {
  const at = where(ref);
  const p = props(ref);
  supportedOnly(ref, p, [
    'EventSourceArn',
    'FunctionName',
    'BatchSize',
    'MaximumBatchingWindowInSeconds',
    'StartingPosition',
    'BisectBatchOnFunctionError',
    'MaximumRetryAttempts',
    'MaximumRecordAgeInSeconds',
    'FunctionResponseTypes',
    'FilterCriteria',
    'ParallelizationFactor',
    'DestinationConfig',
    'Enabled',
    'Tags',
  ]);
  const num = (name: string, fallback: number) => (p[name] === undefined ? fallback : resolver.number({ ...at, path: name }, p[name]));
  const starting = resolver.string({ ...at, path: 'StartingPosition' }, p.StartingPosition);
  if (starting !== 'LATEST' && starting !== 'TRIM_HORIZON')
    throw new TemplateError({ ...at, path: 'StartingPosition' }, `${starting} is not supported`);
  const types =
    p.FunctionResponseTypes === undefined ? [] : resolver.stringList({ ...at, path: 'FunctionResponseTypes' }, p.FunctionResponseTypes);
  const filters =
    ((resolver.resolve({ ...at, path: 'FilterCriteria' }, p.FilterCriteria) ?? {}) as { Filters?: { Pattern?: string }[] }).Filters ?? [];
  const destination = (resolver.resolve({ ...at, path: 'DestinationConfig' }, p.DestinationConfig) ?? {}) as {
    OnFailure?: { Destination?: string };
  };
  return {
    logicalId: ref.logicalId,
    stack: ref.stack,
    functionName: resolver.string({ ...at, path: 'FunctionName' }, p.FunctionName),
    eventSourceArn: resolver.string({ ...at, path: 'EventSourceArn' }, p.EventSourceArn),
    batchSize: num('BatchSize', 100),
    maximumBatchingWindowSeconds: num('MaximumBatchingWindowInSeconds', 0),
    startingPosition: starting,
    bisectBatchOnFunctionError: p.BisectBatchOnFunctionError === true,
    maximumRetryAttempts: num('MaximumRetryAttempts', -1),
    maximumRecordAgeSeconds: num('MaximumRecordAgeInSeconds', -1),
    reportBatchItemFailures: types.includes('ReportBatchItemFailures'),
    filters: filters.map((f, i) => {
      try {
        return JSON.parse(String(f.Pattern)) as unknown;
      } catch {
        throw new TemplateError({ ...at, path: `FilterCriteria.Filters[${i}].Pattern` }, 'not JSON');
      }
    }),
    parallelizationFactor: num('ParallelizationFactor', 1),
    ...(destination.OnFailure?.Destination !== undefined ? { onFailureDestinationArn: destination.OnFailure.Destination } : {}),
    enabled: p.Enabled !== false,
  };
}

function readCache(assembly: CloudAssembly, resolver: IntrinsicResolver, ref: ResourceRef): DeployedCache {
  const at = where(ref);
  const p = props(ref);
  const engine = resolver.string({ ...at, path: 'Engine' }, p.Engine ?? 'redis');
  if (engine !== 'redis' && engine !== 'valkey') throw new TemplateError({ ...at, path: 'Engine' }, `engine ${engine} is not supported`);
  const parameters: Record<string, string> = {};
  if (p.CacheParameterGroupName !== undefined) {
    const groupName = resolver.string({ ...at, path: 'CacheParameterGroupName' }, p.CacheParameterGroupName);
    const group = [...included(assembly, resolver, 'AWS::ElastiCache::ParameterGroup')].find(
      (g) => resolver.string(where(g), { Ref: g.logicalId }) === groupName,
    );
    if (group === undefined)
      throw new TemplateError({ ...at, path: 'CacheParameterGroupName' }, `parameter group ${groupName} is not in the assembly`);
    Object.assign(parameters, resolver.stringMap(where(group, 'Properties'), props(group).Properties));
  }
  const clusterMode =
    (p.ClusterMode !== undefined && resolver.string({ ...at, path: 'ClusterMode' }, p.ClusterMode) === 'enabled') ||
    parameters['cluster-enabled'] === 'yes';
  const address = clusterMode ? 'ConfigurationEndPoint' : 'PrimaryEndPoint';
  return {
    stack: ref.stack,
    logicalId: ref.logicalId,
    id: resolver.string(at, { Ref: ref.logicalId }),
    engine,
    clusterMode,
    shards: p.NumNodeGroups === undefined ? 1 : resolver.number({ ...at, path: 'NumNodeGroups' }, p.NumNodeGroups),
    replicasPerShard:
      p.ReplicasPerNodeGroup === undefined ? 0 : resolver.number({ ...at, path: 'ReplicasPerNodeGroup' }, p.ReplicasPerNodeGroup),
    port: p.Port === undefined ? 6379 : resolver.number({ ...at, path: 'Port' }, p.Port),
    transitEncryption: p.TransitEncryptionEnabled === true,
    ...(p.AuthToken !== undefined ? { authToken: p.AuthToken } : {}),
    parameters,
    securityGroupIds: p.SecurityGroupIds === undefined ? [] : resolver.stringList({ ...at, path: 'SecurityGroupIds' }, p.SecurityGroupIds),
    endpoint: {
      host: resolver.string(at, { 'Fn::GetAtt': [ref.logicalId, `${address}.Address`] }),
      port: resolver.number(at, { 'Fn::GetAtt': [ref.logicalId, `${address}.Port`] }),
    },
  };
}

function readNetwork(assembly: CloudAssembly, resolver: IntrinsicResolver): DeployedNetwork {
  const subnets = new Map<string, { vpcId: string; routeTableId?: string }>();
  for (const ref of included(assembly, resolver, 'AWS::EC2::Subnet')) {
    subnets.set(resolver.string(where(ref), { Ref: ref.logicalId }), { vpcId: resolver.string(where(ref, 'VpcId'), props(ref).VpcId) });
  }
  for (const ref of included(assembly, resolver, 'AWS::EC2::SubnetRouteTableAssociation')) {
    const subnetId = resolver.string(where(ref, 'SubnetId'), props(ref).SubnetId);
    const subnet = subnets.get(subnetId);
    if (subnet !== undefined)
      subnets.set(subnetId, { ...subnet, routeTableId: resolver.string(where(ref, 'RouteTableId'), props(ref).RouteTableId) });
  }
  const internetRoutes = new Map<string, string[]>();
  for (const ref of included(assembly, resolver, 'AWS::EC2::Route')) {
    const p = props(ref);
    if (p.NatGatewayId === undefined && p.GatewayId === undefined) continue;
    const table = resolver.string(where(ref, 'RouteTableId'), p.RouteTableId);
    internetRoutes.set(table, [
      ...(internetRoutes.get(table) ?? []),
      resolver.string(where(ref, 'DestinationCidrBlock'), p.DestinationCidrBlock ?? '0.0.0.0/0'),
    ]);
  }
  const endpoints = [...included(assembly, resolver, 'AWS::EC2::VPCEndpoint')].map((ref) => {
    const at = where(ref);
    const p = props(ref);
    const list = (name: string) => (p[name] === undefined ? [] : resolver.stringList({ ...at, path: name }, p[name]));
    const type = resolver.string({ ...at, path: 'VpcEndpointType' }, p.VpcEndpointType ?? 'Gateway');
    if (type !== 'Gateway' && type !== 'Interface')
      throw new TemplateError({ ...at, path: 'VpcEndpointType' }, `${type} endpoints are not supported`);
    const serviceName = resolver.string({ ...at, path: 'ServiceName' }, p.ServiceName);
    return {
      service: serviceName.split('.').pop() ?? serviceName,
      type,
      vpcId: resolver.string({ ...at, path: 'VpcId' }, p.VpcId),
      routeTableIds: list('RouteTableIds'),
      subnetIds: list('SubnetIds'),
      securityGroupIds: list('SecurityGroupIds'),
      privateDns: p.PrivateDnsEnabled === true,
    } as const;
  });
  const securityGroups = new Map<string, { vpcId: string; ingress: SecurityGroupRule[]; egress: SecurityGroupRule[] }>();
  const rule = (at: Where, r: Record<string, unknown>): SecurityGroupRule => {
    const resolved = resolver.resolve(at, r) as Record<string, unknown>;
    const protocol = String(resolved.IpProtocol);
    const all = protocol === '-1';
    return {
      protocol,
      fromPort: all ? 0 : Number(resolved.FromPort ?? 0),
      toPort: all ? 65535 : Number(resolved.ToPort ?? 65535),
      ...(typeof resolved.CidrIp === 'string' ? { cidr: resolved.CidrIp } : {}),
      ...(typeof resolved.SourceSecurityGroupId === 'string' ? { securityGroupId: resolved.SourceSecurityGroupId } : {}),
      ...(typeof resolved.DestinationSecurityGroupId === 'string' ? { securityGroupId: resolved.DestinationSecurityGroupId } : {}),
    };
  };
  for (const ref of included(assembly, resolver, 'AWS::EC2::SecurityGroup')) {
    const at = where(ref);
    const p = props(ref);
    const ingress = ((p.SecurityGroupIngress ?? []) as Record<string, unknown>[]).map((r, i) =>
      rule({ ...at, path: `SecurityGroupIngress[${i}]` }, r),
    );
    // A group without egress rules allows all outbound traffic (CloudFormation's default).
    const egress =
      p.SecurityGroupEgress === undefined
        ? [{ protocol: '-1', fromPort: 0, toPort: 65535, cidr: '0.0.0.0/0' }]
        : (p.SecurityGroupEgress as Record<string, unknown>[]).map((r, i) => rule({ ...at, path: `SecurityGroupEgress[${i}]` }, r));
    securityGroups.set(resolver.string(at, { 'Fn::GetAtt': [ref.logicalId, 'GroupId'] }), {
      vpcId: resolver.string({ ...at, path: 'VpcId' }, p.VpcId),
      ingress,
      egress,
    });
  }
  for (const [type, list] of [
    ['AWS::EC2::SecurityGroupIngress', 'ingress'],
    ['AWS::EC2::SecurityGroupEgress', 'egress'],
  ] as const) {
    for (const ref of included(assembly, resolver, type)) {
      const at = where(ref);
      const groupId = resolver.string({ ...at, path: 'GroupId' }, props(ref).GroupId);
      const group = securityGroups.get(groupId);
      if (group === undefined) throw new TemplateError({ ...at, path: 'GroupId' }, `security group ${groupId} is not in the assembly`);
      group[list].push(rule(at, props(ref)));
    }
  }
  return { subnets, internetRoutes, endpoints, securityGroups };
}

function* included(assembly: CloudAssembly, resolver: IntrinsicResolver, type: string): Generator<ResourceRef> {
  for (const ref of assembly.resources(type)) if (resolver.included(ref)) yield ref;
}

function props(ref: Pick<ResourceRef, 'resource'>): Record<string, unknown> {
  return ref.resource.Properties ?? {};
}

function where(ref: Pick<ResourceRef, 'stack' | 'logicalId'>, path = ''): Where {
  return { stack: ref.stack, logicalId: ref.logicalId, path };
}

/** API Gateway's static mapping values are single-quoted: 'value'. */
function unquote(at: Where, value: string): string {
  const match = /^'(.*)'$/s.exec(value);
  if (match?.[1] === undefined) throw new TemplateError(at, `only static ('quoted') values are supported, got ${value}`);
  return match[1];
}

/** A property this mode does not know would change behaviour silently: refuse it. */
function supportedOnly(ref: ResourceRef, p: Record<string, unknown>, known: readonly string[]): void {
  for (const name of Object.keys(p)) {
    if (!known.includes(name))
      throw new TemplateError(where(ref, name), `property ${name} of ${ref.resource.Type} is not supported by the as-deployed mode`);
  }
}
