/**
 * The CDN side of the Shop table's stream (the fan-out, outside the VPC, where CloudFront's API is
 * reachable): every batch purges the CDN paths its product changes affect, coalesced, through the
 * CdnPurger port (functions/cdn/cdn-purger.ts is its CloudFront adapter). Stock, order and
 * dashboard changes purge nothing: no cached body holds them.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import { cdnPurgePaths, type CdnPurgePaths } from '../cdn/behaviours';
import type { CdnPurger } from '../cdn/cdn-purger';
import { REST_ROUTES } from '../routes';
import { productChanges, touchesMarketplace } from './changes';

/**
 * From the route table, as the CloudFront behaviours are: the tenant product behaviours for every
 * product change, the marketplace's for a change of a listed product.
 */
export const CDN_PURGE_PATHS: CdnPurgePaths = cdnPurgePaths(REST_ROUTES);

/**
 * Purges the CDN paths a batch's product changes affect, coalesced. Called for every batch, product
 * changes or not: a purge CloudFront could not take earlier goes out with it (see CdnPurger).
 */
export async function purgeCdnFromStream(records: readonly DynamoDBRecord[], cdn: CdnPurger): Promise<void> {
  const changes = productChanges(records);
  const paths = new Set<string>();
  if (changes.length > 0) for (const path of CDN_PURGE_PATHS.tenantProducts) paths.add(path);
  if (changes.some(touchesMarketplace)) for (const path of CDN_PURGE_PATHS.marketplace) paths.add(path);
  // The stream's time, rounded down so never later than the commit: an invalidation in flight
  // covers the change only if it was created after that, whatever clock the writer had.
  await cdn.purge([...paths], changes.length > 0 ? Math.min(...changes.map((c) => c.recordedAt)) : Date.now());
}
