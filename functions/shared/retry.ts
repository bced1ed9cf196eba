/**
 * Waiting between attempts, in one place: every retry loop of the functions (throttled posts,
 * CloudFront invalidations, DynamoDB transaction conflicts and unprocessed items, cache
 * invalidations, Redis reconnects) waits with these, so their backoff reads and behaves alike.
 */

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Exponential backoff with full jitter (a uniform draw in [0, min(cap, base * 2^attempt))),
 * attempt counting from 0: retries spread out instead of arriving together.
 */
export function fullJitter(attempt: number, baseMs: number, capMs = Number.POSITIVE_INFINITY, random: () => number = Math.random): number {
  return random() * Math.min(capMs, baseMs * 2 ** attempt);
}

/**
 * Exponential backoff with equal jitter (a draw in [ceiling / 2, ceiling)), attempt counting from
 * 0: for a wait that must not come too early (a reconnect after a refused connect).
 */
export function equalJitter(attempt: number, baseMs: number, capMs = Number.POSITIVE_INFINITY, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}
