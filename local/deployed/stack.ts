/**
 * `npm start -- --as-deployed`: the local stack taken from the synthesized cloud assembly instead
 * of the route table. Every function runs its bundle in containers of its own with exactly its
 * template environment and its execution role's credentials; DynamoDB, Secrets Manager,
 * CloudFront and the @connections API check every call against that role's policies; each
 * function reaches only what its network reaches (VPC, security groups, endpoints); the cache is
 * the template's (cluster mode, TLS, AUTH); the REST and WebSocket fronts and the stream event
 * source mappings are configured from their CloudFormation resources.
 */
import { CreateTableCommand, DescribeTableCommand, UpdateTimeToLiveCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createHash, randomBytes } from 'node:crypto';
import { Agent } from 'node:https';
import { streamArn as policyStreamArn, startDynamoDbProxy, type DynamoDbCallRecord } from '../aws/dynamodb-proxy';
import { IamAuthority } from '../aws/iam';
import { awsManagedPolicy } from '../aws/managed-policies';
import { startSecretsManager, type LocalSecretsManager } from '../aws/secrets-manager';
import { startCloudFront, type LocalCloudFront } from '../aws/cloudfront';
import { connectionsAuthorizer } from '../aws/connections-iam';
import { DEFAULT_HOST, DEFAULT_REGION, LOCAL_ACCOUNT_ID } from '../dev-defaults';
import type { LocalFunction } from '../functions';
import { LambdaTimeoutError } from '../lambda-context';
import { describeError, silentLogger, type Logger } from '../log';
import { startRestFront } from '../rest-front';
import { createFunctionPool, type FunctionPool } from '../runtime/function-pool';
import { DEMO_TENANTS, seedDemoData, type SeedSummary } from '../seed';
import { LOCAL_DYNAMODB_TIMEOUT_MS, localDynamoDbClient, startDynamoDbLocal } from '../services/dynamodb-local';
import { freePort } from '../services/free-port';
import { StreamPoller } from '../stream-poller';
import type { DevTokenOptions } from '../tokens';
import { startWebSocketFront, type WebSocketFront } from '../ws-front';
import type { ManagementThrottle } from '../connections-endpoint';
import { restApiFromDeployment, webSocketApiFromDeployment, type FunctionResolver } from './apis';
import { readCloudAssembly } from './assembly';
import { startLocalCache, type LocalCache } from './cache';
import { createLocalCertificates } from './certificates';
import { startLocalIdentityProvider, type LocalIdentityProvider } from './identity-provider';
import { IntrinsicResolver, TemplateError, type Where } from './intrinsics';
import {
  checkResourceTypes,
  readDeployment,
  ssmParameterValue,
  readSecrets,
  readTables,
  type DeployedFunction,
  type DeployedSecret,
  type DeployedTable,
  type Deployment,
} from './model';
import { functionNetwork, type LocalEndpoint, type Route } from './network';
import { LocalPhysicalValues } from './physical';
import { synthesizeApp } from './synth';
import { openApiDocument } from '../../openapi/document';
import { createWebHandler } from '../../web/dev-server';

export interface DeployedStackOptions {
  /** REST port; 0 picks a free one. @default 3000 */
  readonly port?: number;
  /** WebSocket port; 0 picks a free one. @default 3001 */
  readonly wsPort?: number;
  /** @default 127.0.0.1 */
  readonly host?: string;
  /** A cloud assembly to run as it is (no synth). @default the dev app, synthesized (or reused) */
  readonly assemblyDir?: string;
  /** @default dev */
  readonly envName?: string;
  /** Use this DynamoDB Local instead of starting one. */
  readonly dynamoDbEndpoint?: string;
  /**
   * Mixed into the generated physical names (tables, functions, APIs, ...), so that several local
   * deployments can share one DynamoDB Local (tests). @default '' (the same names at every start)
   */
  readonly nameSalt?: string;
  /** DynamoDB Local keeps its data here. @default in memory */
  readonly persistDir?: string;
  /** Create the demo data. @default true */
  readonly seed?: boolean;
  /** Run the stream event source mappings. @default true */
  readonly streams?: boolean;
  /**
   * Containers per function at most, for a function without reserved concurrency; invocations
   * beyond wait for a free container (Lambda would scale on). A function's reserved concurrency is
   * its limit, and beyond it invocations are throttled, as in AWS. @default 10
   */
  readonly maxContainers?: number;
  /**
   * Give each function EMULATOR_TIMEOUTS where its template sets none of its own (the one
   * deliberate difference from the template's environment). false: the code's defaults, sized
   * for AWS. @default true
   */
  readonly emulatorTimeouts?: boolean;
  /** @default 200 ms */
  readonly pollIntervalMs?: number;
  /** The account throttle of @connections (see WebSocketFrontOptions). @default the environment's */
  readonly managementThrottle?: ManagementThrottle;
  readonly logRequests?: boolean;
  /** Serve the live page (/), /openapi.json and /dev/tokens on the REST front. @default true */
  readonly web?: boolean;
  /** A logger per part ('synth', 'dynamodb', 'cache', 'rest', 'ws', 'streams', 'functions', 'seed'). @default silent */
  readonly logger?: (part: string) => Logger;
}

export interface DeployedStack {
  readonly mode: 'as-deployed';
  readonly restUrl: string;
  readonly wsUrl: string;
  readonly restPort: number;
  readonly wsPort: number;
  readonly dynamoDbEndpoint: string;
  readonly assemblyDir: string;
  readonly deployment: Deployment;
  /** Physical table names, by the environment variable the functions read them from. */
  readonly tableNames: { readonly shop: string; readonly connections: string };
  readonly caches: readonly LocalCache[];
  readonly pollers: readonly StreamPoller[];
  readonly cloudFront: LocalCloudFront;
  readonly secretsManager: LocalSecretsManager;
  readonly identityProvider: LocalIdentityProvider | undefined;
  /** Every DynamoDB call any function (or event source mapping) made, newest last (bounded). */
  dynamoDbCalls(): readonly DynamoDbCallRecord[];
  /** @connections calls the account throttle answered 429 so far. */
  managementThrottled(): number;
  /** Function containers by deployed function name. */
  readonly pools: ReadonlyMap<string, FunctionPool>;
  /** A token the deployment's authorizer accepts. */
  mintToken(options: Omit<DevTokenOptions, 'secret' | 'issuer' | 'audience' | 'signingKey'>): Promise<string>;
  readonly tokens: Readonly<Record<string, string>>;
  readonly seed: SeedSummary | undefined;
  readonly seedError: string | undefined;
  /** How long each step of the start took, ms. */
  readonly startup: Readonly<Record<string, number>>;
  stop(): Promise<void>;
}

const MAX_CALLS_KEPT = 20_000;

/**
 * Client timeouts sized for AWS (DynamoDB 1 s, connect 500 ms; the cache 50 ms) meet emulators
 * here that share one machine with every container's process (DynamoDB Local, redis-server): on
 * a loaded machine they answer in seconds where AWS answers in milliseconds, and the timeouts
 * would report outages AWS would not have (seeding 503s, invalidations left to the stream). A
 * function whose template sets one of these keeps its own value.
 */
export const EMULATOR_TIMEOUTS: Readonly<Record<string, string>> = {
  DYNAMODB_TIMEOUT_MS: String(LOCAL_DYNAMODB_TIMEOUT_MS),
  DYNAMODB_CONNECT_TIMEOUT_MS: String(LOCAL_DYNAMODB_TIMEOUT_MS),
  REDIS_COMMAND_TIMEOUT_MS: '1000',
};

export async function startDeployedStack(options: DeployedStackOptions = {}): Promise<DeployedStack> {
  const log = options.logger ?? (() => silentLogger);
  const host = options.host ?? DEFAULT_HOST;
  const region = DEFAULT_REGION;
  const accountId = LOCAL_ACCOUNT_ID;
  const stops: (() => Promise<void>)[] = [];
  const startup: Record<string, number> = {};
  let last = Date.now();
  const step = (name: string) => {
    const now = Date.now();
    startup[name] = now - last;
    last = now;
  };
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (error) {
        log('stack').warn(`while stopping: ${describeError(error)}`);
      }
    }
    stops.length = 0;
  };

  try {
    // The cloud assembly.
    let assemblyDir = options.assemblyDir;
    if (assemblyDir === undefined) {
      const synth = await synthesizeApp({ envName: options.envName ?? 'dev' });
      assemblyDir = synth.directory;
      log('synth').info(
        synth.synthesized
          ? `synthesized the ${options.envName ?? 'dev'} app in ${synth.durationMs} ms`
          : `cloud assembly unchanged: ${assemblyDir}`,
      );
    }
    step('synth');
    const assembly = readCloudAssembly(assemblyDir);
    const physical = new LocalPhysicalValues({ region, accountId, ...(options.nameSalt !== undefined ? { salt: options.nameSalt } : {}) });
    const secretValues = new Map<string, string>();
    const resolver: IntrinsicResolver = new IntrinsicResolver(
      assembly,
      physical,
      { region, accountId },
      (service, reference, where) => dynamicReference(service, reference, where, secretValues),
      (name, where) => ssmParameterValue(assembly, resolver, name, where),
    );
    checkResourceTypes(assembly, resolver);

    // DynamoDB and the tables.
    let dynamoDbEndpoint = options.dynamoDbEndpoint;
    if (dynamoDbEndpoint === undefined) {
      const dynamo = await startDynamoDbLocal(options.persistDir !== undefined ? { dbPath: options.persistDir } : {});
      stops.push(() => dynamo.stop());
      dynamoDbEndpoint = dynamo.endpoint;
    }
    const db = localDynamoDbClient(dynamoDbEndpoint);
    stops.push(() => {
      db.destroy();
      return Promise.resolve();
    });
    const tables = readTables(assembly, resolver, physical);
    const localStreamArns = new Map<string, string>();
    const created = new Set<string>();
    for (const table of tables) {
      const { arn, fresh } = await createTable(db, table);
      if (fresh) created.add(table.name);
      if (arn !== undefined) {
        localStreamArns.set(table.name, arn);
        physical.record(table, 'StreamArn', policyStreamArn({ region, accountId }, arn) ?? arn);
      }
    }
    log('dynamodb').info(`DynamoDB Local on ${dynamoDbEndpoint}; tables ${tables.map((t) => t.name).join(', ')}`);
    step('dynamodb');

    // Secrets, then everything that resolves through them.
    const secrets = readSecrets(assembly, resolver, physical);
    for (const secret of secrets) secretValues.set(secret.arn, secretValue(secret));
    const deployment = readDeployment(assembly, resolver, tables, secrets);

    // TLS for every public name the functions call.
    const jwksUrls = new Set(
      [...deployment.functions.values()].flatMap((f) => (f.environment.JWT_JWKS_URL ? [f.environment.JWT_JWKS_URL] : [])),
    );
    const cacheDomains = deployment.caches.map((c) => c.endpoint.host.split('.').slice(1).join('.'));
    const certificates = await createLocalCertificates([
      `*.${region}.amazonaws.com`,
      `*.execute-api.${region}.amazonaws.com`,
      'cloudfront.amazonaws.com',
      ...cacheDomains.map((d) => `*.${d}`),
      ...[...jwksUrls].map((u) => new URL(u).hostname),
      'localhost',
    ]);
    stops.push(() => certificates.remove());
    const tls = { cert: certificates.cert, key: certificates.key };

    // The cache.
    const caches: LocalCache[] = [];
    for (const cache of deployment.caches) {
      const where: Where = { stack: cache.stack, logicalId: cache.logicalId, path: 'AuthToken' };
      const password = cache.authToken === undefined ? undefined : resolver.string(where, cache.authToken);
      const local = await startLocalCache(cache, { ...(password !== undefined ? { password } : {}), certificates });
      stops.push(() => local.stop());
      caches.push(local);
      log('cache').info(
        `${cache.engine} ${cache.clusterMode ? 'cluster' : 'primary'}: ${cache.shards} shard(s) × ${1 + cache.replicasPerShard} node(s)` +
          `${cache.transitEncryption ? ', TLS' : ''}${password !== undefined ? ', AUTH' : ''} at ${cache.endpoint.host}:${cache.endpoint.port}`,
      );
    }
    step('cache');

    // IAM: one principal per function (its execution role), and the endpoints that check it.
    const authority = new IamAuthority();
    const credentials = new Map<string, { accessKeyId: string; secretAccessKey: string; sessionToken: string }>();
    for (const fn of deployment.functions.values()) {
      const keys = {
        accessKeyId: `ASIA${createHash('sha256').update(fn.name).digest('hex').slice(0, 16).toUpperCase()}`,
        secretAccessKey: randomBytes(30).toString('base64'),
        sessionToken: randomBytes(48).toString('base64'),
      };
      credentials.set(fn.name, keys);
      authority.register({
        ...keys,
        roleArn: fn.role.arn,
        sessionName: fn.name,
        policies: [...fn.role.policies, ...fn.role.awsManagedPolicyArns.map((arn) => awsManagedPolicy(arn))],
      });
    }
    await authority.warmUp();
    const calls: DynamoDbCallRecord[] = [];
    const proxy = await startDynamoDbProxy({
      upstream: dynamoDbEndpoint,
      authority,
      region,
      accountId,
      tls,
      recorder: (record) => {
        calls.push(record);
        if (calls.length > MAX_CALLS_KEPT) calls.splice(0, calls.length - MAX_CALLS_KEPT);
      },
      logger: log('dynamodb'),
    });
    stops.push(() => proxy.close());
    const secretsManager = await startSecretsManager({
      authority,
      region,
      accountId,
      tls,
      secrets: secrets.map((s) => ({ name: s.name, arn: s.arn, value: secretValues.get(s.arn) ?? '' })),
      logger: log('secrets'),
    });
    stops.push(() => secretsManager.close());
    const cloudFront = await startCloudFront({
      authority,
      accountId,
      tls,
      distributions: deployment.distributions.map((d) => d.id),
      logger: log('cdn'),
    });
    stops.push(() => cloudFront.close());
    const identityProviders: LocalIdentityProvider[] = [];
    for (const url of jwksUrls) {
      const owner = [...deployment.functions.values()].find((f) => f.environment.JWT_JWKS_URL === url);
      const provider = await startLocalIdentityProvider({
        jwksUrl: url,
        issuer: owner?.environment.JWT_ISSUER ?? '',
        audience: owner?.environment.JWT_AUDIENCE ?? '',
        certificates,
      });
      stops.push(() => provider.stop());
      identityProviders.push(provider);
    }
    step('endpoints');

    // Functions: a pool each, created once the fronts' ports are known (the network routes to them).
    const pools = new Map<string, FunctionPool>();
    const functions = new Map<string, { fn: LocalFunction; deployed: DeployedFunction }>();
    for (const deployed of deployment.functions.values()) {
      const local: LocalFunction = {
        name: deployed.logicalId,
        timeoutMs: deployed.timeoutMs,
        invoke: async (event) => {
          const pool = pools.get(deployed.name);
          if (pool === undefined) throw new Error(`${deployed.name}: not started`);
          const result = await pool.invoke(event);
          if (result.ok) return result.payload;
          if (result.kind === 'timeout') throw new LambdaTimeoutError(deployed.name, deployed.timeoutMs);
          const error = new Error(result.errorMessage);
          error.name = result.errorType;
          throw error;
        },
      };
      functions.set(deployed.arn, { fn: local, deployed });
      functions.set(deployed.name, { fn: local, deployed });
    }
    const functionFor: FunctionResolver = (arnOrName) => {
      const found = functions.get(arnOrName);
      if (found === undefined) throw new Error(`no deployed function ${arnOrName}`);
      return found;
    };

    // The fronts.
    const restApi = deployment.restApis[0];
    const webSocketApi = deployment.webSocketApis[0];
    if (restApi === undefined || webSocketApi === undefined) throw new Error('the assembly has no REST or no WebSocket API');
    const wsPort = options.wsPort === 0 ? await freePort() : (options.wsPort ?? 3001);
    const ws: WebSocketFront = await startWebSocketFront({
      api: webSocketApiFromDeployment(webSocketApi, functionFor),
      host,
      port: wsPort,
      logger: log('ws'),
      logRequests: options.logRequests ?? false,
      ...(options.managementThrottle !== undefined ? { managementThrottle: options.managementThrottle } : {}),
      management: { tls, authorize: connectionsAuthorizer({ authority, region, accountId, apiId: webSocketApi.id }) },
    });
    stops.push(() => ws.close());

    const endpoints: LocalEndpoint[] = [
      { kind: 'aws', service: 'dynamodb', routes: [route(`dynamodb.${region}.amazonaws.com`, proxy.port)] },
      { kind: 'aws', service: 'secretsmanager', routes: [route(`secretsmanager.${region}.amazonaws.com`, secretsManager.port)] },
      { kind: 'aws', service: 'cloudfront', routes: [route('cloudfront.amazonaws.com', cloudFront.port)] },
      {
        kind: 'aws',
        service: 'execute-api',
        routes: [route(`${webSocketApi.id}.execute-api.${region}.amazonaws.com`, ws.managementTlsPort ?? ws.port)],
      },
      ...identityProviders.map((p): LocalEndpoint => ({ kind: 'internet', routes: p.routes })),
      ...caches.map((c): LocalEndpoint => ({
        kind: 'cache',
        cache: c.cache,
        routes: c.routes.map((r) => ({ host: r.host, port: r.port, to: { host: '127.0.0.1', port: r.to } })),
      })),
    ];
    const knownHosts = endpoints.flatMap((e) => e.routes.map((r) => r.host));
    for (const deployed of deployment.functions.values()) {
      const network = functionNetwork(deployed, deployment.network, endpoints);
      const keys = credentials.get(deployed.name) as { accessKeyId: string; secretAccessKey: string; sessionToken: string };
      const reachable = new Set(network.routes.map((r) => r.host));
      const pool = await createFunctionPool({
        name: deployed.name,
        codeDir: deployed.codeDirectory,
        handler: deployed.handler,
        runtime: deployed.runtime,
        timeoutMs: deployed.timeoutMs,
        memoryMb: deployed.memoryMb,
        environment: options.emulatorTimeouts === false ? deployed.environment : { ...EMULATOR_TIMEOUTS, ...deployed.environment },
        // The runtime's trust store: Lambda's trusts Amazon's authority, this one the local one.
        serviceEndpoints: { NODE_EXTRA_CA_CERTS: certificates.caFile },
        credentials: keys,
        region,
        accountId,
        network: {
          // Outside a VPC the internet is reachable, but not this machine's own services; in a VPC
          // without NAT nothing is, but what the routes give.
          allow: deployed.vpc === undefined ? 'any' : [],
          blackhole: [
            { host: '127.0.0.1' },
            { host: 'localhost' },
            { host: '::1' },
            ...knownHosts.filter((h) => !reachable.has(h)).map((h) => ({ host: h })),
          ],
          routes: network.routes.map((r) => ({ host: r.host, port: r.port, to: r.to })),
        },
        // Reserved concurrency is a limit Lambda enforces: beyond it, throttled. Without it, Lambda
        // scales to the account's limit (1,000): the local bound on processes queues the rest.
        maxContainers: deployed.reservedConcurrency ?? options.maxContainers ?? 10,
        overflow: deployed.reservedConcurrency === undefined ? 'wait' : 'throttle',
        logging: { format: deployed.logFormat },
        logSink: (entry) => {
          if (entry.stream !== 'platform' || entry.line.startsWith('network:'))
            log('functions').info(`[${deployed.logicalId}#${entry.containerId}] ${entry.line.replaceAll('\r', '\n')}`);
        },
      });
      pools.set(deployed.name, pool);
      stops.push(() => pool.close());
      for (const why of network.unreachable) log('functions').info(`${deployed.logicalId}: ${why}`);
    }
    step('functions');

    const provider = identityProviders[0];
    const mintToken: DeployedStack['mintToken'] = async (tokenOptions) => {
      if (provider === undefined) throw new Error('the deployment has no JWKS URL: no local identity provider to mint tokens');
      return provider.mint(tokenOptions);
    };
    const rest = await startRestFront({
      api: restApiFromDeployment(restApi, functionFor),
      host,
      port: options.port === 0 ? 0 : (options.port ?? 3000),
      logger: log('rest'),
      logRequests: options.logRequests ?? false,
      // The live page, with tokens of the local identity provider (in AWS: CloudFront's /assets/).
      ...((options.web ?? true)
        ? {
            extra: createWebHandler({
              wsUrl: ws.url,
              devTokens: async () =>
                Object.fromEntries(
                  await Promise.all(
                    DEMO_TENANTS.map(async (t): Promise<[string, string]> => [t.tenantId, await mintToken({ tenantId: t.tenantId })]),
                  ),
                ),
              openApi: (serverUrl) => openApiDocument({ serverUrl }),
              onError: (message) => {
                log('rest').warn(message);
              },
            }),
          }
        : {}),
    });
    stops.push(() => rest.close());
    step('fronts');

    // Stream event source mappings: Lambda reads the stream with the function's own role.
    const pollers: StreamPoller[] = [];
    if (options.streams ?? true) {
      for (const mapping of deployment.eventSourceMappings) {
        if (!mapping.enabled) continue;
        const table = tables.find((t) => mapping.eventSourceArn.startsWith(`${t.arn}/stream/`));
        const localArn = table === undefined ? undefined : localStreamArns.get(table.name);
        if (table === undefined || localArn === undefined) {
          throw new TemplateError(
            { stack: mapping.stack, logicalId: mapping.logicalId, path: 'EventSourceArn' },
            `no local stream for ${mapping.eventSourceArn}`,
          );
        }
        const partitionKey = table.createTable.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName;
        const { fn, deployed } = functionFor(mapping.functionName);
        const keys = credentials.get(deployed.name) as { accessKeyId: string; secretAccessKey: string; sessionToken: string };
        const streams = new DynamoDBStreamsClient({
          endpoint: proxy.url,
          region,
          credentials: keys,
          maxAttempts: 2,
          requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: certificates.ca, keepAlive: true }), requestTimeout: 10_000 }),
        });
        stops.push(() => {
          streams.destroy();
          return Promise.resolve();
        });
        const poller = new StreamPoller({
          streamArn: localArn,
          streams,
          handler: (event: unknown) => fn.invoke(event),
          functionName: deployed.logicalId,
          batchSize: mapping.batchSize,
          // The template's ParallelizationFactor: lanes by the table's partition key, each lane's
          // invocation in a container of its own (the pool never gives a busy container another).
          parallelizationFactor: mapping.parallelizationFactor,
          ...(partitionKey !== undefined ? { partitionKey } : {}),
          bisectBatchOnFunctionError: mapping.bisectBatchOnFunctionError,
          maxRetryAttempts: mapping.maximumRetryAttempts < 0 ? Number.MAX_SAFE_INTEGER : mapping.maximumRetryAttempts,
          reportBatchItemFailures: mapping.reportBatchItemFailures,
          filters: mapping.filters,
          timeoutMs: deployed.timeoutMs + 1000,
          // A table this start created has nothing older to skip; a persisted one resumes at its tip.
          startingPosition: created.has(table.name) ? mapping.startingPosition : 'LATEST',
          pollIntervalMs: options.pollIntervalMs ?? 200,
          logger: log('streams'),
          onFailure: (failure) => {
            log('streams').warn(
              `${deployed.logicalId}: ${failure.batchSize} record(s) to ${mapping.onFailureDestinationArn ?? 'nowhere (no on-failure destination)'}`,
            );
          },
        });
        await poller.start();
        stops.push(() => poller.stop());
        pollers.push(poller);
      }
    }
    step('streams');

    let seed: SeedSummary | undefined;
    let seedError: string | undefined;
    if (options.seed ?? true) {
      try {
        seed = await seedDemoData(rest.url, DEMO_TENANTS, mintToken);
        log('seed').info(
          seed.existing
            ? 'demo data found in the persisted tables: kept as it is'
            : `${seed.tenants} tenants, ${seed.products} products, ${seed.orders} orders`,
        );
      } catch (error) {
        seedError = error instanceof Error ? error.message : String(error);
        log('seed').warn(`demo data not created (${seedError}); the stack runs without it`);
      }
    }
    step('seed');
    const tokens: Record<string, string> = {};
    for (const tenant of DEMO_TENANTS) tokens[tenant.tenantId] = await mintToken({ tenantId: tenant.tenantId });

    const tableNames = {
      shop: environmentValue(deployment, 'SHOP_TABLE_NAME'),
      connections: environmentValue(deployment, 'CONNECTIONS_TABLE_NAME'),
    };
    return {
      mode: 'as-deployed',
      restUrl: rest.url,
      wsUrl: ws.url,
      restPort: rest.port,
      wsPort: ws.port,
      dynamoDbEndpoint,
      assemblyDir,
      deployment,
      tableNames,
      caches,
      pollers,
      cloudFront,
      secretsManager,
      identityProvider: provider,
      dynamoDbCalls: () => calls,
      managementThrottled: () => ws.managementThrottled(),
      pools,
      mintToken,
      tokens,
      seed,
      seedError,
      startup,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function route(host: string, port: number): Route {
  return { host, port: 443, to: { host: '127.0.0.1', port } };
}

function environmentValue(deployment: Deployment, name: string): string {
  for (const fn of deployment.functions.values()) {
    const value = fn.environment[name];
    if (value !== undefined) return value;
  }
  throw new Error(`no function of the deployment has ${name}`);
}

/** Creates a table from its template definition; its stream ARN as DynamoDB Local names it. */
async function createTable(db: DynamoDBClient, table: DeployedTable): Promise<{ arn: string | undefined; fresh: boolean }> {
  let fresh = true;
  try {
    await db.send(new CreateTableCommand(table.createTable));
  } catch (error) {
    if ((error as { name?: string }).name !== 'ResourceInUseException') throw error;
    fresh = false;
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { Table } = await db.send(new DescribeTableCommand({ TableName: table.name }));
    const ready = Table?.TableStatus === 'ACTIVE' && (Table.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE');
    if (ready) {
      if (table.timeToLiveAttribute !== undefined && fresh) {
        await db.send(
          new UpdateTimeToLiveCommand({
            TableName: table.name,
            TimeToLiveSpecification: { Enabled: true, AttributeName: table.timeToLiveAttribute },
          }),
        );
      }
      return { arn: Table.LatestStreamArn, fresh };
    }
    if (Date.now() > deadline) throw new Error(`table ${table.name} not ACTIVE within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A secret's value as CloudFormation makes it (GenerateSecretString) or as the template gives it. */
function secretValue(secret: DeployedSecret): string {
  if (secret.literal !== undefined) return secret.literal;
  const g = secret.generate;
  if (g === undefined) return '';
  const punctuation = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
  let alphabet = `${g.excludeLowercase ? '' : 'abcdefghijklmnopqrstuvwxyz'}${g.excludeUppercase ? '' : 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'}${g.excludeNumbers ? '' : '0123456789'}${g.excludePunctuation ? '' : punctuation}${g.includeSpace ? ' ' : ''}`;
  // Every candidate character is ASCII: splitting by UTF-16 unit is splitting by character.
  alphabet = alphabet
    .split('')
    .filter((c) => !g.excludeCharacters.includes(c))
    .join('');
  const bytes = randomBytes(g.length);
  const password = [...bytes].map((b) => alphabet.charAt(b % alphabet.length)).join('');
  if (g.template === undefined || g.key === undefined) return password;
  return JSON.stringify({ ...(JSON.parse(g.template) as Record<string, unknown>), [g.key]: password });
}

/** {{resolve:secretsmanager:<id>:SecretString:<json-key>:<stage>:<version>}}, from the local secrets. */
function dynamicReference(service: string, reference: string, where: Where, secrets: ReadonlyMap<string, string>): string {
  if (service !== 'secretsmanager') throw new TemplateError(where, `dynamic references to ${service} are not supported`);
  const [id = '', part = 'SecretString', jsonKey = '', stage = '', version = ''] = splitSecretReference(reference);
  if (part !== 'SecretString' || stage !== '' || version !== '')
    throw new TemplateError(where, `secret reference ${reference}: only the current SecretString is supported`);
  const value = secrets.get(id) ?? [...secrets.entries()].find(([arn]) => arn.includes(`:secret:${id}-`))?.[1];
  if (value === undefined) throw new TemplateError(where, `secret ${id} is not in the assembly`);
  if (jsonKey === '') return value;
  const field = (JSON.parse(value) as Record<string, unknown>)[jsonKey];
  if (typeof field !== 'string') throw new TemplateError(where, `secret ${id} has no string field ${jsonKey}`);
  return field;
}

/** The secret id may be an ARN (with colons): the last four fields are the optional parts. */
function splitSecretReference(reference: string): string[] {
  const parts = reference.split(':');
  if (reference.startsWith('arn:')) {
    const arn = parts.slice(0, 7).join(':');
    return [arn, ...parts.slice(7)];
  }
  return parts;
}
