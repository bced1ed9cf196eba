/** What the cases share: the deployed cache settings, a realistic product, and a seeded catalogue. */
import { DynamoShopRepository } from '../../functions/catalog/dynamodb/shop-repository';
import type { Product } from '../../functions/catalog/model';
import { createDocumentClient } from '../../functions/shared/clients/dynamodb';
import { cacheConfig } from '../../functions/shared/config';
import type { CacheSettings } from '../../functions/cache/two-tier-cache';

export const TENANT = 'bench-tenant';

/** The settings a deployed function runs with: the defaults of functions/shared/config.ts (CACHE_* env vars apply). */
export function deployedCacheSettings(): CacheSettings {
  return { ...cacheConfig() };
}

export function productInput(id: string) {
  return {
    id,
    name: `Espresso beans ${id}`,
    description: 'Dark roast, chocolate and hazelnut. Whole beans, roasted in small batches every week; 1 kg bag with a one-way valve.',
    price: 2490,
    currency: 'EUR',
    category: 'coffee',
    listed: true,
  };
}

/** A product object of the same shape and size as the origin returns (for origins that are not DynamoDB). */
export function syntheticProduct(id: string): Product {
  return { ...productInput(id), tenantId: TENANT, version: 1, updatedAt: '2025-01-01T00:00:00.000Z' };
}

export function repository(endpoint: string, shopTable: string): DynamoShopRepository {
  return new DynamoShopRepository(createDocumentClient({ endpoint, timeoutMs: 5000 }), shopTable);
}

/** Creates products through the real repository (the write path the API uses). */
export async function seedProducts(repo: DynamoShopRepository, ids: readonly string[]): Promise<void> {
  for (const id of ids) await repo.createProduct(TENANT, productInput(id), 5);
}
