/**
 * Invalidation driven by the Shop table's stream: every committed product change, from any writer
 * (the API, a script, the console), bumps the generations of what it affects (the in-VPC consumer),
 * and purges the CDN paths the contract names (the fan-out, outside the VPC, where CloudFront's API
 * is reachable). Stock changes touch nothing: stock is never inside a cached body.
 */
import type { DynamoDBBatchResponse, DynamoDBRecord } from 'aws-lambda';
import type { CdnPurger } from '../cdn/cdn-purger';
import { changeOf, type Change } from '../realtime/changes';
import { generationKeys, productGenerations } from './keys';
import type { ReadThroughCache } from './two-tier-cache';

export const CDN_PATHS = { tenantProducts: '/api/products*', marketplace: '/api/marketplace/*' } as const;

function productChanges(records: readonly DynamoDBRecord[]): Change[] {
  return records.map(changeOf).filter((c): c is Change => c?.kind === 'product');
}

const touchesMarketplace = (change: Change) => change.before?.listed === true || change.after?.listed === true;

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
    if (await cache.invalidate([...generations])) return { batchItemFailures: [] };
    if (Date.now() + wait > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  // Retried by Lambda from the first product change; bumping a counter twice is harmless.
  return { batchItemFailures: [{ itemIdentifier: (changes[0] as Change).sequenceNumber }] };
}

/**
 * Purges the CDN paths a batch's product changes affect, coalesced. Called for every batch, product
 * changes or not: a purge CloudFront could not take earlier goes out with it (see CdnPurger).
 */
export async function purgeCdnFromStream(records: readonly DynamoDBRecord[], cdn: CdnPurger): Promise<void> {
  const changes = productChanges(records);
  const paths = new Set<string>();
  if (changes.length > 0) paths.add(CDN_PATHS.tenantProducts);
  if (changes.some(touchesMarketplace)) paths.add(CDN_PATHS.marketplace);
  // The stream's time, rounded down so never later than the commit: an invalidation in flight
  // covers the change only if it was created after that, whatever clock the writer had.
  await cdn.purge([...paths], changes.length > 0 ? Math.min(...changes.map((c) => c.recordedAt)) : Date.now());
}
