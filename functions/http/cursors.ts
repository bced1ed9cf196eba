/**
 * Page cursors, signed. A cursor is the position a listing resumes after (its ids, base64url) and a
 * MAC over that position, the route and the listing's owner (the tenant, or "marketplace"), keyed
 * by the deployment's cursor key. So a cursor is only ever one this deployment issued for this
 * route and this owner: a forged, tampered, cross-tenant or cross-route one is a 400 before any
 * cache or table is read, and the cursors a client can present are bounded by the data (no cache
 * entry or query per invented value). Cursors do not expire; they stay valid as long as the key.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { BadRequestError } from '../shared/errors';
import { CURSOR_PATTERN, ID_PATTERN } from '../shared/ids';

/** The MAC is HMAC-SHA256 cut to 128 bits: 22 base64url characters. */
const MAC_BYTES = 16;
/** Keys shorter than this are refused (the generated secret has 64 characters). */
export const MIN_CURSOR_KEY_LENGTH = 32;

export interface CursorScope {
  /** The route that issues and takes the cursor (its name in the route table). */
  readonly route: string;
  /** Whose listing: the tenant id, or "marketplace". */
  readonly owner: string;
  /** How many ids a position of this listing has. */
  readonly parts: number;
}

export class CursorSigner {
  private readonly key: Buffer;

  constructor(key: string) {
    if (key.length < MIN_CURSOR_KEY_LENGTH) throw new Error(`the cursor key must be at least ${MIN_CURSOR_KEY_LENGTH} characters`);
    this.key = Buffer.from(key, 'utf8');
  }

  seal(scope: CursorScope, position: readonly string[]): string {
    if (position.length !== scope.parts || !position.every((id) => ID_PATTERN.test(id)))
      throw new Error(`refusing to sign a position that is not ${scope.parts} ids`);
    const payload = Buffer.from(position.join('/'), 'utf8').toString('base64url');
    return `${payload}.${this.mac(scope, payload).toString('base64url')}`;
  }

  /** The position the cursor names: a 400 unless this deployment signed it for this scope. */
  open(scope: CursorScope, cursor: string): string[] {
    const refused = new BadRequestError('cursor: is not a cursor this API issued for this listing');
    if (!CURSOR_PATTERN.test(cursor)) throw refused;
    const [payload = '', mac = ''] = cursor.split('.');
    const given = Buffer.from(mac, 'base64url');
    // Only the canonical spelling: the last character of 22 carries 2 bits, so 16 spellings decode
    // to the same MAC, and each would be another "cursor" (another cache key) for one position.
    if (given.length !== MAC_BYTES || given.toString('base64url') !== mac) throw refused;
    if (!timingSafeEqual(given, this.mac(scope, payload))) throw refused;
    // Only a holder of the key could have made one that fails here; still, no other shape goes on.
    const position = Buffer.from(payload, 'base64url').toString('utf8').split('/');
    if (position.length !== scope.parts || !position.every((id) => ID_PATTERN.test(id))) throw refused;
    return position;
  }

  private mac(scope: CursorScope, payload: string): Buffer {
    // Route and owner are ids and payload is base64url: none holds a newline, so the fields cannot run together.
    return createHmac('sha256', this.key)
      .update(['shop-edge page cursor v1', scope.route, scope.owner, payload].join('\n'))
      .digest()
      .subarray(0, MAC_BYTES);
  }
}

export interface PageAnswer<T> {
  readonly data: readonly T[];
  readonly nextCursor: string | null;
  readonly etag: string;
}

/** One listing's cursors: opens the one a request brings, answers a page with the next one sealed. */
export interface PageCursors {
  /** undefined (the first page) for undefined; 400 for a cursor not issued for this listing. */
  open(cursor: string | undefined): string[] | undefined;
  /**
   * The page as the route answers it. Its ETag covers the cursor too (the page's own ETag covers
   * the position only), so a new key is a new representation, never a 304 that keeps an old cursor.
   */
  answer<T>(page: { readonly data: readonly T[]; readonly next: readonly string[] | null }, pageEtag: string): PageAnswer<T>;
}

export function pageCursors(signer: CursorSigner, scope: CursorScope): PageCursors {
  return {
    open: (cursor) => (cursor === undefined ? undefined : signer.open(scope, cursor)),
    answer: (page, pageEtag) => {
      const nextCursor = page.next === null ? null : signer.seal(scope, page.next);
      const etag = `"${createHash('sha1')
        .update(`${pageEtag}\n${nextCursor ?? ''}`)
        .digest('base64url')}"`;
      return { data: page.data, nextCursor, etag };
    },
  };
}
