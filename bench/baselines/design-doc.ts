/**
 * The design document's cache service (/work/shared/seed/implementation-guide.md, "Core Cache
 * Service" and "Product Caching Implementation"), transcribed to TypeScript for the baselines:
 * plain cache-aside (GET, else load and SETEX) and invalidation by `KEYS pattern` + `DEL`.
 * Only what the benchmarks exercise; behaviour kept as written (no lease, no in-flight dedup).
 */
import type { Redis } from 'ioredis';

export class DesignDocCacheService {
  readonly defaultTTL = 300;

  constructor(private readonly redis: Redis) {}

  generateKey(tenantId: string, resource: string, identifier: string, modifier: string | null = null): string {
    const baseKey = `{${tenantId}}:${resource}:${identifier}`;
    return modifier ? `${baseKey}:${modifier}` : baseKey;
  }

  /** get(key, fallbackFn): Redis first, else the fallback, whose result is cached. (Its local Map fallback only serves when Redis fails.) */
  async get<T>(key: string, fallbackFn: () => Promise<T>): Promise<T | null> {
    const cached = await this.redis.get(key);
    if (cached) return JSON.parse(cached) as T;
    const data = await fallbackFn();
    await this.set(key, data);
    return data;
  }

  async set(key: string, value: unknown, ttl = this.defaultTTL): Promise<void> {
    await this.redis.setex(key, ttl, JSON.stringify(value));
  }

  /** "Pattern-based deletion for cache invalidation". */
  async deletePattern(pattern: string): Promise<number> {
    const keys = await this.redis.keys(pattern);
    if (keys.length > 0) await this.redis.del(...keys);
    return keys.length;
  }

  /** ProductService.invalidateRelatedCaches: what a product update runs. */
  async invalidateRelatedCaches(_productId: string, tenantId: string): Promise<void> {
    for (const pattern of designDocPatterns(tenantId)) await this.deletePattern(pattern);
  }
}

export function designDocPatterns(tenantId: string): string[] {
  return [
    `{${tenantId}}:products:*`, // product lists
    `{${tenantId}}:search:*`, // search results
    `marketplace:products:*`, // marketplace cache
    `{${tenantId}}:reports:product-popularity:*`, // reports
  ];
}
