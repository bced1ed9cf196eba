import { randomBytes } from 'node:crypto';

let counter = 0;

/**
 * A unique id for names shared across the run (tables, Redis keys, tenants): prefix, Jest worker,
 * time and randomness. Only [A-Za-z0-9_.-] (valid in table names and Redis keys) if the prefix is.
 */
export function uniqueId(prefix = 'id'): string {
  counter += 1;
  const worker = process.env.JEST_WORKER_ID ?? '0';
  return `${prefix}-w${worker}-${Date.now().toString(36)}-${counter.toString(36)}-${randomBytes(3).toString('hex')}`;
}
