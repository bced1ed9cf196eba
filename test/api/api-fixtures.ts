/**
 * The REST API end to end: the local REST front (API Gateway's events and authorizer), the real
 * handlers, real Redis and DynamoDB Local. Services can be rewired (wireServices) to count calls
 * or to point at something that is down.
 */
import { Redis } from 'ioredis';
import { RedisL2Store } from '../../functions/cache/l2-store';
import { DynamoShopRepository } from '../../functions/catalog/dynamodb/shop-repository';
import type { ShopRepository } from '../../functions/catalog/ports';
import { resetConfig } from '../../functions/shared/config';
import { startRestFront, type RestFront } from '../../local/rest-front';
import { mintDevToken } from '../../local/tokens';
import { redisSingleUrl, testDocumentClient, testTables, uniqueId } from '../support';
import { restCall, type CallOptions } from '../support/rest';
import { unwireServices, wireServices } from '../support/services';

export interface Api {
  readonly front: RestFront;
  readonly redis: Redis;
  readonly repo: ShopRepository;
  call(method: string, path: string, options?: CallOptions): Promise<Response>;
  token(tenantId: string, permissions?: string[]): Promise<string>;
  /** Rewires the handlers' services (restore() puts the real ones back). */
  rewire(parts: { repo?: ShopRepository; rateLimitPerMinute?: number }): void;
  restore(): void;
  close(): Promise<void>;
}

export function tenantId(prefix = 't'): string {
  return uniqueId(prefix)
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .slice(0, 64);
}

export async function startApi(): Promise<Api> {
  const names = await testTables('api');
  process.env.REDIS_URL = redisSingleUrl();
  resetConfig();
  const redis = new Redis(redisSingleUrl());
  const repo = new DynamoShopRepository(testDocumentClient(), names.shop);
  const build = (parts: { repo?: ShopRepository; rateLimitPerMinute?: number } = {}): void => {
    if (parts.rateLimitPerMinute) process.env.RATE_LIMIT_PER_MINUTE = String(parts.rateLimitPerMinute);
    resetConfig();
    wireServices({ repo: parts.repo ?? repo, l2: new RedisL2Store(redis) });
    delete process.env.RATE_LIMIT_PER_MINUTE;
    resetConfig();
  };
  build();
  const front = await startRestFront({ port: 0 });
  const tokens = new Map<string, string>();
  return {
    front,
    redis,
    repo,
    call: (method, path, options) => restCall(front.url, method, path, options),
    async token(tenant, permissions) {
      const key = `${tenant}|${permissions?.join(',') ?? '*'}`;
      if (!tokens.has(key)) tokens.set(key, await mintDevToken({ tenantId: tenant, ...(permissions ? { permissions } : {}) }));
      return tokens.get(key) as string;
    },
    rewire(parts) {
      build(parts);
    },
    restore() {
      build();
    },
    async close() {
      await front.close();
      unwireServices();
      await redis.quit();
    },
  };
}

/** Wraps a repository and counts every call that reaches it. */
export function countingRepository(inner: ShopRepository): { repo: ShopRepository; calls: () => number } {
  let calls = 0;
  const repo = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { repo, calls: () => calls };
}

export async function json(response: Response): Promise<any> {
  const text = await response.text();
  return text ? JSON.parse(text) : undefined;
}
