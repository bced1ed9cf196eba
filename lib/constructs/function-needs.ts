/**
 * Turns an entry of functions/routes.ts into a ShopFunction: where it runs (in the VPC only if it
 * talks to the cache) and what it may do (exactly its `needs`). Stacks call `createRouteFunction`
 * in a loop over the route table; no route is named here.
 */
import { Annotations, Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { IDistribution } from 'aws-cdk-lib/aws-cloudfront';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import type { IManagedPolicy } from 'aws-cdk-lib/aws-iam';
import type { ApplicationLogLevel } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { FunctionNeeds } from '../../functions/routes';
import { TABLES, type TableKey } from '../../functions/shared/tables';
import type { RedisSource } from '../stacks/cache-stack';
import { ShopFunction } from './shop-function';

/** The network a function may be placed in. */
export interface FunctionNetwork {
  readonly vpc: IVpc;
  /** Subnets without any route out of the VPC (endpoints only). */
  readonly isolatedSubnets: SubnetSelection;
  /** Subnets routed through a NAT gateway; only when NAT is switched on. */
  readonly egressSubnets?: SubnetSelection;
  /** Carried by every function that talks to the cache; the cache admits only this group. */
  readonly cacheClientSecurityGroup: ISecurityGroup;
  /** What Lambda needs to attach a function to this VPC (its network interfaces), and no more. */
  readonly networkInterfacePolicy: IManagedPolicy;
}

/** Everything a `needs` entry can ask for. Absent entries make a function that needs them fail the synth. */
export interface FunctionResources {
  readonly network: FunctionNetwork;
  readonly tables: Readonly<Record<TableKey, ITable>>;
  readonly redis?: RedisSource;
  /** The WebSocket management endpoint and the policy that allows posting to its connections. */
  readonly connections?: { readonly endpoint: string; readonly policy: IManagedPolicy };
  readonly distribution?: IDistribution;
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
  readonly logLevel?: ApplicationLogLevel;
}

export interface RouteFunctionSpec {
  /** Stable name from the route table; the construct id. */
  readonly name: string;
  readonly entry: string;
  readonly needs: FunctionNeeds;
  readonly description?: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly environment?: Record<string, string>;
  /** See ShopFunctionProps.otherResourceWildcards. */
  readonly otherResourceWildcards?: string;
  /** Concurrency reserved for this function (and its cap). @default - none: the account's unreserved pool */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * Memory and timeout per kind of function. 512 MB buys the CPU share that keeps p99 low for the
 * request path (JSON, compression, TLS to the cache); API Gateway gives up after 29 s, so a request
 * handler that has not answered in 10 s has failed anyway. The authorizer only verifies a JWT
 * against a cached JWKS. Stream consumers get a minute for a batch of up to 100 records.
 */
export const FUNCTION_SIZES = {
  request: { memorySize: 512, timeout: Duration.seconds(10) },
  authorizer: { memorySize: 256, timeout: Duration.seconds(5) },
  webSocket: { memorySize: 256, timeout: Duration.seconds(10) },
  streamConsumer: { memorySize: 512, timeout: Duration.seconds(60) },
} as const;

/** AWS APIs a function may need that have no VPC endpoint: reaching them from the VPC takes a NAT gateway. */
export function needsInternetEgress(needs: FunctionNeeds): boolean {
  return needs.cdnInvalidation === true || needs.manageConnections === true;
}

export function createRouteFunction(scope: Construct, spec: RouteFunctionSpec, resources: FunctionResources): ShopFunction {
  const { network } = resources;
  const inVpc = spec.needs.redis;
  const egress = inVpc && needsInternetEgress(spec.needs);
  const fn = new ShopFunction(scope, spec.name, {
    entry: spec.entry,
    description: spec.description?.slice(0, 256),
    memorySize: spec.memorySize,
    timeout: spec.timeout,
    logRetention: resources.logRetention,
    logRemovalPolicy: resources.logRemovalPolicy,
    logLevel: resources.logLevel,
    environment: spec.environment,
    otherResourceWildcards: spec.otherResourceWildcards,
    reservedConcurrentExecutions: spec.reservedConcurrentExecutions,
    ...(inVpc
      ? {
          vpc: network.vpc,
          vpcSubnets: egress && network.egressSubnets !== undefined ? network.egressSubnets : network.isolatedSubnets,
          securityGroups: [network.cacheClientSecurityGroup],
          networkInterfacePolicy: network.networkInterfacePolicy,
        }
      : {}),
  });
  if (egress && network.egressSubnets === undefined) {
    Annotations.of(fn).addWarningV2(
      'shop-edge:vpc-function-without-egress',
      `${spec.name} needs the cache (so it runs in the VPC) and an AWS API without a VPC endpoint ` +
        `(${[spec.needs.cdnInvalidation ? 'CloudFront' : '', spec.needs.manageConnections ? 'the WebSocket management API' : ''].filter(Boolean).join(', ')}), ` +
        'but the VPC has no NAT gateway: those calls will time out. Split the function in the route table ' +
        '(one part in the VPC for the cache, one outside for the API) or deploy with -c natGateways=1.',
    );
  }

  if (spec.needs.tables.length > 0) {
    // tablesConfig (functions/shared/config.ts) validates both names as one section, so a function
    // that touches any table gets every table's name; permissions stay per `needs`.
    for (const key of Object.keys(TABLES) as TableKey[]) {
      fn.addEnvironment(TABLES[key].tableNameEnv, resources.tables[key].tableName);
    }
  }
  for (const { table, access } of spec.needs.tables) {
    fn.bindTable(TABLES[table], resources.tables[table], access);
  }
  if (spec.needs.redis) {
    fn.bindRedis(provided(resources.redis, spec.name, 'the cache').bindingFor(fn));
  }
  if (spec.needs.manageConnections === true) {
    const connections = provided(resources.connections, spec.name, 'the WebSocket management API');
    fn.allowManageConnections(connections.endpoint, connections.policy);
  }
  if (spec.needs.cdnInvalidation === true) {
    fn.allowCdnInvalidation(provided(resources.distribution, spec.name, 'the CloudFront distribution'));
  }
  return fn;
}

function provided<T>(value: T | undefined, name: string, what: string): T {
  if (value === undefined) throw new Error(`${name} needs ${what}, which this stack was not given`);
  return value;
}
