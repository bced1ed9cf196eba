/**
 * Cache invalidation driven by the Shop table's stream (the in-VPC consumer): every committed
 * product change, from any writer (the API, a script, the console), bumps the generations of what
 * it affects. Stock changes touch nothing: stock is never inside a cached body. The CDN side of the
 * same changes is cdn-purge.ts (the fan-out, outside the VPC, where CloudFront's API is reachable).
 */
import type { DynamoDBBatchResponse, DynamoDBRecord } from 'aws-lambda';
import { generationKeys, productGenerations } from '../cache/keys';
import type { ReadThroughCache } from '../cache/two-tier-cache';
import { productChanges, touchesMarketplace, type Change } from './changes';
import { sleep } from '../shared/retry';

/**
 * How long a batch keeps trying while the cache is unreachable (a cold start's first connect, a
 * failover) before it hands the records back to Lambda. Lambda retries a failed batch at once and
 * only a few times (MaximumRetryAttempts), so giving up at the first refusal would send an
 * invalidation to the failure queue within a second of a hiccup; nobody waits on this batch.
 */
export const INVALIDATION_PATIENCE_MS = 8000;

export async function invalidateCacheFromStream(
  records: readonly DynamoDBRecord[],
  cache: ReadThroughCache,
  patienceMs: number = INVALIDATION_PATIENCE_MS,
): Promise<DynamoDBBatchResponse> {
  const changes = productChanges(records);
  const generations = new Set<string>();
  for (const change of changes) {
    for (const key of productGenerations(change.tenantId, change.id)) generations.add(key);
    generations.add(generationKeys.productLists(change.tenantId));
    if (touchesMarketplace(change)) generations.add(generationKeys.marketplace());
  }
  if (generations.size === 0) return { batchItemFailures: [] };
  const deadline = Date.now() + patienceMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
    const outcome = await cache.invalidateWithOutcome([...generations]);
    if (outcome === 'replicated') return { batchItemFailures: [] };
    if (Date.now() + wait > deadline) {
      // Applied on the master all along, and no replica took it in time: a shard without a replica
      // (after a failover, until ElastiCache replaces the node) can do no better, and failing the
      // batch would only send it to the failure queue. Counted as InvalidationNotReplicated.
      if (outcome === 'applied') return { batchItemFailures: [] };
      break;
    }
    await sleep(wait);
  }
  // Retried by Lambda from the first product change; bumping a counter twice is harmless.
  return { batchItemFailures: [{ itemIdentifier: (changes[0] as Change).sequenceNumber }] };
}
