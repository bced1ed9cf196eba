/**
 * The Redis connection: one per container, single node or cluster by config, TLS and AUTH that
 * work against ElastiCache. Every command has a timeout in tens of milliseconds, in every state of
 * the client (a cluster without a usable slot map included); callers put a circuit breaker in
 * front so an outage costs nothing per request.
 *
 * The connection is made on first use. A failed attempt (the AUTH token's Secrets Manager read
 * throttled or timed out) is not kept: calls fail fast during a backoff, then one tries again. When
 * the server refuses the token (WRONGPASS, NOAUTH: it was rotated), the secret is read again and
 * the connection replaced by one with the new token.
 */
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { redisConfig } from '../config';
import { equalJitter } from '../retry';

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

/**
 * ioredis arms commandTimeout when a node connection takes a command. A Cluster without a usable
 * slot map (connecting, every node down or unreachable) keeps commands before that, in its own
 * queue, or in its redirection and CLUSTERDOWN retries, with no bound. Here every command is armed
 * on its first send, and once the first connect attempt is over, a cluster that is not ready
 * refuses commands at once instead of queueing them for as long as it stays unreachable.
 */
class BoundedCluster extends Cluster {
  /** Commands issued right after creation may wait for the first connect (within their timeout). */
  private firstConnect = true;

  constructor(nodes: ClusterNode[], options: ClusterOptions) {
    super(nodes, options);
    const over = () => {
      this.firstConnect = false;
    };
    for (const event of ['ready', 'close', 'end']) this.once(event, over);
  }

  override sendCommand(...args: Parameters<Cluster['sendCommand']>): unknown {
    const [command] = args;
    const timeout = this.options.redisOptions?.commandTimeout;
    if (typeof timeout === 'number') command.setTimeout(timeout);
    // CLUSTER commands are how ioredis itself checks readiness: they always go through.
    if (this.status !== 'ready' && !this.firstConnect && command.name !== 'cluster') {
      command.reject(new Error(`Redis cluster ${this.status}: no slot map to send ${command.name} with`));
      return command.promise;
    }
    return super.sendCommand(...args);
  }
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
    dnsLookup: (address, callback) => {
      callback(null, address);
    },
    slotsRefreshTimeout: options.connectTimeoutMs ?? 1000,
    clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
    enableReadyCheck: true,
    scaleReads: 'master',
  };
  const nodes: ClusterNode[] = [{ host, port }, ...(options.clusterNodes ?? [])];
  return new BoundedCluster(nodes, clusterOptions);
}

/** A refused AUTH token, as Redis and Valkey word it (a reply, a ready check, a cluster node's error). */
export function isAuthError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  const nodeError = (error as { lastNodeError?: unknown } | null)?.lastNodeError;
  return /\b(WRONGPASS|NOAUTH)\b/.test(message) || (nodeError !== undefined && isAuthError(nodeError));
}

/** First retry of a failed connect after about this long, doubling up to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;
/** After a refused token, the secret is read again at most this often (doubling while it is unchanged). */
const FIRST_SECRET_RECHECK_MS = 1000;
const MAX_SECRET_RECHECK_MS = 60_000;

interface SharedState {
  client?: RedisClient;
  /** The token the client authenticates with (when it comes from the secret). */
  token?: string;
  connecting?: Promise<RedisClient>;
  failures: number;
  retryAt: number;
  lastError?: unknown;
  /** Refused-token handling: one secret read at a time, spaced out. */
  rotating: boolean;
  secretChecks: number;
  nextSecretCheckAt: number;
  closed: boolean;
}

let state: SharedState | undefined;

/** Read through a call: closeSharedRedis may have run during an await. */
const isClosed = (s: SharedState): boolean => s.closed;

const freshState = (): SharedState => ({ failures: 0, retryAt: 0, rotating: false, secretChecks: 0, nextSecretCheckAt: 0, closed: false });

/** True when REDIS_URL is set: the container has an L2 (whether or not it is reachable now). */
export function redisConfigured(): boolean {
  return redisConfig().url !== undefined;
}

/**
 * The container's Redis connection, built from REDIS_* env vars; rejects when REDIS_URL is unset,
 * when the connect failed (fast, until its backoff has passed; then the next call tries again).
 * The AUTH token comes from Secrets Manager when REDIS_AUTH_SECRET_ARN is set.
 */
export function sharedRedisClient(): Promise<RedisClient> {
  const config = redisConfig();
  if (config.url === undefined) return Promise.reject(new Error('REDIS_URL is not set'));
  const s = (state ??= freshState());
  if (s.client) return Promise.resolve(s.client);
  if (s.connecting) return s.connecting;
  if (Date.now() < s.retryAt) return Promise.reject(s.lastError instanceof Error ? s.lastError : new Error('Redis connect failed'));
  const attempt = connect(s);
  s.connecting = attempt;
  attempt.then(
    (client) => {
      s.connecting = undefined;
      if (s.closed) {
        client.disconnect();
        return;
      }
      s.client = client;
      s.failures = 0;
    },
    (error: unknown) => {
      s.connecting = undefined;
      s.failures++;
      s.lastError = error;
      s.retryAt = Date.now() + equalJitter(Math.max(0, s.failures - 1), FIRST_RETRY_MS, MAX_RETRY_MS);
    },
  );
  return attempt;
}

/** The container's Redis connection, or undefined when REDIS_URL is unset (L1 only). */
export function sharedRedis(): Promise<RedisClient | undefined> {
  return redisConfigured() ? sharedRedisClient() : Promise.resolve(undefined);
}

async function connect(s: SharedState): Promise<RedisClient> {
  const config = redisConfig();
  const token = config.authSecretArn ? await readSecret(config.authSecretArn) : config.authToken;
  const client = open(s, token);
  s.token = token;
  // Connect now, so the first commands do not spend their short timeout waiting for the
  // handshake. Past the connect timeout, go on: the breaker handles an outage.
  await waitUntilReady(client, config.connectTimeoutMs);
  return client;
}

function open(s: SharedState, token: string | undefined): RedisClient {
  const config = redisConfig();
  const client = createRedisClient({
    url: config.url as string,
    cluster: config.cluster,
    ...(token ? { authToken: token } : {}),
    commandTimeoutMs: config.commandTimeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
  });
  const onError = (error: unknown) => {
    if (isAuthError(error)) void refreshToken(s, client);
  };
  // Errors are the breaker's business; without a listener ioredis would print each one.
  client.on('error', onError);
  client.on('node error', onError);
  return client;
}

/**
 * A command of the shared connection was refused for its token (a reply such as NOAUTH, which
 * ioredis emits no event for): read the secret again, as for a refused reconnect.
 */
export function noteRedisError(error: unknown): void {
  if (state?.client && isAuthError(error)) void refreshToken(state, state.client);
}

/** The server refused the token of `failing`: if the secret holds another one, reconnect with it. */
async function refreshToken(s: SharedState, failing: RedisClient): Promise<void> {
  const arn = redisConfig().authSecretArn;
  if (arn === undefined || s.client !== failing || s.rotating || s.closed || Date.now() < s.nextSecretCheckAt) return;
  s.rotating = true;
  s.secretChecks++;
  s.nextSecretCheckAt = Date.now() + equalJitter(Math.max(0, s.secretChecks - 1), FIRST_SECRET_RECHECK_MS, MAX_SECRET_RECHECK_MS);
  try {
    const token = await readSecret(arn);
    if (token === s.token || s.client !== failing || isClosed(s)) return; // not rotated (yet): checked again later
    const replacement = open(s, token);
    await waitUntilReady(replacement, redisConfig().connectTimeoutMs);
    if (isClosed(s)) {
      replacement.disconnect();
      return;
    }
    s.client = replacement;
    s.token = token;
    s.secretChecks = 0;
    failing.disconnect();
  } catch {
    // The secret could not be read: the next refusal tries again, after the recheck delay.
  } finally {
    s.rotating = false;
  }
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
  try {
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
  } finally {
    client.destroy();
  }
}

/** Closes the container's connection (the local stack and tests, on shutdown). */
export async function closeSharedRedis(): Promise<void> {
  const s = state;
  state = undefined;
  if (!s) return;
  s.closed = true;
  const client = s.client ?? (await s.connecting?.catch(() => undefined));
  if (client) await client.quit().catch(() => client.disconnect());
}
