/**
 * The fan-out's pace against API Gateway's account throttle (every PostToConnection of the
 * account shares one token bucket; past it, 429). AIMD on the rate of posts:
 * - unpaced until a post is throttled: where nothing pushes back the fan-out runs as fast as its
 *   concurrency lets it;
 * - on a throttled post, the rate drops to DECREASE times what it was (the first time: the rate
 *   of the posts that went through over the last second, about the bucket's rate once its burst
 *   is spent). Once per round: the posts that had their turn before the rate dropped went at the
 *   old rate, and their 429s say nothing new; those still waiting for their turn take it again at
 *   the new rate;
 * - every post that goes through raises it, by INCREASE of the rate at the last drop per second
 *   of posting: it probes back up to the bucket's rate, and past it the next 429 drops it again.
 * Posts are spaced by 1/rate, whatever the concurrency, so a slow-down cannot turn into a storm
 * of retries (a rate is what the throttle counts, and a local post answers in a millisecond: a
 * concurrency limit alone would still send hundreds a second).
 * Back to unpaced once nothing was throttled for RELEASE_MS and nothing posted for IDLE_MS: the
 * bucket has refilled by then, and the next fan-out may use its burst.
 */

import { sleep } from '../shared/retry';

const DECREASE = 0.75;
const INCREASE = 0.1;
/** Posts a second it never goes below: one every 100 ms still probes whether the throttle has let go. */
const MIN_RATE = 10;
/** The additive step's least (posts a second, per second), however low the rate of the last drop. */
const MIN_STEP = 10;
/** The first drop, with next to nothing sent yet to measure: from this rate. */
const UNMEASURED_RATE = 20;
/** How far back the posts that went through are counted, for the first estimate of the rate. */
const WINDOW_MS = 1000;
const RELEASE_MS = 3000;
const IDLE_MS = 1000;

export interface PacerOptions {
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export class Pacer {
  /** Posts a second; Infinity: unpaced. */
  private rate = Number.POSITIVE_INFINITY;
  /** The rate before the last drop: the additive step is a fraction of it. */
  private reference = 0;
  /** When the next post may start (paced). */
  private nextAt = 0;
  /** Counts the drops: a turn taken in an earlier round cannot drop the rate again. */
  private round = 0;
  private throttledAt = Number.NEGATIVE_INFINITY;
  private lastTurnAt = Number.NEGATIVE_INFINITY;
  /** When the posts of the last WINDOW_MS went through, oldest first (from `head`). */
  private sentTimes: number[] = [];
  private head = 0;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: PacerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? sleep;
  }

  /** Posts a second it keeps to now (Infinity: unpaced). */
  get currentRate(): number {
    return this.rate;
  }

  /** The round an unpaced post takes its turn in (hand it to throttled()). */
  get currentRound(): number {
    return this.round;
  }

  /** True while posts wait for their turn (else turn() need not be awaited). */
  get paced(): boolean {
    if (this.rate === Number.POSITIVE_INFINITY) return false;
    const at = this.now();
    if (at - this.throttledAt >= RELEASE_MS && at - this.lastTurnAt >= IDLE_MS) {
      this.rate = Number.POSITIVE_INFINITY;
      return false;
    }
    return true;
  }

  /** Waits for the next post's turn; the round it is taken in (hand it to throttled()). */
  async turn(): Promise<number> {
    for (;;) {
      const round = this.round;
      if (this.paced) {
        const at = this.now();
        const start = Math.max(at, this.nextAt);
        this.nextAt = start + 1000 / this.rate;
        // Below a millisecond the timer cannot wait: such turns go together, the spacing kept on average.
        if (start - at >= 1) await this.sleep(start - at);
        // The rate dropped while this one waited: its turn, reserved at the old rate, is taken again.
        if (round !== this.round) continue;
      }
      this.lastTurnAt = this.now();
      return round;
    }
  }

  /** A post went through. */
  sent(): void {
    const at = this.now();
    this.sentTimes.push(at);
    while (this.sentTimes[this.head] !== undefined && (this.sentTimes[this.head] as number) < at - WINDOW_MS) this.head++;
    if (this.head > 1024 && this.head * 2 > this.sentTimes.length) {
      this.sentTimes = this.sentTimes.slice(this.head);
      this.head = 0;
    }
    if (this.rate !== Number.POSITIVE_INFINITY) this.rate += Math.max(MIN_STEP, this.reference * INCREASE) / this.rate;
  }

  /** A post whose turn was in `round` (turn()'s answer) was throttled. */
  throttled(round: number): void {
    const at = this.now();
    this.throttledAt = at;
    if (round !== this.round) return;
    const from = this.rate === Number.POSITIVE_INFINITY ? this.observedRate(at) : this.rate;
    this.reference = from;
    this.rate = Math.max(MIN_RATE, from * DECREASE);
    this.round++;
    this.nextAt = at + 1000 / this.rate;
  }

  /** Posts a second that went through over the last WINDOW_MS (or since the first of them, if later). */
  private observedRate(at: number): number {
    const count = this.sentTimes.length - this.head;
    if (count < 10) return UNMEASURED_RATE;
    const first = this.sentTimes[this.head] as number;
    return (count * 1000) / Math.max(50, Math.min(WINDOW_MS, at - first));
  }
}
