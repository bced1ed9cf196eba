/**
 * The shop-edge app: the stacks of one environment, wired through typed props, with the cdk-nag
 * AwsSolutions checks registered as a validation plugin (synthesis fails on an unacknowledged
 * error). bin/shop-edge.ts and the infrastructure tests both build the app through here.
 *
 *   Network ─┬─ Cache ─┐
 *   Data ────┼─────────┼─ Api ── Realtime ─┐
 *            │         │    └──── Cdn ─────┼─ Streams ── Monitoring
 */
import { App, type AppProps, RemovalPolicy, type StackProps, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { REST_ROUTES, STREAM_CONSUMERS, WEBSOCKET_ROUTES } from '../functions/routes';
import { loadConfig, type ShopEdgeConfig } from './config';
import type { FunctionResources } from './constructs/function-needs';
import { PublicClientLimit } from './constructs/public-client-limit';
import { kebabCase } from './constructs/shop-function';
import { ApiStack } from './stacks/api-stack';
import { CacheStack } from './stacks/cache-stack';
import { CdnStack } from './stacks/cdn-stack';
import { DataStack } from './stacks/data-stack';
import { MonitoringStack } from './stacks/monitoring-stack';
import { NetworkStack } from './stacks/network-stack';
import { RealtimeStack } from './stacks/realtime-stack';
import { StreamsStack } from './stacks/streams-stack';

export interface ShopEdgeStacks {
  readonly network: NetworkStack;
  readonly data: DataStack;
  readonly cache: CacheStack;
  readonly api: ApiStack;
  readonly realtime: RealtimeStack;
  readonly cdn: CdnStack;
  readonly streams: StreamsStack;
  readonly monitoring: MonitoringStack;
}

export function buildShopEdge(app: App, config: ShopEdgeConfig): ShopEdgeStacks {
  const id = (concern: string) => `${config.stackPrefix}-${concern}`;
  const common = (description: string): StackProps => ({
    env: config.deployEnv,
    description: `shop-edge ${config.envName}: ${description}`,
    terminationProtection: config.retainData,
  });
  const removalPolicy = config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

  const network = new NetworkStack(app, id('Network'), {
    ...common('VPC, endpoints, cache security groups'),
    maxAzs: config.network.maxAzs,
    natGateways: config.network.natGateways,
    cachePort: config.cache.port,
    logRetention: config.logRetention,
    removalPolicy,
  });
  const legacyExports = config.legacyExports;
  const data = new DataStack(app, id('Data'), { ...common('DynamoDB tables'), retainData: config.retainData, legacyExports });
  const cache = new CacheStack(app, id('Cache'), {
    ...common('Valkey cluster'),
    vpc: network.vpc,
    subnets: network.isolatedSubnets,
    securityGroup: network.cacheSecurityGroup,
    clientSecurityGroup: network.cacheClientSecurityGroup,
    settings: config.cache,
    retainData: config.retainData,
    logRetention: config.logRetention,
    legacyExports,
  });

  const resources: FunctionResources = {
    network: network.functionNetwork,
    tables: data.tables,
    redis: cache,
    logRetention: config.logRetention,
    logRemovalPolicy: removalPolicy,
  };
  const api = new ApiStack(app, id('Api'), {
    ...common('REST API and its functions'),
    resources,
    stageName: config.envName,
    throttle: config.api,
    jwt: config.jwt,
    legacyExports,
    corsOrigins: config.corsOrigins,
    cdnOnly: config.cdnOnly,
    previousOriginSecretVersion: config.previousOriginSecretVersion,
  });
  const realtime = new RealtimeStack(app, id('Realtime'), {
    ...common('WebSocket API and its functions'),
    resources,
    stageName: config.envName,
    throttle: config.realtime,
    jwt: config.jwt,
    maxConnectionsPerTenant: config.wsMaxConnectionsPerTenant,
  });
  // The WebSocket stage's execution logs need the account's API Gateway CloudWatch role (API stack).
  realtime.addStackDependency(api, 'API Gateway account CloudWatch role');
  const cdn = new CdnStack(app, id('Cdn'), {
    ...common('CloudFront distribution and assets'),
    restApi: api.origin,
    corsOrigins: config.corsOrigins,
    clientAddress: {
      viewerAddressHeader: PublicClientLimit.VIEWER_ADDRESS_HEADER,
      originHeader: { name: PublicClientLimit.ORIGIN_HEADER, value: api.publicClientLimit.originHeaderValue },
    },
    // The live dashboard page, deployed under /assets/ with the WebSocket URL in its config.json.
    page: { webSocketUrl: realtime.stage.url },
    webAclArn: config.webAclArn,
    customDomain: config.customDomain,
    accessLogDays: config.logRetention,
  });
  const streams = new StreamsStack(app, id('Streams'), {
    ...common('table stream consumers'),
    resources: {
      ...resources,
      connections: { endpoint: realtime.stage.callbackUrl, policy: realtime.manageConnectionsPolicy },
      distribution: cdn.distribution,
    },
    streamArns: data.streamArns,
    reservedConcurrency: config.streamConsumerConcurrency,
  });

  const cacheServices = [...REST_ROUTES, ...WEBSOCKET_ROUTES, ...STREAM_CONSUMERS]
    .filter((r) => r.needs.redis)
    .map((r) => kebabCase(r.name));
  const monitoring = new MonitoringStack(app, id('Monitoring'), {
    ...common('dashboard and alarms'),
    restApi: api.api,
    webSocketStage: realtime.stage,
    distribution: cdn.distribution,
    functionGroups: [
      { title: 'REST', functions: [api.authorizerFunction, ...api.routeFunctions.values()] },
      { title: 'WebSocket', functions: [realtime.authorizerFunction, ...realtime.routeFunctions.values()] },
      { title: 'Streams', functions: [...streams.consumers.values()].map((c) => c.fn) },
    ],
    cacheServices,
    cache: { replicationGroupId: cache.replicationGroupId, shape: config.cache },
    tables: Object.values(data.tables),
    streamConsumers: [...streams.consumers.values()],
    alarmEmail: config.alarmEmail,
  });

  Tags.of(app).add('project', 'shop-edge');
  Tags.of(app).add('environment', config.envName);
  return { network, data, cache, api, realtime, cdn, streams, monitoring };
}

export interface ShopEdgeApp {
  readonly app: App;
  readonly config: ShopEdgeConfig;
  readonly stacks: ShopEdgeStacks;
}

/** The app with the environment chosen by its context (`-c env=...`) and the cdk-nag checks. */
export function createShopEdgeApp(props?: AppProps): ShopEdgeApp {
  const app = new App(props);
  const config = loadConfig(app.node);
  const stacks = buildShopEdge(app, config);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, config, stacks };
}
