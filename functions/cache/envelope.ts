/**
 * The cache entry envelope: value, the generations it was loaded under, timestamps and ETag.
 * Stored as JSON; payloads above a threshold are deflated and marked by a leading 0x01 byte
 * (JSON always starts with '{', so the two cannot be confused).
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { createHash } from 'node:crypto';

export interface Envelope<T> {
  /** null: a cached "not found" (negative caching). */
  readonly v: T | null;
  /** Generation values (same order as the entry's generation keys) at load start. */
  readonly g: readonly string[];
  /** Created at, epoch ms. */
  readonly c: number;
  /** Soft expiry, epoch ms: after it the entry is stale and gets revalidated. */
  readonly s: number;
  /** Strong ETag of the value. */
  readonly e: string;
  /** In a not-found slot (shared by many ids): the key of the entry whose "not found" this is. */
  readonly k?: string;
}

const COMPRESSED = 0x01;

export function encodeEnvelope<T>(envelope: Envelope<T>, compressAboveBytes: number): Buffer {
  const json = Buffer.from(JSON.stringify(envelope));
  if (json.length <= compressAboveBytes) return json;
  return Buffer.concat([Buffer.of(COMPRESSED), deflateRawSync(json, { level: 1 })]);
}

export function decodeEnvelope<T>(bytes: Buffer): Envelope<T> {
  const json = bytes[0] === COMPRESSED ? inflateRawSync(bytes.subarray(1)) : bytes;
  return JSON.parse(json.toString('utf8')) as Envelope<T>;
}

export function strongEtag(value: unknown): string {
  return `"${createHash('sha1')
    // lib.d.ts types JSON.stringify as string, but it returns undefined for undefined (and functions).
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- see above
    .update(JSON.stringify(value) ?? 'null')
    .digest('base64url')}"`;
}
