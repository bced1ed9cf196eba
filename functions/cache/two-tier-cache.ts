/**
 * Cache-aside over two tiers: a bounded in-process LRU (L1) in front of Redis (L2).
 *
 * - Misses take a distributed lease (SET NX PX): of many concurrent misses on one key, across
 *   containers, one loads from the origin; the others poll briefly for the filled value.
 * - Entries carry the generation counters they were loaded under; a write bumps a counter
 *   (one command, whatever the number of keys) and every entry of that group is invalid at once.
 *   The fill is a Lua compare-and-set, so a slow loader cannot put back what a write invalidated.
 * - Stale entries are revalidated inside the request (a Lambda is frozen after it answers, so
 *   there is no background refresh): the lease holder reloads within a time budget, everyone
 *   else is served the stale value.
 * - "Not found" is cached too (shorter TTL), in a bounded set of slots where the entry has them;
 *   TTLs carry jitter so entries do not expire together.
 * - Per-entity counters are never created by a read: a read of an id that does not exist leaves
 *   no key behind. Filling an entity that exists creates its counter (if still absent) atomically
 *   with its entry, with a value no entry can carry yet.
 * - L2 sits behind a circuit breaker: while open, reads go straight to the origin.
 */
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { BreakerOpenError, CircuitBreaker, type BreakerOptions } from './circuit-breaker';
import { decodeEnvelope, encodeEnvelope, strongEtag, type Envelope } from './envelope';
import type { EntrySpec } from './keys';
import { ABSENT, type L2Store } from './l2';
import { silentObserver, type CacheObserver } from './observer';
import { sleep } from '../shared/retry';

export type TtlClass = 'short' | 'medium' | 'long';

export interface CacheSettings {
  readonly l1MaxEntries: number;
  readonly l1TtlMs: number;
  readonly ttlShortSeconds: number;
  readonly ttlMediumSeconds: number;
  readonly ttlLongSeconds: number;
  readonly staleSeconds: number;
  readonly negativeTtlSeconds: number;
  readonly compressAboveBytes: number;
  readonly leaseMs: number;
  readonly leaseWaitMs: number;
  readonly revalidateBudgetMs: number;
}

export interface Cached<T> {
  /** null: the origin said "not found" (possibly cached). */
  readonly value: T | null;
  readonly etag: string | undefined;
  readonly source: 'l1' | 'l2' | 'stale' | 'origin';
}

/** The port the domain sees. */
export interface ReadThroughCache {
  getOrLoad<T>(entry: EntrySpec, ttl: TtlClass, load: () => Promise<T | null>): Promise<Cached<T>>;
  /** Invalidates every entry under these generation counters; false if L2 could not be told, or no replica acknowledged it. */
  invalidate(generationKeys: readonly string[]): Promise<boolean>;
  /**
   * The same, telling a bump that no replica acknowledged in time ('applied': reads see it, a
   * failover before the replica has it would undo it) from one L2 never got ('failed').
   */
  invalidateWithOutcome(generationKeys: readonly string[]): Promise<InvalidationOutcome>;
}

export type InvalidationOutcome = 'replicated' | 'applied' | 'failed';

interface L1Entry {
  readonly envelope: Envelope<unknown>;
  /** The counters `envelope.g` lists values of. */
  readonly generations: readonly string[];
}

/** Where one kind of answer of an entry is kept in L2, and the counters it is valid under. */
interface View {
  readonly key: string;
  readonly generations: readonly string[];
}

/** What one L2 read found: the entry's valid answer, if any, and the value of every counter it involves. */
interface L2Snapshot<T> {
  readonly envelope: Envelope<T> | undefined;
  readonly current: ReadonlyMap<string, string>;
}

export interface TwoTierCacheOptions {
  readonly settings: CacheSettings;
  /** Absent: L1 only, with in-process generations. */
  readonly l2?: L2Store;
  readonly observer?: CacheObserver;
  readonly breaker?: CircuitBreaker | BreakerOptions;
  readonly random?: () => number;
}

export class TwoTierCache implements ReadThroughCache {
  private readonly l1: LRUCache<string, L1Entry> | undefined;
  /** Last generation values this container saw, per counter key (bounded). */
  private readonly generations: LRUCache<string, string>;
  /** Loads in progress in this container, by entry key, with the generations they depend on. */
  private readonly inFlight = new Map<string, { readonly work: Promise<Cached<unknown>>; readonly generations: readonly string[] }>();
  private readonly breaker: CircuitBreaker;
  private readonly observer: CacheObserver;
  private readonly random: () => number;
  private localGeneration = 0;

  constructor(private readonly options: TwoTierCacheOptions) {
    const { settings } = options;
    this.observer = options.observer ?? silentObserver;
    this.random = options.random ?? Math.random;
    this.l1 =
      settings.l1MaxEntries > 0 && settings.l1TtlMs > 0
        ? new LRUCache<string, L1Entry>({ max: settings.l1MaxEntries, ttl: settings.l1TtlMs, ttlAutopurge: false })
        : undefined;
    this.generations = new LRUCache<string, string>({ max: Math.max(1000, settings.l1MaxEntries * 4) });
    this.breaker =
      options.breaker instanceof CircuitBreaker
        ? options.breaker
        : new CircuitBreaker({ ...options.breaker, onStateChange: (s) => this.onBreakerState(s) });
  }

  get breakerState() {
    return this.breaker.currentState;
  }

  async getOrLoad<T>(entry: EntrySpec, ttl: TtlClass, load: () => Promise<T | null>): Promise<Cached<T>> {
    const hit = this.fromL1<T>(entry);
    if (hit) return hit;
    const pending = this.inFlight.get(entry.key);
    if (pending) return pending.work as Promise<Cached<T>>;
    const flight = {
      work: this.fromL2OrOrigin(entry, ttl, load).finally(() => {
        if (this.inFlight.get(entry.key) === flight) this.inFlight.delete(entry.key);
      }),
      generations: countersOf(entry),
    };
    this.inFlight.set(entry.key, flight);
    return flight.work;
  }

  async invalidate(generationKeys: readonly string[]): Promise<boolean> {
    return (await this.invalidateWithOutcome(generationKeys)) === 'replicated';
  }

  async invalidateWithOutcome(generationKeys: readonly string[]): Promise<InvalidationOutcome> {
    const { l2 } = this.options;
    // Reads that start from now on must not join a load that began before this write.
    const bumped = new Set(generationKeys);
    for (const [key, flight] of this.inFlight) {
      if (flight.generations.some((g) => bumped.has(g))) this.inFlight.delete(key);
    }
    if (!l2) {
      for (const key of generationKeys) this.generations.set(key, `local:${++this.localGeneration}`);
      return 'replicated';
    }
    // This container's L1 entries of these groups die now, whatever L2 says.
    for (const key of generationKeys) this.generations.delete(key);
    try {
      const { values, replicated } = await this.breaker.run(() => l2.bump(generationKeys));
      generationKeys.forEach((key, i) => this.generations.set(key, values[i]));
      if (!replicated) {
        // Reads see the bump now, but a failover before the replica has it would undo it: not
        // done, so the stream consumer bumps again (the write itself has succeeded either way).
        this.observer.count('InvalidationNotReplicated');
        return 'applied';
      }
      return 'replicated';
    } catch {
      // The write is committed; the stream consumer bumps the same counters again, with retries.
      this.observer.count('InvalidationFailed');
      return 'failed';
    }
  }

  private fromL1<T>(entry: EntrySpec): Cached<T> | undefined {
    const cached = this.l1?.get(entry.key);
    if (!cached) return undefined;
    const { envelope } = cached;
    if (Date.now() >= envelope.s || !this.isCurrent(envelope.g, cached.generations)) {
      this.l1?.delete(entry.key);
      return undefined;
    }
    this.observer.count(envelope.v === null ? 'NegativeHit' : 'L1Hit');
    return { value: envelope.v as T | null, etag: envelope.v === null ? undefined : envelope.e, source: 'l1' };
  }

  /** True when every generation the entry was loaded under is still the one this container knows. */
  private isCurrent(loadedUnder: readonly string[], keys: readonly string[]): boolean {
    if (loadedUnder.length !== keys.length) return false;
    return keys.every((key, i) => this.generations.get(key) === loadedUnder[i]);
  }

  private async fromL2OrOrigin<T>(entry: EntrySpec, ttl: TtlClass, load: () => Promise<T | null>): Promise<Cached<T>> {
    const { l2 } = this.options;
    if (!l2) {
      const current = entry.generations.map((key) => this.localGenerationOf(key));
      const value = await this.timedLoad(load);
      const envelope = this.envelope(value, current, ttl);
      this.fillL1(entry, envelope, entry.generations);
      return { value, etag: value === null ? undefined : envelope.e, source: 'origin' };
    }
    let read: L2Snapshot<T>;
    try {
      read = await this.readL2<T>(l2, entry);
    } catch (error) {
      return this.originOnly(error, load);
    }
    const { envelope } = read;
    if (envelope) {
      if (Date.now() < envelope.s) {
        this.observer.count(envelope.v === null ? 'NegativeHit' : 'L2Hit');
        return { value: envelope.v, etag: envelope.v === null ? undefined : envelope.e, source: 'l2' };
      }
      return this.revalidate(entry, ttl, load, envelope, read.current);
    }
    this.observer.count('CacheMiss');
    return this.loadUnderLease(entry, ttl, load, read.current);
  }

  /**
   * One round trip for the entry, its not-found slot and every counter either depends on; the
   * answer valid under the current generations (the entry's own first), kept in L1 while fresh.
   */
  private async readL2<T>(l2: L2Store, entry: EntrySpec): Promise<L2Snapshot<T>> {
    const counters = countersOf(entry);
    const keys = entry.notFound ? [entry.key, entry.notFound.key] : [entry.key];
    const read = await this.breaker.run(() => l2.read(keys, counters, entry.perEntity ?? []));
    const current = new Map(counters.map((key, i) => [key, read.generations[i] ?? ABSENT]));
    for (const [key, value] of current) this.generations.set(key, value);
    const [found, notFound] = read.entries;
    const own = found ? this.decode<T>(found) : undefined;
    if (own && sameGenerations(own.g, valuesOf(entry.generations, current))) {
      if (Date.now() < own.s) this.fillL1(entry, own, entry.generations);
      return { envelope: own, current };
    }
    const slot = entry.notFound;
    const absent = slot && notFound ? this.decode<T>(notFound) : undefined;
    if (slot && absent && absent.v === null && absent.k === entry.key && sameGenerations(absent.g, valuesOf(slot.generations, current))) {
      if (Date.now() < absent.s) this.fillL1(entry, absent, slot.generations);
      return { envelope: absent, current };
    }
    return { envelope: undefined, current };
  }

  private async loadUnderLease<T>(
    entry: EntrySpec,
    ttl: TtlClass,
    load: () => Promise<T | null>,
    generations: ReadonlyMap<string, string>,
  ): Promise<Cached<T>> {
    const l2 = this.options.l2 as L2Store;
    const token = randomUUID();
    let leased: boolean;
    try {
      leased = await this.breaker.run(() => l2.acquireLease(entry.lease, token, this.options.settings.leaseMs));
    } catch (error) {
      return this.originOnly(error, load);
    }
    if (leased) {
      let value: T | null;
      try {
        value = await this.timedLoad(load);
      } catch (error) {
        await this.breaker.run(() => l2.releaseLease(entry.lease, token)).catch(() => undefined);
        throw error;
      }
      const envelope = await this.store(entry, ttl, value, generations, { key: entry.lease, token });
      return { value, etag: value === null ? undefined : envelope.e, source: 'origin' };
    }
    // Someone else is loading: wait briefly for their value.
    this.observer.count('LeaseWait');
    const deadline = Date.now() + this.options.settings.leaseWaitMs;
    let pause = 5;
    let latest = generations;
    while (Date.now() < deadline) {
      await sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
      pause = Math.min(pause * 2, 40);
      let read: L2Snapshot<T>;
      try {
        read = await this.readL2<T>(l2, entry);
      } catch (error) {
        return this.originOnly(error, load);
      }
      latest = read.current;
      const { envelope } = read;
      if (envelope) return { value: envelope.v, etag: envelope.v === null ? undefined : envelope.e, source: 'l2' };
    }
    // The holder is slow or gone: load ourselves (the guarded write keeps this safe).
    this.observer.count('LeaseWaitFallback');
    const value = await this.timedLoad(load);
    const envelope = await this.store(entry, ttl, value, latest);
    return { value, etag: value === null ? undefined : envelope.e, source: 'origin' };
  }

  private async revalidate<T>(
    entry: EntrySpec,
    ttl: TtlClass,
    load: () => Promise<T | null>,
    stale: Envelope<T>,
    generations: ReadonlyMap<string, string>,
  ): Promise<Cached<T>> {
    const l2 = this.options.l2 as L2Store;
    const servedStale = (): Cached<T> => {
      this.observer.count('StaleServed');
      return { value: stale.v, etag: stale.v === null ? undefined : stale.e, source: 'stale' };
    };
    const token = randomUUID();
    const leased = await this.breaker.run(() => l2.acquireLease(entry.lease, token, this.options.settings.leaseMs)).catch(() => false);
    if (!leased) return servedStale();
    const refresh = this.timedLoad(load).then(async (value): Promise<Cached<T>> => {
      const envelope = await this.store(entry, ttl, value, generations, { key: entry.lease, token });
      return { value, etag: value === null ? undefined : envelope.e, source: 'origin' };
    });
    // Within the request budget only; past it, the stale value answers and the refresh finishes on its own.
    const budget = sleep(this.options.settings.revalidateBudgetMs).then(() => undefined);
    const fresh = await Promise.race([refresh.catch(() => undefined), budget]);
    refresh.catch(() => this.breaker.run(() => l2.releaseLease(entry.lease, token)).catch(() => undefined));
    return fresh ?? servedStale();
  }

  private async originOnly<T>(error: unknown, load: () => Promise<T | null>): Promise<Cached<T>> {
    if (!(error instanceof BreakerOpenError)) this.observer.count('L2Error');
    const value = await this.timedLoad(load);
    return { value, etag: value === null ? undefined : strongEtag(value), source: 'origin' };
  }

  /**
   * The guarded fill, under the generations seen before loading: a "not found" into the entry's
   * not-found slot when it has one, anything else into the entry. A value (the entity exists)
   * creates its absent per-entity counters, with a value no entry can carry yet, in the same
   * atomic step that checks they are still absent: a write that created one meanwhile refuses
   * the fill, and one that comes after moves it on. A "not found" creates nothing.
   */
  private async store<T>(
    entry: EntrySpec,
    ttl: TtlClass,
    value: T | null,
    generations: ReadonlyMap<string, string>,
    lease?: { key: string; token: string },
  ): Promise<Envelope<T>> {
    const l2 = this.options.l2 as L2Store;
    const view: View = value === null && entry.notFound ? entry.notFound : entry;
    const expected = valuesOf(view.generations, generations);
    const perEntity = entry.perEntity ?? [];
    const create = view.generations.map((key, i) =>
      value !== null && expected[i] === ABSENT && perEntity.includes(key) ? `c${randomUUID()}` : '',
    );
    const envelope = this.envelope(
      value,
      expected.map((g, i) => create[i] || g),
      ttl,
      view.key === entry.key ? undefined : entry.key,
    );
    const hardTtlMs = envelope.s - envelope.c + this.options.settings.staleSeconds * 1000;
    try {
      const payload = encodeEnvelope(envelope, this.options.settings.compressAboveBytes);
      const written = await this.breaker.run(() =>
        l2.writeIfCurrent(view.key, view.generations, expected, payload, hardTtlMs, lease, create),
      );
      if (written) {
        view.generations.forEach((key, i) => {
          if (create[i]) this.generations.set(key, create[i]);
        });
        this.fillL1(entry, envelope, view.generations);
      }
    } catch {
      this.observer.count('L2Error');
    }
    return envelope;
  }

  private envelope<T>(value: T | null, generations: readonly string[], ttl: TtlClass, owner?: string): Envelope<T> {
    const now = Date.now();
    const { settings } = this.options;
    const seconds =
      value === null
        ? settings.negativeTtlSeconds
        : ttl === 'short'
          ? settings.ttlShortSeconds
          : ttl === 'medium'
            ? settings.ttlMediumSeconds
            : settings.ttlLongSeconds;
    // ±10% jitter so entries filled together do not expire together.
    const freshMs = Math.round(seconds * 1000 * (0.9 + 0.2 * this.random()));
    return {
      v: value,
      g: [...generations],
      c: now,
      s: now + freshMs,
      e: value === null ? '' : strongEtag(value),
      ...(owner !== undefined ? { k: owner } : {}),
    };
  }

  private fillL1(entry: EntrySpec, envelope: Envelope<unknown>, generations: readonly string[]): void {
    this.l1?.set(entry.key, { envelope, generations });
  }

  private localGenerationOf(key: string): string {
    let value = this.generations.get(key);
    if (value === undefined) {
      value = `local:${++this.localGeneration}`;
      this.generations.set(key, value);
    }
    return value;
  }

  private decode<T>(bytes: Buffer): Envelope<T> | undefined {
    try {
      return decodeEnvelope<T>(bytes);
    } catch {
      return undefined; // a corrupt entry is a miss
    }
  }

  private async timedLoad<T>(load: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await load();
    } finally {
      this.observer.originLatency(performance.now() - started);
    }
  }

  private onBreakerState(state: 'closed' | 'open' | 'half-open'): void {
    if (state === 'open') this.observer.count('BreakerOpen');
    this.observer.breakerState(state);
  }
}

function sameGenerations(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Every counter an entry's answers depend on, once each: its own, then its not-found slot's. */
function countersOf(entry: EntrySpec): string[] {
  return [...new Set([...entry.generations, ...(entry.notFound?.generations ?? [])])];
}

function valuesOf(keys: readonly string[], current: ReadonlyMap<string, string>): string[] {
  return keys.map((key) => current.get(key) ?? ABSENT);
}
