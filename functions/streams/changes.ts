/**
 * Committed changes of the Shop table, read from DynamoDB Streams records: which entity of which
 * tenant changed, and its images before and after. Shared by the fan-out, the cache invalidation
 * and the CDN purge.
 */
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue as StreamAttributeValue, DynamoDBRecord } from 'aws-lambda';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { isValidId } from '../shared/ids';

export type EntityKind = 'product' | 'stock' | 'order' | 'metrics';

export interface Change {
  readonly sequenceNumber: string;
  readonly kind: EntityKind;
  readonly tenantId: string;
  /** Product id, order id or metrics day. */
  readonly id: string;
  readonly before?: Record<string, unknown>;
  readonly after?: Record<string, unknown>;
  /**
   * When this version of the entity was committed (ms): the entity's own time attribute, the
   * instant REST reports for the same version (`updatedAt`, `lastUpdated`); `recordedAt` when the
   * image has none.
   */
  readonly committedAt: number;
  /**
   * When the stream recorded the change (ms): ApproximateCreationDateTime, rounded down by the
   * stream (to the second on AWS, to the minute on DynamoDB Local), so never later than the commit.
   */
  readonly recordedAt: number;
}

const KINDS: Record<string, EntityKind> = { P: 'product', S: 'stock', O: 'order', M: 'metrics' };

/** The attribute each writer of catalog/dynamodb/ sets to the commit time of the version it writes. */
const COMMITTED_AT: Readonly<Record<EntityKind, string | undefined>> = {
  product: 'updatedAt',
  stock: 'lastUpdated',
  order: 'updatedAt',
  metrics: undefined,
};

function timeOf(value: unknown): number | undefined {
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

function image(value: { [key: string]: StreamAttributeValue } | undefined): Record<string, unknown> | undefined {
  return value ? unmarshall(value as Record<string, AttributeValue>) : undefined;
}

/** undefined for records that are not a shop entity (or are malformed). */
export function changeOf(record: DynamoDBRecord): Change | undefined {
  const keys = image(record.dynamodb?.Keys);
  const pk = typeof keys?.pk === 'string' ? keys.pk : '';
  const sk = typeof keys?.sk === 'string' ? keys.sk : '';
  const tenantId = pk.startsWith('T#') ? pk.slice(2) : '';
  const kind = KINDS[sk.slice(0, 1)];
  const id = sk.slice(2);
  if (!kind || sk[1] !== '#' || !isValidId(tenantId) || !(isValidId(id) || /^\d{4}-\d{2}-\d{2}$/.test(id))) return undefined;
  const before = image(record.dynamodb?.OldImage);
  const after = image(record.dynamodb?.NewImage);
  const recordedAt = (record.dynamodb?.ApproximateCreationDateTime ?? Date.now() / 1000) * 1000;
  const attribute = COMMITTED_AT[kind];
  return {
    sequenceNumber: record.dynamodb?.SequenceNumber ?? '',
    kind,
    tenantId,
    id,
    ...(before ? { before } : {}),
    ...(after ? { after } : {}),
    committedAt: (attribute !== undefined ? timeOf(after?.[attribute]) : undefined) ?? recordedAt,
    recordedAt,
  };
}

export function versionOf(image: Record<string, unknown> | undefined): number {
  return typeof image?.version === 'number' ? image.version : 0;
}

/** A change that moved the entity's version (not a bookkeeping write such as the low-stock marker). */
export function isVersionChange(change: Change): boolean {
  return versionOf(change.after) > versionOf(change.before);
}

/** The batch's product changes, in stream order (the only changes anything cached holds). */
export function productChanges(records: readonly DynamoDBRecord[]): Change[] {
  return records.map(changeOf).filter((c): c is Change => c?.kind === 'product');
}

/** A product change the marketplace sees: listed before or after it (listing and unlisting both count). */
export function touchesMarketplace(change: Change): boolean {
  return change.before?.listed === true || change.after?.listed === true;
}
