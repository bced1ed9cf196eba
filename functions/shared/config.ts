/**
 * Configuration, read from the environment and validated once per container.
 * Each section is parsed on first use, so a function only needs the variables it uses
 * (the authorizer needs no Redis settings), and a missing or malformed one fails loudly.
 * Every variable is listed in README.md ("Configuration").
 */
import { z } from 'zod';

const bool = z.enum(['true', 'false', '1', '0', '']).transform((v) => v === 'true' || v === '1');
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max).default(def);

function section<T extends z.ZodType>(name: string, schema: T, pick: (env: NodeJS.ProcessEnv) => Record<string, unknown>) {
  let cached: z.infer<T> | undefined;
  const read = (): z.infer<T> => {
    if (cached === undefined) {
      const raw = Object.fromEntries(Object.entries(pick(process.env)).filter(([, v]) => v !== undefined && v !== ''));
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        const detail = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
        throw new Error(`Invalid ${name} configuration: ${detail}`);
      }
      cached = parsed.data;
    }
    return cached;
  };
  /** Forget the parsed values (tests change the environment between cases). */
  read.reset = () => {
    cached = undefined;
  };
  return read;
}

export const tablesConfig = section(
  'tables',
  z.object({
    shopTableName: z.string().min(3),
    connectionsTableName: z.string().min(3),
    endpoint: z.url().optional(),
    region: z.string().default('us-east-1'),
    timeoutMs: int(1000, 50, 30000),
    /** Opening a connection to the endpoint (a new container, or a burst beyond its open sockets). */
    connectTimeoutMs: int(500, 50, 30000),
  }),
  (env) => ({
    shopTableName: env.SHOP_TABLE_NAME,
    connectionsTableName: env.CONNECTIONS_TABLE_NAME,
    endpoint: env.DYNAMODB_ENDPOINT,
    region: env.AWS_REGION,
    timeoutMs: env.DYNAMODB_TIMEOUT_MS,
    connectTimeoutMs: env.DYNAMODB_CONNECT_TIMEOUT_MS,
  }),
);

export const redisConfig = section(
  'redis',
  z.object({
    /** redis://host:port or rediss://host:port (TLS); unset: no L2 (L1 only). */
    url: z
      .string()
      .regex(/^rediss?:\/\//, 'REDIS_URL must start with redis:// or rediss://')
      .optional(),
    cluster: bool.default(false),
    /** AUTH token in plain text (local only); in AWS the token comes from Secrets Manager. */
    authToken: z.string().optional(),
    authSecretArn: z.string().optional(),
    commandTimeoutMs: int(50, 1, 10000),
    connectTimeoutMs: int(1000, 10, 30000),
    /** Replicas per shard (the template's cacheReplicas); 0: no WAIT after an invalidation. */
    replicas: int(0, 0, 5),
    /** The bound of `WAIT 1 <ms>` after a generation bump (only with replicas). */
    replicaAckMs: int(50, 1, 1000),
  }),
  (env) => ({
    url: env.REDIS_URL,
    cluster: env.REDIS_CLUSTER,
    authToken: env.REDIS_AUTH_TOKEN,
    authSecretArn: env.REDIS_AUTH_SECRET_ARN,
    commandTimeoutMs: env.REDIS_COMMAND_TIMEOUT_MS,
    connectTimeoutMs: env.REDIS_CONNECT_TIMEOUT_MS,
    replicas: env.REDIS_REPLICAS,
    replicaAckMs: env.REDIS_REPLICA_ACK_MS,
  }),
);

export const cacheConfig = section(
  'cache',
  z.object({
    l1MaxEntries: int(1000, 0, 1_000_000),
    l1TtlMs: int(2000, 0, 60_000),
    /** The design document's short / medium / long classes, in seconds. */
    ttlShortSeconds: int(60, 1),
    ttlMediumSeconds: int(300, 1),
    ttlLongSeconds: int(3600, 1),
    staleSeconds: int(60, 0),
    negativeTtlSeconds: int(30, 1),
    compressAboveBytes: int(4096, 256),
    leaseMs: int(2000, 50, 60_000),
    leaseWaitMs: int(500, 0, 10_000),
    revalidateBudgetMs: int(150, 0, 10_000),
  }),
  (env) => ({
    l1MaxEntries: env.CACHE_L1_MAX_ENTRIES,
    l1TtlMs: env.CACHE_L1_TTL_MS,
    ttlShortSeconds: env.CACHE_TTL_SHORT,
    ttlMediumSeconds: env.CACHE_TTL_MEDIUM,
    ttlLongSeconds: env.CACHE_TTL_LONG,
    staleSeconds: env.CACHE_STALE_SECONDS,
    negativeTtlSeconds: env.CACHE_NEGATIVE_TTL,
    compressAboveBytes: env.CACHE_COMPRESS_ABOVE_BYTES,
    leaseMs: env.CACHE_LEASE_MS,
    leaseWaitMs: env.CACHE_LEASE_WAIT_MS,
    revalidateBudgetMs: env.CACHE_REVALIDATE_BUDGET_MS,
  }),
);

export const authConfig = section(
  'auth',
  z
    .object({
      secret: z.string().min(32, 'JWT_SECRET must be at least 32 characters').optional(),
      jwksUrl: z.url().optional(),
      issuer: z.string().min(1),
      audience: z.string().min(1),
      clockToleranceSeconds: int(5, 0, 300),
    })
    .refine((c) => c.secret !== undefined || c.jwksUrl !== undefined, 'set JWT_SECRET (HS256) or JWT_JWKS_URL'),
  (env) => ({
    secret: env.JWT_SECRET,
    jwksUrl: env.JWT_JWKS_URL,
    issuer: env.JWT_ISSUER,
    audience: env.JWT_AUDIENCE,
    clockToleranceSeconds: env.JWT_CLOCK_TOLERANCE_SECONDS,
  }),
);

export const appConfig = section(
  'app',
  z.object({
    rateLimitPerMinute: int(100, 1),
    lowStockThreshold: int(5, 0),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/)
      .default('EUR'),
    /** Management API endpoint for posting to WebSocket connections (https://id.execute-api.region.amazonaws.com/stage). */
    wsManagementEndpoint: z.url().optional(),
    /** Open WebSocket connections per user (tenantId and sub); the next handshake is refused with 429. */
    wsMaxConnectionsPerUser: int(10, 1, 100),
    cdnDistributionId: z.string().optional(),
  }),
  (env) => ({
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    lowStockThreshold: env.LOW_STOCK_THRESHOLD,
    currency: env.DEFAULT_CURRENCY,
    wsManagementEndpoint: env.WS_MANAGEMENT_ENDPOINT,
    wsMaxConnectionsPerUser: env.WS_MAX_CONNECTIONS_PER_USER,
    cdnDistributionId: env.CDN_DISTRIBUTION_ID,
  }),
);

/** The key page cursors are signed with (functions/http/cursors.ts): only the list functions read it. */
export const cursorConfig = section(
  'cursor',
  z
    .object({
      /** In plain text: the local stack and tests. */
      key: z.string().min(32, 'CURSOR_KEY must be at least 32 characters').optional(),
      /** In AWS: a Secrets Manager secret generated per deployment, read once per container. */
      keySecretArn: z.string().min(1).optional(),
    })
    .refine((c) => c.key !== undefined || c.keySecretArn !== undefined, 'set CURSOR_KEY_SECRET_ARN (AWS) or CURSOR_KEY (local)'),
  (env) => ({ key: env.CURSOR_KEY, keySecretArn: env.CURSOR_KEY_SECRET_ARN }),
);

export function resetConfig(): void {
  for (const s of [tablesConfig, redisConfig, cacheConfig, authConfig, appConfig, cursorConfig]) s.reset();
}
