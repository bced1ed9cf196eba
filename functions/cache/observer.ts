import type { BreakerState } from './circuit-breaker';

/** Metric names; the CloudWatch dashboard reads the same names. */
export type CacheMetric =
  | 'L1Hit'
  | 'L2Hit'
  | 'CacheMiss'
  | 'NegativeHit'
  | 'StaleServed'
  | 'LeaseWait'
  | 'LeaseWaitFallback'
  | 'L2Error'
  | 'InvalidationFailed'
  | 'InvalidationNotReplicated'
  | 'BreakerOpen';

/** What the cache reports; the Powertools adapter turns it into EMF metrics. */
export interface CacheObserver {
  count(metric: CacheMetric): void;
  originLatency(ms: number): void;
  breakerState(state: BreakerState): void;
}

export const silentObserver: CacheObserver = {
  count: () => undefined,
  originLatency: () => undefined,
  breakerState: () => undefined,
};

/** Counts in memory: for tests and the measurement scripts. */
export class CountingObserver implements CacheObserver {
  readonly counts = new Map<CacheMetric, number>();
  readonly states: BreakerState[] = [];
  count(metric: CacheMetric): void {
    this.counts.set(metric, (this.counts.get(metric) ?? 0) + 1);
  }
  originLatency(): void {}
  breakerState(state: BreakerState): void {
    this.states.push(state);
  }
  get(metric: CacheMetric): number {
    return this.counts.get(metric) ?? 0;
  }
}
