/**
 * Configuration, read from the environment and validated once per container.
 * Each section is parsed on first use, so a function only needs the variables it uses
 * (the authorizer needs no Redis settings), and a missing or malformed one fails loudly.
 * Every variable is listed in README.md ("Configuration").
 */
import type { $ZodIssue } from 'zod/v4/core';
import * as z from './zod';

const bool = z.pipe(
  z.enum(['true', 'false', '1', '0', '']),
  z.transform((v) => v === 'true' || v === '1'),
);
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z._default(z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max)), def);

/**
 * One section: its schema, and the environment variable each of its keys is read from. A failure
 * names the variables the operator must set or fix (`SHOP_TABLE_NAME is required`), never the
 * schema's keys, which are nowhere in the template or the README.
 */
function section<T extends z.ZodMiniType>(name: string, schema: T, variables: Readonly<Record<string, string>>) {
  let cached: z.output<T> | undefined;
  const read = (): z.output<T> => {
    if (cached === undefined) {
      const raw = Object.fromEntries(
        Object.entries(variables).flatMap(([key, variable]) => {
          const value = process.env[variable];
          return value === undefined || value === '' ? [] : [[key, value]];
        }),
      );
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        const detail = parsed.error.issues.map((issue) => describeIssue(issue, raw, variables)).join('; ');
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

function describeIssue(issue: $ZodIssue, raw: Readonly<Record<string, unknown>>, variables: Readonly<Record<string, string>>): string {
  const key = issue.path[0];
  const variable = typeof key === 'string' ? variables[key] : undefined;
  // A rule over several variables (set one of two) names them in its own message.
  if (variable === undefined) return issue.message;
  if (raw[key as string] === undefined) return `${variable} is required`;
  // Messages that already name their variable ('JWT_SECRET must be at least 32 characters') stay as they are.
  return issue.message.includes(variable) ? issue.message : `${variable}: ${issue.message}`;
}

export const tablesConfig = section(
  'tables',
  z.object({
    shopTableName: z.string().check(z.minLength(3)),
    connectionsTableName: z.string().check(z.minLength(3)),
    endpoint: z.optional(z.url()),
    region: z._default(z.string(), 'us-east-1'),
    timeoutMs: int(1000, 50, 30000),
    /** Opening a connection to the endpoint (a new container, or a burst beyond its open sockets). */
    connectTimeoutMs: int(500, 50, 30000),
  }),
  {
    shopTableName: 'SHOP_TABLE_NAME',
    connectionsTableName: 'CONNECTIONS_TABLE_NAME',
    endpoint: 'DYNAMODB_ENDPOINT',
    region: 'AWS_REGION',
    timeoutMs: 'DYNAMODB_TIMEOUT_MS',
    connectTimeoutMs: 'DYNAMODB_CONNECT_TIMEOUT_MS',
  },
);

export const redisConfig = section(
  'redis',
  z.object({
    /** redis://host:port or rediss://host:port (TLS); unset: no L2 (L1 only). */
    url: z.optional(z.string().check(z.regex(/^rediss?:\/\//, 'REDIS_URL must start with redis:// or rediss://'))),
    cluster: z._default(bool, false),
    /** AUTH token in plain text (local only); in AWS the token comes from Secrets Manager. */
    authToken: z.optional(z.string()),
    authSecretArn: z.optional(z.string()),
    commandTimeoutMs: int(50, 1, 10000),
    connectTimeoutMs: int(1000, 10, 30000),
    /** Replicas per shard (the template's cacheReplicas); 0: no WAIT after an invalidation. */
    replicas: int(0, 0, 5),
    /** The bound of `WAIT 1 <ms>` after a generation bump (only with replicas). */
    replicaAckMs: int(50, 1, 1000),
  }),
  {
    url: 'REDIS_URL',
    cluster: 'REDIS_CLUSTER',
    authToken: 'REDIS_AUTH_TOKEN',
    authSecretArn: 'REDIS_AUTH_SECRET_ARN',
    commandTimeoutMs: 'REDIS_COMMAND_TIMEOUT_MS',
    connectTimeoutMs: 'REDIS_CONNECT_TIMEOUT_MS',
    replicas: 'REDIS_REPLICAS',
    replicaAckMs: 'REDIS_REPLICA_ACK_MS',
  },
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
  {
    l1MaxEntries: 'CACHE_L1_MAX_ENTRIES',
    l1TtlMs: 'CACHE_L1_TTL_MS',
    ttlShortSeconds: 'CACHE_TTL_SHORT',
    ttlMediumSeconds: 'CACHE_TTL_MEDIUM',
    ttlLongSeconds: 'CACHE_TTL_LONG',
    staleSeconds: 'CACHE_STALE_SECONDS',
    negativeTtlSeconds: 'CACHE_NEGATIVE_TTL',
    compressAboveBytes: 'CACHE_COMPRESS_ABOVE_BYTES',
    leaseMs: 'CACHE_LEASE_MS',
    leaseWaitMs: 'CACHE_LEASE_WAIT_MS',
    revalidateBudgetMs: 'CACHE_REVALIDATE_BUDGET_MS',
  },
);

export const authConfig = section(
  'auth',
  z
    .object({
      secret: z.optional(z.string().check(z.minLength(32, 'JWT_SECRET must be at least 32 characters'))),
      jwksUrl: z.optional(z.url()),
      issuer: z.string().check(z.minLength(1)),
      audience: z.string().check(z.minLength(1)),
      clockToleranceSeconds: int(5, 0, 300),
    })
    .check(z.refine((c) => c.secret !== undefined || c.jwksUrl !== undefined, 'set JWT_SECRET (HS256) or JWT_JWKS_URL')),
  {
    secret: 'JWT_SECRET',
    jwksUrl: 'JWT_JWKS_URL',
    issuer: 'JWT_ISSUER',
    audience: 'JWT_AUDIENCE',
    clockToleranceSeconds: 'JWT_CLOCK_TOLERANCE_SECONDS',
  },
);

export const appConfig = section(
  'app',
  z.object({
    rateLimitPerMinute: int(100, 1),
    lowStockThreshold: int(5, 0),
    currency: z._default(z.string().check(z.regex(/^[A-Z]{3}$/)), 'EUR'),
    /** Management API endpoint for posting to WebSocket connections (https://id.execute-api.region.amazonaws.com/stage). */
    wsManagementEndpoint: z.optional(z.url()),
    /** Open WebSocket connections per user (tenantId and sub); the next handshake is refused with 429. */
    wsMaxConnectionsPerUser: int(10, 1, 100),
    /** Open WebSocket connections per tenant; the next handshake is refused with 429. */
    wsMaxConnectionsPerTenant: int(10_000, 1, 1_000_000),
    cdnDistributionId: z.optional(z.string()),
  }),
  {
    rateLimitPerMinute: 'RATE_LIMIT_PER_MINUTE',
    lowStockThreshold: 'LOW_STOCK_THRESHOLD',
    currency: 'DEFAULT_CURRENCY',
    wsManagementEndpoint: 'WS_MANAGEMENT_ENDPOINT',
    wsMaxConnectionsPerUser: 'WS_MAX_CONNECTIONS_PER_USER',
    wsMaxConnectionsPerTenant: 'WS_MAX_CONNECTIONS_PER_TENANT',
    cdnDistributionId: 'CDN_DISTRIBUTION_ID',
  },
);

/** The key page cursors are signed with (functions/http/cursors.ts): only the list functions read it. */
export const cursorConfig = section(
  'cursor',
  z
    .object({
      /** In plain text: the local stack and tests. */
      key: z.optional(z.string().check(z.minLength(32, 'CURSOR_KEY must be at least 32 characters'))),
      /** In AWS: a Secrets Manager secret generated per deployment, read once per container. */
      keySecretArn: z.optional(z.string().check(z.minLength(1))),
    })
    .check(z.refine((c) => c.key !== undefined || c.keySecretArn !== undefined, 'set CURSOR_KEY_SECRET_ARN (AWS) or CURSOR_KEY (local)')),
  { key: 'CURSOR_KEY', keySecretArn: 'CURSOR_KEY_SECRET_ARN' },
);

export function resetConfig(): void {
  for (const s of [tablesConfig, redisConfig, cacheConfig, authConfig, appConfig, cursorConfig]) s.reset();
}
