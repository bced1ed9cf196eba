/**
 * A failure-rate circuit breaker with a half-open probe. While open, calls fail at once
 * (callers fall back to the origin) so a sick Redis costs nothing per request.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Failures counted over this rolling window. @default 10000 */
  readonly windowMs?: number;
  /** At least this many calls in the window before the rate is judged. @default 5 */
  readonly minCalls?: number;
  /** Open at or above this failure ratio. @default 0.5 */
  readonly failureRatio?: number;
  /** Time open before one probe is let through. @default 2000 */
  readonly cooldownMs?: number;
  readonly now?: () => number;
  readonly onStateChange?: (state: BreakerState) => void;
}

export class BreakerOpenError extends Error {
  constructor() {
    super('circuit open');
    this.name = 'BreakerOpenError';
  }
}

export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private windowStart = 0;
  private calls = 0;
  private failures = 0;
  private openedAt = 0;
  private probeInFlight = false;
  private readonly windowMs: number;
  private readonly minCalls: number;
  private readonly failureRatio: number;
  private readonly cooldownMs: number;
  private readonly now: () => number;

  constructor(private readonly options: BreakerOptions = {}) {
    this.windowMs = options.windowMs ?? 10_000;
    this.minCalls = options.minCalls ?? 5;
    this.failureRatio = options.failureRatio ?? 0.5;
    this.cooldownMs = options.cooldownMs ?? 2_000;
    this.now = options.now ?? Date.now;
  }

  get currentState(): BreakerState {
    if (this.state === 'open' && this.now() - this.openedAt >= this.cooldownMs) return 'half-open';
    return this.state;
  }

  /** Runs fn unless the breaker is open; records the outcome. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const state = this.currentState;
    if (state === 'open') throw new BreakerOpenError();
    if (state === 'half-open') {
      if (this.probeInFlight) throw new BreakerOpenError();
      this.probeInFlight = true;
      this.transition('half-open');
    }
    try {
      const result = await fn();
      this.record(true, state === 'half-open');
      return result;
    } catch (error) {
      this.record(false, state === 'half-open');
      throw error;
    } finally {
      if (state === 'half-open') this.probeInFlight = false;
    }
  }

  private record(ok: boolean, probe: boolean): void {
    const now = this.now();
    if (probe) {
      if (ok) {
        this.resetWindow(now);
        this.transition('closed');
      } else {
        this.open(now);
      }
      return;
    }
    if (now - this.windowStart > this.windowMs) this.resetWindow(now);
    this.calls++;
    if (!ok) this.failures++;
    if (this.state === 'closed' && this.calls >= this.minCalls && this.failures / this.calls >= this.failureRatio) {
      this.open(now);
    }
  }

  private open(now: number): void {
    this.openedAt = now;
    this.transition('open');
  }

  private resetWindow(now: number): void {
    this.windowStart = now;
    this.calls = 0;
    this.failures = 0;
  }

  private transition(state: BreakerState): void {
    if (this.state === state) return;
    this.state = state;
    this.options.onStateChange?.(state);
  }
}
