/**
 * Entity-tags of conditional requests (RFC 9110 §8.8.3, §13.1.1, §13.1.2): If-Match compares
 * strongly (a weak tag never matches), If-None-Match weakly (W/"x" matches "x"); "*" alone matches
 * any current representation; a list is comma-separated, and a comma may sit inside a quoted tag.
 */

export interface EntityTag {
  readonly weak: boolean;
  /** The quoted part, quotes included: "abc". */
  readonly opaque: string;
}

/** entity-tag = [ W/ ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text */
const ENTITY_TAG = /^(W\/)?("[\x21\x23-\x7e\x80-\xff]*")/;

/** The field value's tags, or '*'; members that are not entity-tags are dropped (they match nothing). */
export function parseEntityTags(fieldValue: string): '*' | EntityTag[] {
  if (fieldValue.trim() === '*') return '*';
  const tags: EntityTag[] = [];
  let rest = fieldValue;
  while (rest.length > 0) {
    rest = rest.replace(/^[\s,]+/, '');
    const found = ENTITY_TAG.exec(rest);
    if (found?.[2] !== undefined) {
      tags.push({ weak: found[1] !== undefined, opaque: found[2] });
      rest = rest.slice(found[0].length);
    } else {
      // Not an entity-tag: skip to the next member.
      const comma = rest.indexOf(',');
      rest = comma < 0 ? '' : rest.slice(comma);
    }
  }
  return tags;
}

export function parseEntityTag(value: string): EntityTag | undefined {
  const tags = parseEntityTags(value);
  return tags !== '*' && tags.length === 1 ? tags[0] : undefined;
}

/** If-Match: true when the request may proceed (a current representation whose tag is listed, compared strongly). */
export function ifMatchHolds(fieldValue: string, current: string | undefined): boolean {
  const tags = parseEntityTags(fieldValue);
  if (tags === '*') return current !== undefined;
  const tag = current === undefined ? undefined : parseEntityTag(current);
  return tag !== undefined && !tag.weak && tags.some((t) => !t.weak && t.opaque === tag.opaque);
}

/**
 * If-None-Match, judged on a current representation (its tag, if it has one): false when the
 * client's copy is current, so a GET answers 304: "*", or a listed tag that matches weakly.
 */
export function ifNoneMatchHolds(fieldValue: string, current: string | undefined): boolean {
  const tags = parseEntityTags(fieldValue);
  if (tags === '*') return false;
  const tag = current === undefined ? undefined : parseEntityTag(current);
  return tag === undefined || !tags.some((t) => t.opaque === tag.opaque);
}
