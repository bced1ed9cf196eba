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
  /**
   * Those of `generations` kept per entity (one product's): a read never creates them, so reading
   * an id that does not exist leaves no counter behind. The fill of an entity that exists creates
   * them, atomically with its entry and only if still absent, so their number is bounded by the
   * entities that exist (a write creates them too: writes only reach existing entities).
   */
  readonly perEntity?: readonly string[];
  /**
   * Where a "not found" of this entry is kept instead of `key`: one of a fixed number of slots of
   * the tenant, shared by every id that hashes to it (the last one cached wins), under generations
   * of its own. So not-found answers, however many ids are asked for, take a bounded number of keys.
   */
  readonly notFound?: { readonly key: string; readonly generations: readonly string[] };
}

/** Not-found slots per tenant: at most this many cached not-found answers, and as many slot counters. */
export const NOT_FOUND_SLOTS = 1024;

/** The not-found slot of a product id (a stable hash; ids are validated, so plain ASCII). */
export function notFoundSlot(id: string): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0) % NOT_FOUND_SLOTS;
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
  /** One product of a tenant. Created by a write or by caching the product, never by a read of a missing id. */
  product: (tenantId: string, productId: string) => `${tenantTag(tenantId)}:g:p:${assertId(productId)}`,
  /**
   * The not-found slot a product id hashes to: guards the cached "not found" kept there, so a
   * product that comes to exist is never answered 404 from the cache, even when its own counter
   * is lost. At most NOT_FOUND_SLOTS per tenant.
   */
  productSlot: (tenantId: string, productId: string) => `${tenantTag(tenantId)}:g:s:${notFoundSlot(assertId(productId))}`,
  /** Every list and search result of a tenant. */
  productLists: (tenantId: string) => `${tenantTag(tenantId)}:g:lists`,
  /** Every marketplace page (all tenants). */
  marketplace: () => `${MARKETPLACE_TAG}:g`,
} as const;

/** The counters a change of one product bumps (with the lists', and the marketplace's when it is listed). */
export function productGenerations(tenantId: string, productId: string): string[] {
  return [generationKeys.product(tenantId, productId), generationKeys.productSlot(tenantId, productId)];
}

function entry(tag: string, name: string, generations: string[]): EntrySpec {
  return { key: `${tag}:e:${name}`, lease: `${tag}:l:${name}`, generations };
}

export const entries = {
  product: (tenantId: string, productId: string): EntrySpec => {
    const tenant = generationKeys.tenant(tenantId);
    const product = generationKeys.product(tenantId, productId);
    return {
      ...entry(tenantTag(tenantId), `p:${assertId(productId)}`, [tenant, product]),
      perEntity: [product],
      notFound: {
        key: `${tenantTag(tenantId)}:e:nf:${notFoundSlot(productId)}`,
        generations: [tenant, product, generationKeys.productSlot(tenantId, productId)],
      },
    };
  },
  productList: (tenantId: string, query: Record<string, unknown>): EntrySpec =>
    entry(tenantTag(tenantId), `list:${digest(query)}`, [generationKeys.tenant(tenantId), generationKeys.productLists(tenantId)]),
  marketplace: (query: Record<string, unknown>): EntrySpec =>
    entry(MARKETPLACE_TAG, `list:${digest(query)}`, [generationKeys.marketplace()]),
} as const;

/** Rate-limit window counter of one user; tagged by user so it spreads over the cluster. */
export function rateLimitKey(tenantId: string, userId: string, windowStart: number): string {
  return `{rl:${assertId(tenantId)}:${digest(userId)}}:${windowStart}`;
}
