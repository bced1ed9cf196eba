/** Reconnect delays: exponential backoff with full jitter (a uniform draw in [0, min(cap, base * 2^attempt))). */

export interface BackoffOptions {
  /** First ceiling, in ms. */
  readonly baseMs: number;
  /** Largest ceiling, in ms. */
  readonly capMs: number;
}

/** attempt counts from 0; random returns [0, 1) like Math.random. */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 52));
  return Math.floor(random() * ceiling);
}
