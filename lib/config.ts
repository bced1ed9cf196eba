/**
 * Deployment configuration: one profile per environment in cdk.json (`context.environments`),
 * selected with `-c env=dev|prod`, with a few flat context keys that override it per deploy.
 * Everything is validated here, once, so a stack never reads raw context.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { z } from 'zod';
import { originProblem } from '../functions/shared/cors';

/** CloudFront takes its viewer certificates from ACM in this region only. */
export const CLOUDFRONT_CERTIFICATE_REGION = 'us-east-1';

export const ENV_NAMES = ['dev', 'prod'] as const;
export type EnvName = (typeof ENV_NAMES)[number];

/** Flat context keys (`-c key=value`) that override the selected profile. */
export const CONTEXT_KEYS = {
  env: 'env',
  environments: 'environments',
  account: 'account',
  region: 'region',
  jwtIssuer: 'jwtIssuer',
  jwtAudience: 'jwtAudience',
  jwtJwksUrl: 'jwtJwksUrl',
  alarmEmail: 'alarmEmail',
  natGateways: 'natGateways',
  webAclArn: 'webAclArn',
  domainName: 'domainName',
  certificateArn: 'certificateArn',
  cacheNodeType: 'cacheNodeType',
  cacheShards: 'cacheShards',
  cacheReplicas: 'cacheReplicas',
  legacyExports: 'legacyExports',
  corsOrigins: 'corsOrigins',
  originSecretPreviousVersion: 'originSecretPreviousVersion',
  wsMaxConnectionsPerTenant: 'wsMaxConnectionsPerTenant',
} as const;

/** Open WebSocket connections per tenant when the profile does not say (functions/shared/config.ts has the same default). */
export const DEFAULT_WS_MAX_CONNECTIONS_PER_TENANT = 10_000;

const throttle = z.strictObject({
  rateLimit: z.coerce.number().positive(),
  burstLimit: z.coerce.number().int().positive(),
});

const profileSchema = z.strictObject({
  cache: z.strictObject({
    nodeType: z.string().regex(/^cache\.[a-z0-9]+\.[a-z0-9]+$/, 'a node type such as cache.r7g.large'),
    shards: z.coerce.number().int().min(1).max(500),
    replicasPerShard: z.coerce.number().int().min(0).max(5),
    multiAz: z.boolean(),
    snapshotRetentionDays: z.coerce.number().int().min(0).max(35),
    snapshotWindow: z
      .string()
      .regex(/^\d{2}:\d{2}-\d{2}:\d{2}$/)
      .optional(),
    maintenanceWindow: z
      .string()
      .regex(/^[a-z]{3}:\d{2}:\d{2}-[a-z]{3}:\d{2}:\d{2}$/)
      .optional(),
    port: z.coerce.number().int().min(1024).max(65535).default(6380),
    engineVersion: z.string().default('8.1'),
  }),
  network: z.strictObject({
    maxAzs: z.coerce.number().int().min(2).max(6),
    natGateways: z.coerce.number().int().min(0).max(6),
  }),
  api: throttle,
  realtime: throttle,
  /** Open WebSocket connections per tenant: the next handshake is refused with 429 (WS_MAX_CONNECTIONS_PER_TENANT). */
  wsMaxConnectionsPerTenant: z.coerce.number().int().min(1).max(1_000_000).default(DEFAULT_WS_MAX_CONNECTIONS_PER_TENANT),
  /**
   * Reserved concurrency of each stream consumer (0: none). A consumer runs at most one invocation
   * per lane of each shard, shards × its parallelizationFactor (functions/routes.ts: FanOut 10,
   * Invalidate 1): the reservation must be at least that, or the lanes beyond it are throttled.
   */
  streamConsumerConcurrency: z.coerce.number().int().min(0).max(1000).default(0),
  logRetentionDays: z.coerce
    .number()
    .int()
    .pipe(z.enum(RetentionDays, { error: 'a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)' })),
  retainData: z.boolean(),
  jwt: z
    .strictObject({
      issuer: z.string().min(1).optional(),
      audience: z.string().min(1).optional(),
      jwksUrl: z.url({ protocol: /^https$/ }).optional(),
    })
    .default({}),
  alarmEmail: z.email().optional(),
  /**
   * The REST stage refuses every request that does not bear CloudFront's origin secret (its web
   * ACL, lib/constructs/public-client-limit.ts): the distribution is the only way in, so it must
   * have a web ACL of its own (webAclArn).
   */
  cdnOnly: z.boolean().default(false),
  webAclArn: z.string().startsWith('arn:').optional(),
  domainName: z.string().min(3).optional(),
  certificateArn: z.string().startsWith('arn:').optional(),
  /**
   * The origins of the frontends that may call the REST API from a browser (CORS), exactly as a
   * browser sends them: https://shop.example.com, http://localhost:5173; `http://localhost:*` and
   * `http://127.0.0.1:*` allow a dev server on any port. Never `*`.
   */
  corsOrigins: z
    .array(
      z.string().superRefine((entry, context) => {
        const problem = originProblem(entry);
        if (problem !== undefined) context.addIssue({ code: 'custom', message: `${JSON.stringify(entry)}: ${problem}` });
      }),
    )
    .max(100)
    .default([]),
});

export interface CacheSettings {
  /** ElastiCache node type, e.g. cache.r7g.large. */
  readonly nodeType: string;
  /** Number of shards (node groups); the cluster always runs in cluster mode. */
  readonly shards: number;
  readonly replicasPerShard: number;
  readonly multiAz: boolean;
  /** 0 disables automatic snapshots. */
  readonly snapshotRetentionDays: number;
  /** UTC hh:mm-hh:mm, at least 60 minutes, not overlapping the maintenance window. */
  readonly snapshotWindow?: string;
  /** UTC ddd:hh:mm-ddd:hh:mm. */
  readonly maintenanceWindow?: string;
  /** Non-default port the cache listens on. */
  readonly port: number;
  /** Valkey engine version. */
  readonly engineVersion: string;
}

export interface ThrottleSettings {
  /** Steady-state requests per second. */
  readonly rateLimit: number;
  /** Burst bucket size. */
  readonly burstLimit: number;
}

export interface JwtSettings {
  readonly issuer: string;
  readonly audience: string;
  /** HTTPS URL of the identity provider's JWKS (RS256/ES256). */
  readonly jwksUrl: string;
}

export interface ShopEdgeConfig {
  readonly envName: EnvName;
  /** Prefix of every stack name, e.g. ShopEdge-dev. */
  readonly stackPrefix: string;
  /** Explicit account and region; undefined: environment-agnostic stacks (offline synth). */
  readonly deployEnv?: { readonly account: string; readonly region: string };
  readonly cache: CacheSettings;
  readonly network: { readonly maxAzs: number; readonly natGateways: number };
  readonly api: ThrottleSettings;
  readonly realtime: ThrottleSettings;
  /** Open WebSocket connections per tenant (the $connect function's WS_MAX_CONNECTIONS_PER_TENANT). */
  readonly wsMaxConnectionsPerTenant: number;
  /** Reserved concurrency of each stream consumer; 0 reserves none (the account's unreserved pool). */
  readonly streamConsumerConcurrency: number;
  readonly logRetention: RetentionDays;
  /** Keep tables, log groups and snapshots when a stack is deleted (prod). */
  readonly retainData: boolean;
  readonly jwt: JwtSettings;
  readonly alarmEmail?: string;
  /** Refuse REST requests that did not come through the distribution (403 from the stage's web ACL). */
  readonly cdnOnly: boolean;
  /** ARN of a CLOUDFRONT-scoped WAFv2 web ACL (created in us-east-1) to attach to the distribution; required with cdnOnly. */
  readonly webAclArn?: string;
  /** Custom domain of the distribution; requires certificateArn (an ACM certificate in us-east-1). */
  readonly customDomain?: { readonly domainName: string; readonly certificateArn: string };
  /**
   * Keep the exports an earlier version made for the values now shared through SSM parameters
   * (`-c legacyExports=true`, for the one deployment that upgrades such an environment).
   */
  readonly legacyExports: boolean;
  /** Origins allowed to call the REST API from a browser (functions/shared/cors.ts); empty: none. */
  readonly corsOrigins: readonly string[];
  /**
   * During a rotation of the CloudFront origin secret (`-c originSecretPreviousVersion=<version id>`,
   * docs/deploy.md): the version whose value the stage still accepts besides the current one.
   */
  readonly previousOriginSecretVersion?: string;
}

type Profile = z.infer<typeof profileSchema>;

/** Reads and validates the configuration of the environment selected by `-c env=...`. */
export function loadConfig(node: Node): ShopEdgeConfig {
  const ctx = (key: string): unknown => node.tryGetContext(key);
  const envName = ctx(CONTEXT_KEYS.env) ?? 'dev';
  if (!isEnvName(envName)) {
    // JSON, not String(): a context value can be any JSON value (an object would print [object Object]).
    throw new Error(`Unknown environment ${JSON.stringify(envName)}: pass -c env=${ENV_NAMES.join('|')}`);
  }
  const environments = ctx(CONTEXT_KEYS.environments) as Record<string, unknown> | undefined;
  const rawProfile = environments?.[envName];
  if (rawProfile === undefined) {
    throw new Error(`cdk.json has no context.environments.${envName} profile`);
  }
  const parsed = profileSchema.safeParse(applyOverrides(rawProfile as Record<string, unknown>, ctx));
  if (!parsed.success) {
    throw new Error(`Invalid configuration for environment "${envName}":\n${z.prettifyError(parsed.error)}`);
  }
  return toConfig(envName, parsed.data, ctx);
}

function isEnvName(value: unknown): value is EnvName {
  return ENV_NAMES.some((name) => name === value);
}

function applyOverrides(profile: Record<string, unknown>, ctx: (key: string) => unknown): Record<string, unknown> {
  const cache = { ...(profile.cache as Record<string, unknown>) };
  const network = { ...(profile.network as Record<string, unknown>) };
  const jwt = { ...((profile.jwt as Record<string, unknown> | undefined) ?? {}) };
  const set = (target: Record<string, unknown>, field: string, key: string) => {
    const value = ctx(key);
    if (value !== undefined && value !== '') target[field] = value;
  };
  set(cache, 'nodeType', CONTEXT_KEYS.cacheNodeType);
  set(cache, 'shards', CONTEXT_KEYS.cacheShards);
  set(cache, 'replicasPerShard', CONTEXT_KEYS.cacheReplicas);
  set(network, 'natGateways', CONTEXT_KEYS.natGateways);
  set(jwt, 'issuer', CONTEXT_KEYS.jwtIssuer);
  set(jwt, 'audience', CONTEXT_KEYS.jwtAudience);
  set(jwt, 'jwksUrl', CONTEXT_KEYS.jwtJwksUrl);
  const top: Record<string, unknown> = { ...profile, cache, network, jwt };
  set(top, 'alarmEmail', CONTEXT_KEYS.alarmEmail);
  set(top, 'webAclArn', CONTEXT_KEYS.webAclArn);
  set(top, 'domainName', CONTEXT_KEYS.domainName);
  set(top, 'certificateArn', CONTEXT_KEYS.certificateArn);
  set(top, 'wsMaxConnectionsPerTenant', CONTEXT_KEYS.wsMaxConnectionsPerTenant);
  // `-c corsOrigins=https://a.example.com,https://b.example.com` gives a string.
  const cors = ctx(CONTEXT_KEYS.corsOrigins);
  if (typeof cors === 'string')
    top.corsOrigins = cors
      .split(',')
      .map((o) => o.trim())
      .filter((o) => o !== '');
  else if (cors !== undefined) top.corsOrigins = cors;
  return top;
}

function toConfig(envName: EnvName, p: Profile, ctx: (key: string) => unknown): ShopEdgeConfig {
  const problems: string[] = [];
  if (p.cache.multiAz && p.cache.replicasPerShard < 1) problems.push('cache.multiAz needs at least one replica per shard');
  if (p.cache.snapshotRetentionDays > 0 && p.cache.snapshotWindow === undefined) {
    problems.push('cache.snapshotWindow is required when snapshots are kept');
  }
  const { issuer, audience, jwksUrl } = p.jwt;
  if (issuer === undefined || audience === undefined || jwksUrl === undefined) {
    problems.push(
      `JWT settings missing: pass -c ${CONTEXT_KEYS.jwtIssuer}=... -c ${CONTEXT_KEYS.jwtAudience}=... -c ${CONTEXT_KEYS.jwtJwksUrl}=https://...`,
    );
  }
  if (p.cdnOnly && p.webAclArn === undefined) {
    problems.push(
      `${CONTEXT_KEYS.webAclArn} is required: ${envName} only answers requests that come through CloudFront (cdnOnly), so the distribution needs a web ACL; pass -c ${CONTEXT_KEYS.webAclArn}=arn:aws:wafv2:${CLOUDFRONT_CERTIFICATE_REGION}:<account>:global/webacl/<name>/<id> (a web ACL with scope CLOUDFRONT)`,
    );
  }
  if (p.webAclArn !== undefined && !/^arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global\/webacl\/[^/]+\/[^/]+$/.test(p.webAclArn)) {
    problems.push(
      `${CONTEXT_KEYS.webAclArn} must be a CLOUDFRONT-scoped WAFv2 web ACL (arn:aws:wafv2:${CLOUDFRONT_CERTIFICATE_REGION}:<account>:global/webacl/<name>/<id>), not ${p.webAclArn}`,
    );
  }
  if ((p.domainName === undefined) !== (p.certificateArn === undefined)) {
    problems.push(`${CONTEXT_KEYS.domainName} and ${CONTEXT_KEYS.certificateArn} go together`);
  }
  if (p.certificateArn !== undefined) {
    const arn = /^arn:aws[a-z-]*:acm:([a-z0-9-]*):\d{12}:certificate\/[A-Za-z0-9-]+$/.exec(p.certificateArn);
    if (arn === null) {
      problems.push(`${CONTEXT_KEYS.certificateArn} must be an ACM certificate ARN (arn:aws:acm:us-east-1:<account>:certificate/<id>)`);
    } else if (arn[1] !== CLOUDFRONT_CERTIFICATE_REGION) {
      problems.push(
        `${CONTEXT_KEYS.certificateArn} is in ${arn[1] || 'no region'}: CloudFront only uses ACM certificates from ${CLOUDFRONT_CERTIFICATE_REGION}; request or import the certificate there (aws acm request-certificate --region ${CLOUDFRONT_CERTIFICATE_REGION} ...)`,
      );
    }
  }
  const legacyExports = ctx(CONTEXT_KEYS.legacyExports);
  if (
    legacyExports !== undefined &&
    legacyExports !== true &&
    legacyExports !== false &&
    legacyExports !== 'true' &&
    legacyExports !== 'false'
  ) {
    problems.push(`${CONTEXT_KEYS.legacyExports} must be true or false, not ${JSON.stringify(legacyExports)}`);
  }
  // `-c account=...` gives a string; cdk.json may hold the account id as a number.
  const contextText = (key: string): string | undefined => {
    const value = ctx(key);
    if (value === undefined || typeof value === 'string' || typeof value === 'number') return value?.toString();
    problems.push(`${key} must be a string, not ${JSON.stringify(value)}`);
    return undefined;
  };
  const previousOriginSecretVersion = contextText(CONTEXT_KEYS.originSecretPreviousVersion) || undefined;
  if (previousOriginSecretVersion !== undefined && !/^[A-Za-z0-9-]{32,64}$/.test(previousOriginSecretVersion)) {
    problems.push(
      `${CONTEXT_KEYS.originSecretPreviousVersion} must be a Secrets Manager version id (aws secretsmanager list-secret-version-ids), not ${JSON.stringify(previousOriginSecretVersion)}`,
    );
  }
  const account = contextText(CONTEXT_KEYS.account);
  const region = contextText(CONTEXT_KEYS.region);
  if ((account === undefined) !== (region === undefined)) {
    problems.push(`${CONTEXT_KEYS.account} and ${CONTEXT_KEYS.region} go together (or leave both out for environment-agnostic stacks)`);
  }
  if (problems.length > 0) {
    throw new Error(`Invalid configuration for environment "${envName}":\n- ${problems.join('\n- ')}`);
  }
  return {
    envName,
    stackPrefix: `ShopEdge-${envName}`,
    deployEnv: account !== undefined && region !== undefined ? { account, region } : undefined,
    cache: p.cache,
    network: p.network,
    api: p.api,
    realtime: p.realtime,
    wsMaxConnectionsPerTenant: p.wsMaxConnectionsPerTenant,
    streamConsumerConcurrency: p.streamConsumerConcurrency,
    logRetention: p.logRetentionDays,
    retainData: p.retainData,
    jwt: { issuer: issuer as string, audience: audience as string, jwksUrl: jwksUrl as string },
    alarmEmail: p.alarmEmail,
    cdnOnly: p.cdnOnly,
    webAclArn: p.webAclArn,
    customDomain:
      p.domainName !== undefined && p.certificateArn !== undefined
        ? { domainName: p.domainName, certificateArn: p.certificateArn }
        : undefined,
    legacyExports: legacyExports === true || legacyExports === 'true',
    corsOrigins: [...new Set(p.corsOrigins)],
    previousOriginSecretVersion,
  };
}
