/**
 * Cache key layout. Every key of a tenant carries the hash tag {t:<tenant>} so all of them share
 * one cluster slot: an entry, its lease and its generation counters can be read and written by one
 * MGET or one Lua script, on a single node or a cluster alike. Only validated ids reach a key;
 * free text (search terms, cursors) is hashed first.
 */
import { createHash } from 'node:crypto';
import { ID_PATTERN } from '../shared/ids';

/** What one cached entry is: its own key and the generation counters that must match for it to be valid. */
export interface EntrySpec {
  readonly key: string;
  readonly lease: string;
  readonly generations: readonly string[];
}

function assertId(id: string): string {
  if (!ID_PATTERN.test(id)) throw new Error(`refusing to build a cache key from an unvalidated id`);
  return id;
}

export function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('base64url').slice(0, 22);
}

const tenantTag = (tenantId: string) => `{t:${assertId(tenantId)}}`;
const MARKETPLACE_TAG = '{m}';

export const generationKeys = {
  /** Everything of a tenant: bumped to drop a whole tenant at once. */
  tenant: (tenantId: string) => `${tenantTag(tenantId)}:g`,
  /** One product of a tenant. */
  product: (tenantId: string, productId: string) => `${tenantTag(tenantId)}:g:p:${assertId(productId)}`,
  /** Every list and search result of a tenant. */
  productLists: (tenantId: string) => `${tenantTag(tenantId)}:g:lists`,
  /** Every marketplace page (all tenants). */
  marketplace: () => `${MARKETPLACE_TAG}:g`,
} as const;

function entry(tag: string, name: string, generations: string[]): EntrySpec {
  return { key: `${tag}:e:${name}`, lease: `${tag}:l:${name}`, generations };
}

export const entries = {
  product: (tenantId: string, productId: string): EntrySpec =>
    entry(tenantTag(tenantId), `p:${assertId(productId)}`, [generationKeys.tenant(tenantId), generationKeys.product(tenantId, productId)]),
  productList: (tenantId: string, query: Record<string, unknown>): EntrySpec =>
    entry(tenantTag(tenantId), `list:${digest(query)}`, [generationKeys.tenant(tenantId), generationKeys.productLists(tenantId)]),
  marketplace: (query: Record<string, unknown>): EntrySpec =>
    entry(MARKETPLACE_TAG, `list:${digest(query)}`, [generationKeys.marketplace()]),
} as const;

/** Rate-limit window counter of one user; tagged by user so it spreads over the cluster. */
export function rateLimitKey(tenantId: string, userId: string, windowStart: number): string {
  return `{rl:${assertId(tenantId)}:${digest(userId)}}:${windowStart}`;
}
