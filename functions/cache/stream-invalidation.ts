/**
 * Cache invalidation driven by the Shop table's stream: every committed product change, from any
 * writer (the API, a script, the console), bumps the generations of what it affects and purges the
 * CDN paths the contract names. Stock changes touch nothing: stock is never inside a cached body.
 */
import type { DynamoDBBatchResponse, DynamoDBRecord } from 'aws-lambda';
import type { CdnPurger } from '../cdn/cdn-purger';
import { changeOf, type Change } from '../realtime/changes';
import { generationKeys } from './keys';
import type { ReadThroughCache } from './two-tier-cache';

export const CDN_PATHS = { tenantProducts: '/api/products*', marketplace: '/api/marketplace/*' } as const;

export async function invalidateFromStream(
  records: readonly DynamoDBRecord[],
  deps: { cache: ReadThroughCache; cdn: CdnPurger },
): Promise<DynamoDBBatchResponse> {
  const changes = records.map(changeOf).filter((c): c is Change => c?.kind === 'product');
  if (changes.length === 0) return { batchItemFailures: [] };
  const generations = new Set<string>();
  const paths = new Set<string>();
  for (const change of changes) {
    generations.add(generationKeys.product(change.tenantId, change.id));
    generations.add(generationKeys.productLists(change.tenantId));
    paths.add(CDN_PATHS.tenantProducts);
    if (change.before?.listed === true || change.after?.listed === true) {
      generations.add(generationKeys.marketplace());
      paths.add(CDN_PATHS.marketplace);
    }
  }
  const first = changes[0] as Change;
  const failAll = { batchItemFailures: [{ itemIdentifier: first.sequenceNumber }] };
  // Counters first: they are what this container and every other read against.
  if (!(await deps.cache.invalidate([...generations]))) return failAll;
  try {
    await deps.cdn.purge([...paths], Math.min(...changes.map((c) => c.committedAt)));
  } catch {
    return failAll; // retried by Lambda; bumping the counters again is harmless
  }
  return { batchItemFailures: [] };
}
