/**
 * The L2 port: what the two-tier cache needs of its second tier (functions/cache/l2-store.ts is
 * the Redis adapter). Generation counters make group invalidation one command whatever the number
 * of keys: no KEYS, no SCAN. Counters never go backwards, and counters kept per entity (a
 * product's) are never created by a read: a read reports them ABSENT. No Redis client here, so a
 * function with only an in-process cache (the WebSocket routes) loads none.
 */

/** The value a read reports for a per-entity counter that does not exist (no counter ever holds it). */
export const ABSENT = '';

export interface L2Read {
  /** What is stored at each entry key asked for, same order (null: nothing, or nothing valid). */
  readonly entries: readonly (Buffer | null)[];
  /** Current generation values, same order as the keys asked for; ABSENT for a missing per-entity counter. */
  readonly generations: readonly string[];
}

export interface BumpResult {
  readonly values: string[];
  /**
   * False when a master took the bump but no replica acknowledged it within the bound: the bump
   * is visible to reads now, but a failover of that master before its replica catches up would
   * lose it. The caller reports the invalidation as not done, so it is bumped again.
   */
  readonly replicated: boolean;
}

export interface L2Store {
  /**
   * One round trip: the entries and their generation counters. A missing counter is created from
   * server time (and no entry is returned: none can be valid under it), except the `perEntity`
   * ones, reported ABSENT and left absent.
   */
  read(entryKeys: readonly string[], generationKeys: readonly string[], perEntity?: readonly string[]): Promise<L2Read>;
  /**
   * Stores the entry only if every counter still has the value seen when loading began, ABSENT
   * meaning "still does not exist" (stale-set guard); then creates the counters `create` names a
   * value for (those expected ABSENT), in the same atomic step. Releases the lease if held.
   */
  writeIfCurrent(
    entryKey: string,
    generationKeys: readonly string[],
    expected: readonly string[],
    payload: Buffer,
    ttlMs: number,
    lease?: { key: string; token: string },
    create?: readonly string[],
  ): Promise<boolean>;
  /** SET NX PX: true when this caller now holds the lease. */
  acquireLease(leaseKey: string, token: string, ttlMs: number): Promise<boolean>;
  releaseLease(leaseKey: string, token: string): Promise<void>;
  /**
   * Bumps each counter; keys may live in different slots. Returns the new values, and whether a
   * replica of every master that took a bump has it (true when replica acknowledgement is off).
   */
  bump(generationKeys: readonly string[]): Promise<BumpResult>;
  /** Fixed-window counter: increments and returns the count, setting the TTL on first use. */
  incrementWindow(key: string, windowMs: number): Promise<number>;
  /**
   * Resolves once the store has a connection to send commands on, or once its connect timeout is
   * over (what follows then fails as a command would): a container's first connect (TCP, TLS,
   * AUTH, the token's secret read) is not a measure of the server's health. Never rejects.
   */
  ready(): Promise<void>;
  ping(): Promise<void>;
}
