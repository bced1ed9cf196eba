/**
 * Per-user fixed-window rate limit in Redis. Fails open: while Redis is unavailable nobody is
 * refused (availability of the shop beats precision of the limit).
 */
import { CircuitBreaker } from '../cache/circuit-breaker';
import { rateLimitKey } from '../cache/keys';
import type { L2Store } from '../cache/l2';

export interface RateDecision {
  readonly allowed: boolean;
  readonly retryAfterSeconds: number;
}

export class RateLimiter {
  private readonly breaker = new CircuitBreaker();

  constructor(
    private readonly store: L2Store | undefined,
    private readonly limitPerMinute: number,
    private readonly windowMs = 60_000,
  ) {}

  async check(tenantId: string, userId: string): Promise<RateDecision> {
    if (!this.store) return { allowed: true, retryAfterSeconds: 0 };
    const now = Date.now();
    const windowStart = now - (now % this.windowMs);
    const retryAfterSeconds = Math.ceil((windowStart + this.windowMs - now) / 1000);
    try {
      const store = this.store;
      const count = await this.breaker.run(() => store.incrementWindow(rateLimitKey(tenantId, userId, windowStart), this.windowMs));
      return { allowed: count <= this.limitPerMinute, retryAfterSeconds };
    } catch {
      return { allowed: true, retryAfterSeconds: 0 };
    }
  }
}
