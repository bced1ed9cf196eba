/**
 * The stack the end-to-end suites (REST, WebSocket, real-time, security) run against, in either
 * mode of the local stack, behind one interface:
 *
 * - `source` (the default): startLocalStack, the handlers of functions/ in this process, the
 *   shared single-node redis-server, HS256 tokens with the test secret;
 * - `as-deployed`: startDeployedStack on the synthesized dev app (SHOP_EDGE_TEST_ASSEMBLY, which
 *   the as-deployed jest project's global setup synthesizes once per run): each function's bundle
 *   in containers of its own with its template environment, IAM role and network, the template's
 *   cache (a TLS cluster with AUTH), RS256 tokens from the local identity provider, generated
 *   table names.
 *
 * The mode is SHOP_EDGE_TEST_MODE (source | as-deployed), which each jest project sets
 * (test/harness/mode-*.ts). Both modes share the run's DynamoDB Local (the stack's tables are
 * unique to it). What a suite observes, it observes the same way in both modes: DynamoDB requests
 * as the functions sent them (recorded at the endpoint the functions call), Redis commands by
 * MONITOR on every node of the cache, the tables read directly.
 */
import { Redis } from 'ioredis';
import { SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { unwireServices, wireServices } from './services';
import { RedisL2Store } from '../../functions/cache/l2-store';
import { DynamoShopRepository } from '../../functions/catalog/dynamodb/shop-repository';
import type { ShopRepository } from '../../functions/catalog/ports';
import { resetConfig } from '../../functions/shared/config';
import { startDeployedStack, type DeployedStack } from '../../local/deployed/stack';
import { synthesizeApp } from '../../local/deployed/synth';
import { jwtSettings } from '../../local/dev-defaults';
import { consoleLogger } from '../../local/log';
import { respCommand } from '../../local/services/resp';
import { startLocalStack, type LocalStack } from '../../local/stack';
import type { StreamPoller } from '../../local/stream-poller';
import { TokenBucket } from '../../local/token-bucket';
import type { ManagementThrottle } from '../../local/connections-endpoint';
import { mintDevToken, type DevTokenOptions } from '../../local/tokens';
import { startDynamoDbRecorder, type DynamoDbRecorder } from './dynamodb-recorder';
import { dynamoDbEndpoint, redisSingleUrl } from './env';
import { restCall, type CallOptions } from './rest';
import { testDocumentClient } from './tables';
import { uniqueId } from './ids';
import { monitorRedis, type RedisMonitor } from './redis-monitor';

export type TestMode = 'source' | 'as-deployed';

/** The mode of this test file's project (SHOP_EDGE_TEST_MODE; source when unset). */
export function testMode(): TestMode {
  const mode = process.env.SHOP_EDGE_TEST_MODE ?? 'source';
  if (mode !== 'source' && mode !== 'as-deployed') throw new Error(`SHOP_EDGE_TEST_MODE must be source or as-deployed (got ${mode})`);
  return mode;
}

/**
 * A test that needs the source mode's in-process services (a repository swapped for one that is
 * down, ...): there is no such switch in a deployment. Skipped, by name, in the as-deployed project.
 */
export const itInSource: jest.It = testMode() === 'source' ? it : it.skip;

/**
 * A test of what only a deployment has (its template environment, its roles, its containers):
 * skipped, by name, in the source project, where the suite has a case of its own for the same behaviour.
 */
export const itAsDeployed: jest.It = testMode() === 'as-deployed' ? it : it.skip;

/**
 * A test of a known open defect of the deployment that only the as-deployed mode shows: it must
 * fail there (jest's it.failing: it turns red once the defect is fixed, to be made an `it`), and
 * pass from source. The test names the defect.
 */
export const itFailingAsDeployed: jest.It = testMode() === 'as-deployed' ? it.failing : it;

export type TokenOptions = Omit<DevTokenOptions, 'secret' | 'issuer' | 'audience' | 'signingKey'>;

/** Who signs the stack's tokens: the dev secret (HS256) from source, the local identity provider (RS256) as deployed. */
export interface TokenIssuer {
  readonly name: string;
  readonly alg: 'HS256' | 'RS256';
  readonly issuer: string;
  readonly audience: string;
  /** The key id the tokens carry (RS256). */
  readonly kid: string | undefined;
  /** The public key of the signing key pair (RS256: what the JWKS publishes; an attacker knows it). */
  readonly publicKey: CryptoKey | undefined;
  /** Any claims, signed exactly as a legitimate token of this stack is signed. */
  sign(claims: JWTPayload): Promise<string>;
}

/** One DynamoDB request a function sent, as its endpoint received it. */
export interface DataCall {
  readonly at: number;
  readonly api: 'dynamodb' | 'streams';
  readonly operation: string;
  /** The request body (JSON text): table, keys, expressions. */
  readonly text: string;
  /** As deployed: the function whose role signed it. */
  readonly functionName?: string;
  /** As deployed: the error the endpoint answered itself (AccessDeniedException, ...). */
  readonly errorType?: string;
}

export interface CacheNode {
  readonly host: string;
  readonly port: number;
  readonly password?: string;
}

/** MONITOR on every node of the stack's cache. */
export interface CacheWatch {
  /** Every command seen so far, as "CMD arg1 arg2 ...", all nodes. */
  lines(): string[];
  /** Commands that name a key of this tenant (its hash tag, or the bare id), rate-limit counters excepted. */
  tenantLines(tenantId: string): string[];
  /** Resolves once every node's MONITOR has caught up with the commands sent before the call. */
  settle(): Promise<void>;
  stop(): void;
}

export type { CallOptions } from './rest';

export interface StackUnderTest {
  readonly mode: TestMode;
  readonly restUrl: string;
  readonly wsUrl: string;
  readonly tableNames: { readonly shop: string; readonly connections: string };
  /** The DynamoDB Local holding the stack's tables (direct: no IAM, not recorded). */
  readonly dynamoDbEndpoint: string;
  /** The shop table, read and written directly (state checks). */
  readonly repo: ShopRepository;
  /** The per-user REST rate limit the functions run with (RATE_LIMIT_PER_MINUTE, default 100). */
  readonly userRateLimitPerMinute: number;
  /**
   * How long a read through another container may still show what a write replaced (the
   * contract: up to CACHE_L1_TTL_MS, 2 s by default): 0 from source, where every function shares
   * one process and so one in-process cache.
   */
  readonly crossContainerStalenessMs: number;
  /**
   * Reads until `done` holds, for at most crossContainerStalenessMs (and a second's slack); resolves
   * with the last value read. From source that is exactly one read: the next read must show the write.
   */
  converged<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T>;
  readonly issuer: TokenIssuer;
  /** A token the stack's authorizer accepts: every permission unless given. */
  token(tenantId: string, permissions?: readonly string[]): Promise<string>;
  mint(options: TokenOptions): Promise<string>;
  /** A REST request, paced to the stage's throttle (pace()). */
  call(method: string, path: string, options?: CallOptions): Promise<Response>;
  /**
   * Waits until one more request stays under the REST stage's throttle (as deployed: the
   * template's rate and burst; a suite that sends hundreds of requests would otherwise meet 429
   * THROTTLED, as it would in AWS). Resolves at once when the stage has none (from source).
   */
  pace(): Promise<void>;
  /** The cache's nodes, where a test can look inside (MONITOR, keys), as an operator would. */
  readonly cacheNodes: readonly CacheNode[];
  watchCache(): Promise<CacheWatch>;
  /** Every DynamoDB request the functions sent so far (bounded, newest last). */
  dataCalls(): readonly DataCall[];
  /** DynamoDB requests of the functions (streams API aside) since `since` (epoch ms) whose body names `text`. */
  dataCallsNaming(text: string, since: number): readonly DataCall[];
  /**
   * Resolves once every stream consumer has processed every record written before the call, and
   * every record those invocations wrote.
   */
  streamsCaughtUp(): Promise<void>;
  /** @connections calls the account throttle answered 429 so far. */
  managementThrottled(): number;
  /** Source mode only: the in-process controls (undefined as deployed). */
  readonly source: SourceControls | undefined;
  /** As-deployed mode only: the deployed stack itself (undefined from source). */
  readonly deployed: DeployedStack | undefined;
  stop(): Promise<void>;
}

export interface SourceControls {
  readonly stack: LocalStack;
  readonly managementEndpoint: string;
  /** Swaps the handlers' repository (restore() puts the real one back). */
  rewire(parts: { repo?: ShopRepository }): void;
  restore(): void;
}

export interface StackUnderTestOptions {
  /** Prefix of the stack's table names (source) or name salt (as deployed). @default 'sut' */
  readonly name?: string;
  /** Create the demo data. @default false */
  readonly seed?: boolean;
  /** As deployed: run this cloud assembly. @default SHOP_EDGE_TEST_ASSEMBLY, else the dev app synthesized (or reused) */
  readonly assemblyDir?: string;
  /** Source: latency of the @connections endpoint (see WebSocketFrontOptions). */
  readonly managementLatencyMs?: number;
  /** The account throttle of @connections, in both modes. @default the environment's (10,000 a second, burst 5,000) */
  readonly managementThrottle?: ManagementThrottle;
  /** @default 100 ms */
  readonly pollIntervalMs?: number;
  /** @default the project's (SHOP_EDGE_TEST_MODE) */
  readonly mode?: TestMode;
}

export async function startStackUnderTest(options: StackUnderTestOptions = {}): Promise<StackUnderTest> {
  const mode = options.mode ?? testMode();
  return mode === 'source' ? startSource(options) : startAsDeployed(options);
}

async function startSource(options: StackUnderTestOptions): Promise<StackUnderTest> {
  const name = options.name ?? 'sut';
  const recorder: DynamoDbRecorder = await startDynamoDbRecorder(dynamoDbEndpoint());
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      port: 0,
      wsPort: 0,
      dynamoDbEndpoint: recorder.url,
      redis: redisSingleUrl(),
      tableNames: { shop: uniqueId(`${name}-shop`), connections: uniqueId(`${name}-connections`) },
      seed: options.seed ?? false,
      web: false,
      pollIntervalMs: options.pollIntervalMs ?? 100,
      ...(options.managementLatencyMs !== undefined ? { managementLatencyMs: options.managementLatencyMs } : {}),
      ...(options.managementThrottle !== undefined ? { managementThrottle: options.managementThrottle } : {}),
    });
  } catch (error) {
    await recorder.close();
    throw error;
  }
  resetConfig();
  const jwt = jwtSettings();
  const secret = new TextEncoder().encode(jwt.secret);
  const redisUrl = new URL(redisSingleUrl());
  // The handlers' own Redis for a rewired set of services (closed at stop).
  let redis: Redis | undefined;
  const rateLimit = Number(process.env.RATE_LIMIT_PER_MINUTE ?? 100);
  const controls: SourceControls = {
    stack,
    managementEndpoint: stack.managementEndpoint,
    rewire(parts) {
      redis ??= new Redis(redisSingleUrl());
      resetConfig();
      wireServices({ repo: parts.repo ?? base.repo, l2: new RedisL2Store(redis) });
    },
    restore() {
      unwireServices();
      resetConfig();
    },
  };
  const base = common({
    mode: 'source',
    restUrl: stack.restUrl,
    wsUrl: stack.wsUrl,
    tableNames: stack.tableNames,
    userRateLimitPerMinute: rateLimit,
    crossContainerStalenessMs: 0,
    stageThrottle: undefined,
    issuer: {
      name: 'HS256 shared secret (the local stack from source)',
      alg: 'HS256',
      issuer: jwt.issuer,
      audience: jwt.audience,
      kid: undefined,
      publicKey: undefined,
      sign: (claims) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(secret),
    },
    mint: (tokenOptions) => mintDevToken(tokenOptions),
    cacheNodes: [{ host: redisUrl.hostname, port: Number(redisUrl.port) }],
    dataCalls: () => recorder.calls().map((c) => ({ at: c.at, api: c.api, operation: c.operation, text: c.body })),
    pollers: stack.pollers,
    managementThrottled: () => stack.managementThrottled(),
    source: controls,
    deployed: undefined,
    stop: async () => {
      unwireServices();
      await stack.stop();
      await recorder.close();
      await redis?.quit().catch(() => undefined);
      resetConfig();
    },
  });
  return base;
}

async function startAsDeployed(options: StackUnderTestOptions): Promise<StackUnderTest> {
  const assemblyDir = options.assemblyDir ?? process.env.SHOP_EDGE_TEST_ASSEMBLY ?? (await synthesizeApp({ envName: 'dev' })).directory;
  const deployed = await startDeployedStack({
    port: 0,
    wsPort: 0,
    assemblyDir,
    dynamoDbEndpoint: dynamoDbEndpoint(),
    nameSalt: uniqueId(options.name ?? 'sut'),
    seed: options.seed ?? false,
    web: false,
    pollIntervalMs: options.pollIntervalMs ?? 100,
    ...(options.managementThrottle !== undefined ? { managementThrottle: options.managementThrottle } : {}),
    // SHOP_EDGE_TEST_LOGS=1: the functions' logs, the fronts' requests and the stack's warnings on stderr.
    ...(process.env.SHOP_EDGE_TEST_LOGS === '1' ? { logger: consoleLogger, logRequests: true } : {}),
  });
  const provider = deployed.identityProvider;
  if (provider === undefined) {
    await deployed.stop();
    throw new Error(`${assemblyDir}: the deployment names no JWKS URL, so no token can be minted for it`);
  }
  // One warm container per function: the suites' first requests measure the function, not the
  // start of its process on a loaded 2-core machine (Lambda starts containers on their own hardware).
  await Promise.all([...deployed.pools.values()].map((pool) => pool.prewarm(1)));
  const limits = [...deployed.deployment.functions.values()].flatMap((f) =>
    f.environment.RATE_LIMIT_PER_MINUTE !== undefined ? [Number(f.environment.RATE_LIMIT_PER_MINUTE)] : [],
  );
  return common({
    mode: 'as-deployed',
    restUrl: deployed.restUrl,
    wsUrl: deployed.wsUrl,
    tableNames: deployed.tableNames,
    userRateLimitPerMinute: limits.length > 0 ? Math.min(...limits) : 100,
    stageThrottle: deployed.deployment.restApis[0]?.throttle,
    crossContainerStalenessMs: Math.max(
      2000,
      ...[...deployed.deployment.functions.values()].flatMap((f) =>
        f.environment.CACHE_L1_TTL_MS !== undefined ? [Number(f.environment.CACHE_L1_TTL_MS)] : [],
      ),
    ),
    issuer: {
      name: `RS256 from the deployment's identity provider (${provider.jwksUrl})`,
      alg: 'RS256',
      issuer: provider.issuer,
      audience: provider.audience,
      kid: provider.kid,
      publicKey: provider.publicKey,
      sign: (claims) => provider.signClaims(claims),
    },
    mint: (tokenOptions) => provider.mint(tokenOptions),
    cacheNodes: deployed.caches.flatMap((cache) =>
      cache.adminNodes.map((n) => ({ host: n.host, port: n.port, ...(cache.password !== undefined ? { password: cache.password } : {}) })),
    ),
    dataCalls: () =>
      deployed.dynamoDbCalls().map((c) => ({
        at: c.at,
        api: c.api === 'streams' ? 'streams' : 'dynamodb',
        operation: c.operation,
        text: JSON.stringify(c.request ?? {}),
        ...(c.principal !== undefined ? { functionName: c.principal.sessionName } : {}),
        ...(c.errorType !== undefined ? { errorType: c.errorType } : {}),
      })),
    pollers: deployed.pollers,
    managementThrottled: () => deployed.managementThrottled(),
    source: undefined,
    deployed,
    stop: () => deployed.stop(),
  });
}

interface Parts {
  readonly mode: TestMode;
  readonly restUrl: string;
  readonly wsUrl: string;
  readonly tableNames: { readonly shop: string; readonly connections: string };
  readonly userRateLimitPerMinute: number;
  readonly crossContainerStalenessMs: number;
  readonly stageThrottle: { readonly rateLimit: number; readonly burstLimit: number } | undefined;
  readonly issuer: TokenIssuer;
  readonly mint: (options: TokenOptions) => Promise<string>;
  readonly cacheNodes: readonly CacheNode[];
  readonly dataCalls: () => readonly DataCall[];
  readonly pollers: readonly StreamPoller[];
  readonly managementThrottled: () => number;
  readonly source: SourceControls | undefined;
  readonly deployed: DeployedStack | undefined;
  readonly stop: () => Promise<void>;
}

/** What both modes build the same way from their parts. */
function common(parts: Parts): StackUnderTest {
  const documents = testDocumentClient();
  const repo = new DynamoShopRepository(documents, parts.tableNames.shop);
  const tokens = new Map<string, Promise<string>>();
  // The client's own bucket, below the stage's: 80% of its rate, half its burst.
  const throttle = parts.stageThrottle;
  const bucket = throttle && new TokenBucket(throttle.rateLimit * 0.8, Math.max(1, Math.floor(throttle.burstLimit / 2)));
  const pace = async () => {
    while (bucket !== undefined && !bucket.take()) {
      await new Promise((resolve) => setTimeout(resolve, Math.ceil(1000 / (throttle?.rateLimit ?? 1))));
    }
  };
  return {
    mode: parts.mode,
    restUrl: parts.restUrl,
    wsUrl: parts.wsUrl,
    tableNames: parts.tableNames,
    dynamoDbEndpoint: dynamoDbEndpoint(),
    repo,
    userRateLimitPerMinute: parts.userRateLimitPerMinute,
    crossContainerStalenessMs: parts.crossContainerStalenessMs,
    async converged(read, done) {
      const deadline = Date.now() + (parts.crossContainerStalenessMs > 0 ? parts.crossContainerStalenessMs + 1000 : 0);
      for (;;) {
        const value = await read();
        if (done(value) || Date.now() >= deadline) return value;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    issuer: parts.issuer,
    token(tenantId, permissions) {
      const key = `${tenantId}|${permissions?.join(',') ?? '*'}`;
      let token = tokens.get(key);
      if (token === undefined) {
        token = parts.mint({ tenantId, ...(permissions ? { permissions } : {}) });
        tokens.set(key, token);
      }
      return token;
    },
    mint: parts.mint,
    pace,
    async call(method, path, options = {}) {
      await pace();
      return restCall(parts.restUrl, method, path, options);
    },
    cacheNodes: parts.cacheNodes,
    watchCache: () => watchNodes(parts.cacheNodes),
    dataCalls: parts.dataCalls,
    dataCallsNaming: (text, since) => parts.dataCalls().filter((c) => c.api === 'dynamodb' && c.at >= since && c.text.includes(text)),
    streamsCaughtUp: async () => {
      // A consumer's own writes are records too (the fan-out records low-stock states in the table
      // it reads): each pass covers what the invocations of the pass before wrote, and the stream
      // is caught up once a pass invoked nothing.
      const invocations = () => parts.pollers.reduce((sum, p) => sum + p.invocations, 0);
      await Promise.all(parts.pollers.map((p) => p.caughtUp()));
      for (let pass = 0; pass < 10; pass++) {
        const before = invocations();
        await Promise.all(parts.pollers.map((p) => p.caughtUp()));
        if (invocations() === before) return;
      }
    },
    managementThrottled: parts.managementThrottled,
    source: parts.source,
    deployed: parts.deployed,
    stop: async () => {
      documents.destroy();
      await parts.stop();
    },
  };
}

async function watchNodes(nodes: readonly CacheNode[]): Promise<CacheWatch> {
  const monitors: RedisMonitor[] = [];
  try {
    for (const node of nodes) monitors.push(await monitorRedis(node.host, node.port, 2000, node.password));
  } catch (error) {
    for (const m of monitors) m.stop();
    throw error;
  }
  const lines = () => monitors.flatMap((m) => m.lines());
  return {
    lines,
    tenantLines: (tenantId) => lines().filter((line) => line.includes(tenantId) && !line.includes('{rl:')),
    async settle() {
      const marker = `settle-${Math.random().toString(36).slice(2)}`;
      await Promise.all(
        nodes.map(async (node, i) => {
          await respCommand(node.host, node.port, ['ECHO', marker], 2000, node.password);
          const monitor = monitors[i] as RedisMonitor;
          for (let waited = 0; waited < 2000 && !monitor.lines().some((l) => l.includes(marker)); waited += 10) {
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        }),
      );
    },
    stop() {
      for (const m of monitors) m.stop();
    },
  };
}
