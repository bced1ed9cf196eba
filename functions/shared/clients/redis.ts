/**
 * The Redis connection: one per container, single node or cluster by config, TLS and AUTH that
 * work against ElastiCache. Every command has a timeout in tens of milliseconds; callers put a
 * circuit breaker in front so an outage costs nothing per request.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { redisConfig } from '../config';

export type RedisClient = Redis | Cluster;

export interface RedisConnectionOptions {
  /** redis://host:port or rediss://host:port (TLS). */
  readonly url: string;
  readonly cluster?: boolean;
  /** Extra startup nodes for a cluster (the url's node is always first). */
  readonly clusterNodes?: readonly { host: string; port: number }[];
  readonly authToken?: string;
  /** @default 50 */
  readonly commandTimeoutMs?: number;
  /** @default 1000 */
  readonly connectTimeoutMs?: number;
}

export function createRedisClient(options: RedisConnectionOptions): RedisClient {
  const url = new URL(options.url);
  const tls = url.protocol === 'rediss:';
  const host = url.hostname;
  const port = Number(url.port || 6379);
  const password = options.authToken ?? (url.password ? decodeURIComponent(url.password) : undefined);
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const nodeOptions: RedisOptions = {
    ...(tls ? { tls: {} } : {}),
    ...(password ? { password } : {}),
    ...(username ? { username } : {}),
    commandTimeout: options.commandTimeoutMs ?? 50,
    connectTimeout: options.connectTimeoutMs ?? 1000,
    // A command queued while reconnecting still times out after commandTimeout; the breaker
    // stops new ones, so the queue stays small.
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(50 * times, 1000),
    lazyConnect: false,
  };
  if (!options.cluster) return new Redis({ ...nodeOptions, host, port });
  const clusterOptions: ClusterOptions = {
    redisOptions: nodeOptions,
    // ElastiCache TLS: certificates name the configuration endpoint, so keep the hostname
    // instead of resolving it to an IP (ioredis README, "Special note: AWS ElastiCache Clusters with TLS").
    dnsLookup: (address, callback) => callback(null, address),
    slotsRefreshTimeout: options.connectTimeoutMs ?? 1000,
    clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
    enableReadyCheck: true,
    scaleReads: 'master',
  };
  return new Cluster([{ host, port }, ...(options.clusterNodes ?? [])], clusterOptions);
}

let shared: Promise<RedisClient | undefined> | undefined;

/**
 * The container's Redis connection, built once from REDIS_* env vars; undefined when REDIS_URL is
 * unset (L1 only). The AUTH token comes from Secrets Manager when REDIS_AUTH_SECRET_ARN is set.
 */
export function sharedRedis(): Promise<RedisClient | undefined> {
  shared ??= (async () => {
    const config = redisConfig();
    if (!config.url) return undefined;
    const authToken = config.authSecretArn ? await readSecret(config.authSecretArn) : config.authToken;
    const client = createRedisClient({
      url: config.url,
      cluster: config.cluster,
      ...(authToken ? { authToken } : {}),
      commandTimeoutMs: config.commandTimeoutMs,
      connectTimeoutMs: config.connectTimeoutMs,
    });
    // Connect during init, so the first request's commands do not spend their short timeout
    // waiting for the handshake. Past the connect timeout, go on: the breaker handles an outage.
    await waitUntilReady(client, config.connectTimeoutMs);
    return client;
  })();
  return shared;
}

function waitUntilReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    client.once('ready', done);
  });
}

async function readSecret(arn: string): Promise<string> {
  // Loaded only where a secret is configured: most of the init cost of a client is its import.
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({});
  const out = await client.send(new GetSecretValueCommand({ SecretId: arn }), { abortSignal: AbortSignal.timeout(3000) });
  if (!out.SecretString) throw new Error('Redis auth secret has no SecretString');
  // Either a plain token or {"password": "..."} / {"authToken": "..."} JSON.
  try {
    const parsed = JSON.parse(out.SecretString) as Record<string, unknown>;
    const token = parsed.authToken ?? parsed.password;
    if (typeof token === 'string') return token;
  } catch {
    /* plain string secret */
  }
  return out.SecretString;
}

/** Closes the container's connection (the local stack and tests, on shutdown). */
export async function closeSharedRedis(): Promise<void> {
  const pending = shared;
  shared = undefined;
  const client = await pending?.catch(() => undefined);
  if (client) await client.quit().catch(() => client.disconnect());
}
