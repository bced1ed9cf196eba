import { BadRequestError } from './errors';

/** Ids of tenants, products, orders and categories: the only shape that may reach a key. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * A page cursor: base64url of a position (at most two ids joined by "/", 129 bytes: 172
 * characters), a dot, and 22 characters of MAC. The shape only; functions/http/cursors.ts checks the MAC.
 */
export const CURSOR_PATTERN = /^[A-Za-z0-9_-]{2,172}\.[A-Za-z0-9_-]{22}$/;

export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

export function requireId(value: unknown, what: string): string {
  if (!isValidId(value)) throw new BadRequestError(`${what} must match ${ID_PATTERN.source}`);
  return value;
}
