/**
 * ShopFunction: an opinionated NodejsFunction with the project's defaults (Node.js 24 on arm64,
 * local esbuild bundling with minification and source maps, X-Ray, an explicit log group, the
 * Powertools environment) and a role that starts with nothing but write access to its own log
 * group. Every further permission comes from a `bind*`/`allow*` call, so a function can do exactly
 * what its `needs` in functions/routes.ts say.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { IDistribution } from 'aws-cdk-lib/aws-cloudfront';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { ApplicationLogLevel, Architecture, LoggingFormat, Runtime, SystemLogLevel, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { TableDefinition } from '../../functions/shared/tables';
import { acknowledge } from '../nag';
import { REPO_ROOT, entryPath } from '../paths';

/** CloudWatch metric namespace of the Powertools (EMF) metrics; the dashboard reads it. */
export const METRICS_NAMESPACE = 'ShopEdge';

/** Newest Node.js runtime of the installed aws-cdk-lib; esbuild targets the same version. */
export const FUNCTION_RUNTIME = Runtime.NODEJS_24_X;

export type TableAccessLevel = 'read' | 'write';

/** Item reads; Scan is deliberately absent (every access pattern is a key or GSI lookup). */
const TABLE_READ_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
];
/** Item writes; TransactWriteItems is authorised through these per-item actions. */
const TABLE_WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];

/** Where and how to reach the cache. */
export interface RedisBinding {
  /** rediss://host:port of the cluster configuration endpoint. */
  readonly url: string;
  /** The cluster runs in cluster mode. */
  readonly cluster: boolean;
  /** Secret whose SecretString is the AUTH token. */
  readonly authSecret: ISecret;
  /** The security group the cache admits; the function must carry it. */
  readonly clientSecurityGroup: ISecurityGroup;
}

export interface ShopFunctionProps {
  /** Handler module relative to the repository root (as in functions/routes.ts); it exports `handler`. */
  readonly entry: string;
  /**
   * Powertools service name (the `service` dimension of metrics and the `service` key of logs).
   * @default - the construct id in kebab case
   */
  readonly serviceName?: string;
  /** @default - none */
  readonly description?: string;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** @default RemovalPolicy.DESTROY */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** @default ApplicationLogLevel.INFO */
  readonly logLevel?: ApplicationLogLevel;
  /** Run in this VPC (only functions that talk to the cache do). @default - outside any VPC */
  readonly vpc?: IVpc;
  /** @default - the VPC's isolated subnets */
  readonly vpcSubnets?: SubnetSelection;
  /** @default - none; required with `vpc` */
  readonly securityGroups?: ISecurityGroup[];
  /**
   * The network-interface permissions Lambda needs to attach the function to `vpc` (see
   * NetworkStack.networkInterfacePolicy); required with `vpc`.
   * @default - none
   */
  readonly networkInterfacePolicy?: iam.IManagedPolicy;
  /** @default - none reserved */
  readonly reservedConcurrentExecutions?: number;
  /** Extra environment variables. @default - none */
  readonly environment?: Record<string, string>;
  /**
   * Why further statements on `Resource: *` are needed (beyond X-Ray's), for the cdk-nag
   * acknowledgement of the role; e.g. dynamodb:ListStreams for a stream event source.
   * @default - only the X-Ray statement uses `Resource: *`
   */
  readonly otherResourceWildcards?: string;
}

export class ShopFunction extends NodejsFunction {
  /** The execution role: logs to its own log group, plus whatever the bind calls add. */
  public readonly executionRole: iam.Role;
  public readonly serviceName: string;
  private readonly tableGrants = new Set<string>();

  constructor(scope: Construct, id: string, props: ShopFunctionProps) {
    if (props.vpc !== undefined && (props.securityGroups === undefined || props.securityGroups.length === 0)) {
      throw new Error(`${id}: a function in a VPC needs explicit security groups`);
    }
    if (props.vpc !== undefined && props.networkInterfacePolicy === undefined) {
      throw new Error(`${id}: a function in a VPC needs the policy that lets Lambda manage its network interfaces`);
    }
    const serviceName = props.serviceName ?? kebabCase(id);
    const logLevel = props.logLevel ?? ApplicationLogLevel.INFO;
    // The role and the log group are created beside the function (before super) so the role can
    // be scoped to the log group and carry no AWS managed basic-execution policy.
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${id}`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
    );
    // Not AWSLambdaVPCAccessExecutionRole: it adds logs actions on every log group and ENI actions
    // on every VPC; the network's own policy names this account, region and VPC.
    if (props.networkInterfacePolicy !== undefined) role.addManagedPolicy(props.networkInterfacePolicy);
    acknowledge(role, {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Active X-Ray tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions' +
        (props.otherResourceWildcards !== undefined ? `; ${props.otherResourceWildcards}` : '') +
        '; every other statement of this role names its resources.',
    });

    super(scope, id, {
      entry: entryPath(props.entry),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: entryPath('package-lock.json'),
      runtime: FUNCTION_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      timeout: props.timeout ?? Duration.seconds(10),
      description: props.description,
      role,
      logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: logLevel,
      systemLogLevelV2: SystemLogLevel.INFO,
      tracing: Tracing.ACTIVE,
      vpc: props.vpc,
      vpcSubnets: props.vpc !== undefined ? props.vpcSubnets : undefined,
      securityGroups: props.securityGroups,
      allowPublicSubnet: false,
      environment: {
        POWERTOOLS_SERVICE_NAME: serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: logLevel,
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        // Local esbuild from node_modules; never Docker.
        forceDockerBundling: false,
        format: OutputFormat.CJS,
        target: `node${FUNCTION_RUNTIME.name.replace(/^nodejs(\d+)\.x$/, '$1')}`,
        minify: true,
        // A separate index.js.map, linked from the bundle so --enable-source-maps finds it.
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        // The AWS SDK v3 ships with the runtime.
        externalModules: ['@aws-sdk/*'],
      },
    });
    this.executionRole = role;
    this.serviceName = serviceName;
  }

  /**
   * Grants item access to a table (and, for reads, to its GSIs by name: no wildcard) and sets the
   * environment variable the functions read the table name from.
   */
  public bindTable(definition: TableDefinition, table: ITable, access: TableAccessLevel): this {
    const key = `${definition.logicalName}:${access}`;
    if (this.tableGrants.has(key)) return this;
    this.tableGrants.add(key);
    this.addEnvironment(definition.tableNameEnv, table.tableName);
    const indexArns = definition.globalSecondaryIndexes.map((i) => `${table.tableArn}/index/${i.indexName}`);
    this.addToRolePolicy(new iam.PolicyStatement({ actions: TABLE_READ_ACTIONS, resources: [table.tableArn, ...indexArns] }));
    if (access === 'write') {
      this.addToRolePolicy(new iam.PolicyStatement({ actions: TABLE_WRITE_ACTIONS, resources: [table.tableArn] }));
    }
    return this;
  }

  /** Sets the Redis connection variables and lets the function read the AUTH token. */
  public bindRedis(redis: RedisBinding): this {
    if (!this.isBoundToVpc || !this.connections.securityGroups.includes(redis.clientSecurityGroup)) {
      throw new Error(`${this.node.id}: a function that talks to the cache must run in the VPC with the cache client security group`);
    }
    this.addEnvironment('REDIS_URL', redis.url);
    this.addEnvironment('REDIS_CLUSTER', String(redis.cluster));
    this.addEnvironment('REDIS_AUTH_SECRET_ARN', redis.authSecret.secretArn);
    redis.authSecret.grantRead(this);
    return this;
  }

  /** Lets the function post to WebSocket connections through the stage's management API. */
  public allowManageConnections(managementEndpoint: string, policy: iam.IManagedPolicy): this {
    this.addEnvironment('WS_MANAGEMENT_ENDPOINT', managementEndpoint);
    this.executionRole.addManagedPolicy(policy);
    return this;
  }

  /**
   * Lets the function create invalidations on one distribution and read their status (the purger
   * skips a purge an invalidation still in progress already covers: functions/cdn/cdn-purger.ts).
   */
  public allowCdnInvalidation(distribution: IDistribution): this {
    this.addEnvironment('CDN_DISTRIBUTION_ID', distribution.distributionId);
    distribution.grantCreateInvalidation(this);
    distribution.grant(this, 'cloudfront:GetInvalidation');
    return this;
  }
}

export function kebabCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .toLowerCase();
}
