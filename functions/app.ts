/**
 * The container's services, built once from validated config and reused by every invocation.
 * Tests that need their own wiring (a Redis they can kill) call setAppServices.
 */
import { ReconnectingL2Store, type L2Store } from './cache/l2-store';
import { TwoTierCache } from './cache/two-tier-cache';
import { CatalogService } from './catalog/catalog-service';
import { DynamoShopRepository, type ShopRepository } from './catalog/shop-repository';
import { CursorSigner } from './http/cursors';
import { RateLimiter } from './http/rate-limiter';
import { ConnectionStore } from './realtime/connection-store';
import { RealtimeService } from './realtime/realtime-service';
import { closeSharedDocumentClient, sharedDocumentClient } from './shared/clients/dynamodb';
import { closeSharedRedis, noteRedisError, redisConfigured, sharedRedisClient } from './shared/clients/redis';
import { readSecretString } from './shared/clients/secrets';
import { appConfig, cacheConfig, cursorConfig, redisConfig, tablesConfig } from './shared/config';
import { metricsCacheObserver } from './shared/observability';

export interface AppServices {
  readonly catalog: CatalogService;
  readonly cache: TwoTierCache;
  readonly repo: ShopRepository;
  readonly rateLimiter: RateLimiter;
  /** Signs and opens page cursors; its key is read on first use, so only the list functions read it. */
  readonly cursors: () => Promise<CursorSigner>;
  /** Absent when no Redis is configured (L1 only). */
  readonly l2?: L2Store;
}

/** What a function that only invalidates needs (the Invalidate consumer): the cache, no table. */
export interface CacheServices {
  readonly cache: TwoTierCache;
  /** Absent when no Redis is configured (L1 only). */
  readonly l2?: L2Store;
}

function buildCache(l2: L2Store | undefined): TwoTierCache {
  return new TwoTierCache({ settings: cacheConfig(), ...(l2 ? { l2 } : {}), observer: metricsCacheObserver });
}

export function buildAppServices(parts: { repo: ShopRepository; l2?: L2Store; cache?: TwoTierCache }): AppServices {
  const cache = parts.cache ?? buildCache(parts.l2);
  const app = appConfig();
  return {
    catalog: new CatalogService(parts.repo, cache, app),
    cache,
    repo: parts.repo,
    rateLimiter: new RateLimiter(parts.l2, app.rateLimitPerMinute),
    cursors: sharedCursorSigner,
    ...(parts.l2 ? { l2: parts.l2 } : {}),
  };
}

let cursorSigner: Promise<CursorSigner> | undefined;

/** The container's cursor signer: CURSOR_KEY, or the secret CURSOR_KEY_SECRET_ARN names, read once. */
export function sharedCursorSigner(): Promise<CursorSigner> {
  cursorSigner ??= (async () => {
    const config = cursorConfig();
    return new CursorSigner(config.keySecretArn !== undefined ? await readSecretString(config.keySecretArn) : (config.key as string));
  })().catch((error: unknown) => {
    cursorSigner = undefined; // a failed read is tried again by the next request
    throw error;
  });
  return cursorSigner;
}

let services: Promise<AppServices> | undefined;
let cacheOnly: Promise<CacheServices> | undefined;

/** The container's cache, built from the Redis and cache config only; shared with appServices. */
function containerCache(): Promise<CacheServices> {
  cacheOnly ??= (async () => {
    // Connected on first use; a failed connect is retried later, meanwhile reads use the origin.
    const redis = redisConfig();
    // WAIT for a replica after each invalidation, where there are replicas to wait for.
    const replicaAckMs = redis.replicas > 0 ? redis.replicaAckMs : 0;
    const l2 = redisConfigured() ? new ReconnectingL2Store(sharedRedisClient, noteRedisError, { replicaAckMs }) : undefined;
    return Promise.resolve({ cache: buildCache(l2), ...(l2 ? { l2 } : {}) });
  })().catch((error: unknown) => {
    cacheOnly = undefined; // let the next invocation try again
    throw error;
  });
  return cacheOnly;
}

/**
 * The cache alone, for a function that uses nothing else: it reads no table config, so a function
 * deployed without table names (the Invalidate consumer) can build it. One cache per container:
 * the app's, once its services exist.
 */
export function cacheServices(): Promise<CacheServices> {
  return services ?? containerCache();
}

export function appServices(): Promise<AppServices> {
  services ??= (async () => {
    const { cache, l2 } = await containerCache();
    return buildAppServices({
      repo: new DynamoShopRepository(sharedDocumentClient(), tablesConfig().shopTableName),
      cache,
      ...(l2 ? { l2 } : {}),
    });
  })().catch((error: unknown) => {
    services = undefined; // let the next invocation try again
    throw error;
  });
  return services;
}

export function setAppServices(value: AppServices | undefined): void {
  services = value ? Promise.resolve(value) : undefined;
  cacheOnly = undefined;
}

export interface RealtimeServices extends AppServices {
  readonly connections: ConnectionStore;
  readonly realtime: RealtimeService;
}

let realtime: Promise<RealtimeServices> | undefined;

/** The WebSocket routes' services: the app's, plus connections and sessions. */
export function realtimeServices(): Promise<RealtimeServices> {
  realtime ??= appServices().then((app) => {
    const connections = new ConnectionStore(sharedDocumentClient(), tablesConfig().connectionsTableName);
    const limits = { maxConnectionsPerUser: appConfig().wsMaxConnectionsPerUser };
    return { ...app, connections, realtime: new RealtimeService(connections, app.catalog, app.repo, limits) };
  });
  realtime.catch(() => {
    realtime = undefined;
  });
  return realtime;
}

export function setRealtimeServices(value: RealtimeServices | undefined): void {
  realtime = value ? Promise.resolve(value) : undefined;
}

/** Drops the container's services and closes their connections (the local stack's shutdown). */
export async function closeAppServices(): Promise<void> {
  services = undefined;
  cacheOnly = undefined;
  realtime = undefined;
  cursorSigner = undefined;
  await closeSharedRedis();
  closeSharedDocumentClient();
}
