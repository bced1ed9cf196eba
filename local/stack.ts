/**
 * The whole local stack, in one process: DynamoDB Local (or DYNAMODB_ENDPOINT), Redis (REDIS_URL,
 * a redis-server of our own, or none: L1 only), the tables, the WebSocket front with its
 * @connections endpoint, the REST front, one stream poller per stream consumer, and demo data.
 * Everything comes from the route table and the table definitions; handlers are the real ones,
 * loaded by their `entry` after the environment they read is set.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  AUTHORIZER,
  REST_ROUTES,
  STREAM_CONSUMERS,
  WEBSOCKET_ROUTES,
  type RestRoute,
  type StreamConsumer,
  type WebSocketRoute,
} from '../functions/routes';
import { resetConfig } from '../functions/shared/config';
import { findExecutable } from './services/child';
import { LOCAL_DYNAMODB_TIMEOUT_MS, localDynamoDbClient, startDynamoDbLocal, type DynamoDbLocal } from './services/dynamodb-local';
import { freePort } from './services/free-port';
import { startRedisServer, type RedisServer } from './services/redis-server';
import { createTables, type TableNames } from './services/tables';
import {
  DEFAULT_HOST,
  DEFAULT_REGION,
  DEFAULT_STAGE,
  DEFAULT_TABLE_NAMES,
  DEV_CURSOR_KEY,
  FAKE_CREDENTIALS,
  jwtSettings,
} from './dev-defaults';
import { createHandlerLoader, type HandlerLoader } from './handlers';
import { describeError, silentLogger, type Logger } from './log';
import { startRestFront, type AuthorizerSettings, type RestFront } from './rest-front';
import { DEMO_TENANTS, seedDemoData, type SeedSummary } from './seed';
import { StreamPoller } from './stream-poller';
import { mintDevToken } from './tokens';
import { startWebSocketFront, type WebSocketFront } from './ws-front';
import type { ManagementThrottle } from './connections-endpoint';
import { openApiDocument } from '../openapi/document';
import { createWebHandler } from '../web/dev-server';

/** Redis command timeout of the local stack's functions (in AWS: REDIS_COMMAND_TIMEOUT_MS, 50 ms by default). */
const LOCAL_REDIS_COMMAND_TIMEOUT_MS = 1000;

export interface LocalStackOptions {
  /** REST port; 0 picks a free one. @default 3000 */
  readonly port?: number;
  /** WebSocket port; 0 picks a free one. @default 3001 */
  readonly wsPort?: number;
  /** @default 127.0.0.1 */
  readonly host?: string;
  /** @default local */
  readonly stage?: string;
  /** Use this DynamoDB instead of starting DynamoDB Local. @default DYNAMODB_ENDPOINT */
  readonly dynamoDbEndpoint?: string;
  /** DynamoDB Local keeps its data in this directory. @default in memory */
  readonly persistDir?: string;
  /**
   * A Redis URL; 'auto': a redis-server on a free port when one is on PATH, else none;
   * 'none': no Redis (L1 only). @default REDIS_URL, else 'auto'
   */
  readonly redis?: string;
  /** @default SHOP_TABLE_NAME / CONNECTIONS_TABLE_NAME, else shop-edge-local-* */
  readonly tableNames?: TableNames;
  /** Create demo data through the REST front. @default true */
  readonly seed?: boolean;
  /** Run the stream consumers. @default true */
  readonly streams?: boolean;
  /** Route table parts (tests put fixture handlers here). @default the route table */
  readonly restRoutes?: readonly RestRoute[];
  readonly webSocketRoutes?: readonly WebSocketRoute[];
  readonly streamConsumers?: readonly StreamConsumer[];
  readonly authorizer?: AuthorizerSettings;
  /** @default dynamic import of each entry from the repository root */
  readonly loadHandler?: HandlerLoader;
  /** See WebSocketFrontOptions. */
  readonly managementLatencyMs?: number;
  readonly managementThrottle?: ManagementThrottle;
  readonly idleTimeoutMs?: number;
  readonly maxConnectionMs?: number;
  /** Stream poll interval. @default 200 ms */
  readonly pollIntervalMs?: number;
  /** One line per request, connection and message. @default false */
  readonly logRequests?: boolean;
  /** A logger per part ('dynamodb', 'redis', 'rest', 'ws', 'streams', 'seed'). @default silent */
  readonly logger?: (part: string) => Logger;
  /** Serve the live page (/), /openapi.json and /dev/tokens on the REST front (web/dev-server.ts). @default true */
  readonly web?: boolean;
}

export interface LocalStack {
  /** http://host:port */
  readonly restUrl: string;
  /** ws://host:port */
  readonly wsUrl: string;
  /** http://host:wsPort/stage (WS_MANAGEMENT_ENDPOINT) */
  readonly managementEndpoint: string;
  readonly restPort: number;
  readonly wsPort: number;
  readonly dynamoDbEndpoint: string;
  /** Undefined: no Redis, the cache runs with L1 only. */
  readonly redisUrl: string | undefined;
  /** How Redis was chosen. */
  readonly redisSource: 'env' | 'started' | 'none' | 'option';
  /** True when the stack started DynamoDB Local itself. */
  readonly startedDynamoDb: boolean;
  readonly tableNames: TableNames;
  readonly pollers: readonly StreamPoller[];
  /** Undefined when seeding was off; `seedError` says why it failed, if it did. */
  readonly seed: SeedSummary | undefined;
  readonly seedError: string | undefined;
  /** Dev tokens with every permission, one per demo tenant. */
  readonly tokens: Readonly<Record<string, string>>;
  /** @connections calls the account throttle answered 429, since the WebSocket front last started. */
  managementThrottled(): number;
  /** Forgets the REST authorizer's cached results (after the token settings changed). */
  flushAuthorizerCache(): void;
  /** Closes the WebSocket front (its connections get 1001 and $disconnect), as an outage would. */
  stopWebSocketFront(): Promise<void>;
  /** Starts the WebSocket front again, on the same port. */
  startWebSocketFront(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts everything; on a failure, stops what was started and rethrows. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const log = options.logger ?? (() => silentLogger);
  const host = options.host ?? DEFAULT_HOST;
  const stage = options.stage ?? DEFAULT_STAGE;
  const stops: (() => Promise<void>)[] = [];
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
    // DynamoDB
    let dynamoDbEndpoint = options.dynamoDbEndpoint ?? (process.env.DYNAMODB_ENDPOINT || undefined);
    let dynamo: DynamoDbLocal | undefined;
    if (dynamoDbEndpoint === undefined) {
      dynamo = await startDynamoDbLocal(options.persistDir !== undefined ? { dbPath: options.persistDir } : {});
      stops.push(() => (dynamo as DynamoDbLocal).stop());
      dynamoDbEndpoint = dynamo.endpoint;
      log('dynamodb').info(
        `DynamoDB Local on ${dynamoDbEndpoint} (${options.persistDir !== undefined ? `data kept in ${options.persistDir}` : 'in memory'})`,
      );
    } else {
      log('dynamodb').info(`using DynamoDB at ${dynamoDbEndpoint} (DYNAMODB_ENDPOINT: none started)`);
    }

    // Redis
    const wanted = options.redis ?? (process.env.REDIS_URL || 'auto');
    let redisUrl: string | undefined;
    let redisSource: LocalStack['redisSource'];
    if (wanted === 'none') {
      redisSource = 'none';
      log('redis').info('no Redis: the cache runs with L1 (in-process) only');
    } else if (wanted === 'auto') {
      if (findExecutable('redis-server') !== undefined) {
        const redis: RedisServer = await startRedisServer();
        stops.push(() => redis.stop());
        redisUrl = redis.url;
        redisSource = 'started';
        log('redis').info(`redis-server on ${redisUrl}`);
      } else {
        redisSource = 'none';
        log('redis').info('no REDIS_URL and no redis-server on PATH: the cache runs with L1 (in-process) only');
      }
    } else {
      redisUrl = wanted;
      redisSource = options.redis !== undefined ? 'option' : 'env';
      log('redis').info(`using Redis at ${redisUrl}`);
    }

    // Ports: chosen now so WS_MANAGEMENT_ENDPOINT is known before any handler is imported.
    const wsPort = options.wsPort === 0 ? await freePort() : (options.wsPort ?? 3001);
    const restPort = options.port === 0 ? await freePort() : (options.port ?? 3000);
    const managementEndpoint = `http://${host}:${wsPort}/${stage}`;

    const tableNames: TableNames = options.tableNames ?? {
      shop: process.env.SHOP_TABLE_NAME || DEFAULT_TABLE_NAMES.shop,
      connections: process.env.CONNECTIONS_TABLE_NAME || DEFAULT_TABLE_NAMES.connections,
    };
    setHandlerEnvironment({ dynamoDbEndpoint, redisUrl, tableNames, managementEndpoint });

    const client: DynamoDBClient = localDynamoDbClient(dynamoDbEndpoint);
    stops.push(() => {
      client.destroy();
      return Promise.resolve();
    });
    // The handlers' own connections (Redis, DynamoDB), once the fronts and pollers are closed.
    stops.push(async () => (await import('../functions/composition/lifecycle')).closeServices());
    await createTables(client, tableNames);
    log('dynamodb').info(`tables ${tableNames.shop}, ${tableNames.connections}`);

    const loadHandler = options.loadHandler ?? createHandlerLoader();
    const authorizer = options.authorizer ?? AUTHORIZER;
    await initFunctions(
      [
        authorizer.entry,
        ...(options.restRoutes ?? REST_ROUTES).map((r) => r.entry),
        ...(options.webSocketRoutes ?? WEBSOCKET_ROUTES).map((r) => r.entry),
        ...((options.streams ?? true) ? (options.streamConsumers ?? STREAM_CONSUMERS).map((c) => c.entry) : []),
      ],
      loadHandler,
      log('stack'),
    );

    const startWs = (port: number) =>
      startWebSocketFront({
        routes: options.webSocketRoutes ?? WEBSOCKET_ROUTES,
        loadHandler,
        authorizer,
        host,
        port,
        stage,
        logger: log('ws'),
        logRequests: options.logRequests ?? false,
        ...(options.managementLatencyMs !== undefined ? { managementLatencyMs: options.managementLatencyMs } : {}),
        ...(options.managementThrottle !== undefined ? { managementThrottle: options.managementThrottle } : {}),
        ...(options.idleTimeoutMs !== undefined ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
        ...(options.maxConnectionMs !== undefined ? { maxConnectionMs: options.maxConnectionMs } : {}),
      });
    const ws: WebSocketFront = await startWs(wsPort);
    let wsRunning: WebSocketFront | undefined = ws;
    stops.push(async () => {
      await wsRunning?.close();
      wsRunning = undefined;
    });

    const pollers: StreamPoller[] = [];
    if (options.streams ?? true) {
      for (const consumer of options.streamConsumers ?? STREAM_CONSUMERS) {
        const poller = new StreamPoller({
          tableName: tableNames[consumer.table],
          dynamoDb: client,
          endpoint: dynamoDbEndpoint,
          loadHandler: () => loadHandler(consumer.entry),
          functionName: consumer.name,
          batchSize: consumer.batchSize,
          parallelizationFactor: consumer.parallelizationFactor,
          pollIntervalMs: options.pollIntervalMs ?? 200,
          logger: log('streams'),
        });
        await poller.start();
        stops.push(() => poller.stop());
        pollers.push(poller);
      }
      if (pollers.length > 0) log('streams').info(`${pollers.map((p) => p.functionName).join(', ')} polling the table streams`);
    }

    const rest: RestFront = await startRestFront({
      routes: options.restRoutes ?? REST_ROUTES,
      loadHandler,
      authorizer,
      host,
      port: restPort,
      stage,
      logger: log('rest'),
      logRequests: options.logRequests ?? false,
      ...((options.web ?? true)
        ? {
            extra: createWebHandler({
              wsUrl: ws.url,
              devTokens: async () =>
                Object.fromEntries(
                  await Promise.all(
                    DEMO_TENANTS.map(async (t): Promise<[string, string]> => [t.tenantId, await mintDevToken({ tenantId: t.tenantId })]),
                  ),
                ),
              openApi: (serverUrl) => openApiDocument({ serverUrl, routes: options.restRoutes ?? REST_ROUTES }),
              onError: (message) => log('rest').warn(message),
            }),
          }
        : {}),
    });
    stops.push(() => rest.close());

    let seed: SeedSummary | undefined;
    let seedError: string | undefined;
    if (options.seed ?? true) {
      try {
        seed = await seedDemoData(rest.url);
        log('seed').info(
          seed.existing
            ? 'demo data found in the persisted tables: kept as it is'
            : `${seed.tenants} tenants, ${seed.products} products with stock, ${seed.orders} orders (${DEMO_TENANTS.filter((t) => t.listed)
                .map((t) => t.tenantId)
                .join(', ')}'s products listed on the marketplace)`,
        );
      } catch (error) {
        seedError = error instanceof Error ? error.message : String(error);
        log('seed').warn(`demo data not created (${seedError}); the stack runs without it`);
      }
    }

    const tokens: Record<string, string> = {};
    for (const tenant of DEMO_TENANTS) tokens[tenant.tenantId] = await mintDevToken({ tenantId: tenant.tenantId });

    return {
      restUrl: rest.url,
      wsUrl: ws.url,
      managementEndpoint,
      restPort: rest.port,
      wsPort: ws.port,
      dynamoDbEndpoint,
      redisUrl,
      redisSource,
      startedDynamoDb: dynamo !== undefined,
      tableNames,
      pollers,
      seed,
      seedError,
      tokens,
      managementThrottled: () => (wsRunning ?? ws).managementThrottled(),
      flushAuthorizerCache: () => {
        rest.flushAuthorizerCache();
      },
      stopWebSocketFront: async () => {
        const running = wsRunning;
        wsRunning = undefined;
        await running?.close();
      },
      startWebSocketFront: async () => {
        if (wsRunning === undefined) wsRunning = await startWs(ws.port);
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * Loads every function before the fronts take a request. In Lambda a function's init runs in its
 * own environment; here every function shares one event loop, and importing one (100-300 ms,
 * measured while seeding) would stall the requests of the others past their Redis command
 * timeout. A function that fails to load is reported and loaded again on its first request.
 */
async function initFunctions(entries: readonly string[], loadHandler: HandlerLoader, logger: Logger): Promise<void> {
  for (const entry of new Set(entries)) {
    try {
      await loadHandler(entry);
    } catch (error) {
      logger.warn(`${entry} did not load (retried on its first request): ${describeError(error)}`);
    }
  }
}

/**
 * The environment the handlers read (functions/shared/config.ts), set before any is imported:
 * tables, DynamoDB endpoint, Redis, JWT settings and cursor key (dev defaults when unset), management endpoint,
 * region and fake credentials (a developer's real AWS credentials never reach the local stack).
 */
export function setHandlerEnvironment(settings: {
  readonly dynamoDbEndpoint: string;
  readonly redisUrl: string | undefined;
  readonly tableNames: TableNames;
  readonly managementEndpoint: string;
}): void {
  const env = process.env;
  env.SHOP_TABLE_NAME = settings.tableNames.shop;
  env.CONNECTIONS_TABLE_NAME = settings.tableNames.connections;
  env.DYNAMODB_ENDPOINT = settings.dynamoDbEndpoint;
  env.AWS_ENDPOINT_URL_DYNAMODB = settings.dynamoDbEndpoint;
  env.AWS_ENDPOINT_URL_DYNAMODB_STREAMS = settings.dynamoDbEndpoint;
  if (settings.redisUrl === undefined) delete env.REDIS_URL;
  else env.REDIS_URL = settings.redisUrl;
  const jwt = jwtSettings(env);
  env.JWT_SECRET = jwt.secret;
  env.JWT_ISSUER = jwt.issuer;
  env.JWT_AUDIENCE = jwt.audience;
  env.CURSOR_KEY ||= DEV_CURSOR_KEY;
  env.WS_MANAGEMENT_ENDPOINT = settings.managementEndpoint;
  env.AWS_REGION ||= DEFAULT_REGION;
  env.AWS_DEFAULT_REGION ||= env.AWS_REGION;
  env.AWS_ACCESS_KEY_ID = FAKE_CREDENTIALS.accessKeyId;
  env.AWS_SECRET_ACCESS_KEY = FAKE_CREDENTIALS.secretAccessKey;
  delete env.AWS_SESSION_TOKEN;
  delete env.AWS_PROFILE;
  // Powertools: no EMF metric lines, only warnings from the handlers' loggers (the fronts log requests).
  env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  // Every function, both fronts and the stream pollers share one event loop (and the CPU with
  // DynamoDB Local): stalls of 50-300 ms were measured while seeding, and a stall longer than a
  // command's timeout fails the command though Redis answered in time (the timer runs first).
  env.REDIS_COMMAND_TIMEOUT_MS ??= String(LOCAL_REDIS_COMMAND_TIMEOUT_MS);
  env.DYNAMODB_TIMEOUT_MS ??= String(LOCAL_DYNAMODB_TIMEOUT_MS);
  // A burst of concurrent calls (100 WebSocket messages at once) opens tens of sockets in this one
  // process, where a Lambda container would open one: a stall outlasts the 500 ms connect bound.
  env.DYNAMODB_CONNECT_TIMEOUT_MS ??= String(LOCAL_DYNAMODB_TIMEOUT_MS);
  resetConfig();
}
