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

/**
 * The wait after a handshake refused with 429 (the user or the tenant has as many connections as
 * the server allows): exponential with equal jitter, a draw in [ceiling / 2, ceiling) with
 * ceiling = min(cap, base * 2^attempt), so never at once; attempt counts the refusals in a row from 0.
 */
export function limitedDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 52));
  return Math.floor(ceiling / 2 + random() * (ceiling / 2));
}
