/**
 * CDN purges for committed product changes, coalesced: at most one invalidation per path per
 * batch, and none while an invalidation of the same path created after the change is still in
 * flight (it already covers the change). Throttling is retried with backoff and full jitter.
 *
 * A purge CloudFront will not take now (TooManyInvalidationsInProgress past the retries, a timeout,
 * any other error) is never the caller's failure: the WebSocket pushes of its batch have gone out
 * and must not be replayed for it. Its paths stay pending in the container and go out with its
 * next purge (every batch of the fan-out calls purge, product changes or not), counted
 * (CdnPurgeDeferred) and, unless throttling, logged as errors (CdnPurgeError). A refused
 * GetInvalidation (the coalescing check) is logged and counted too, then purged anyway.
 */
import { CloudFrontClient, CreateInvalidationCommand, GetInvalidationCommand } from '@aws-sdk/client-cloudfront';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { errorName } from '../shared/errors';
import { metrics } from '../shared/metrics';
import { logger } from '../shared/observability';
import { fullJitter, sleep } from '../shared/retry';

export interface CdnPurger {
  /**
   * Purges the paths (with any still pending from an earlier call); `changedAt` is the commit
   * time of the oldest change they cover. Resolves whether or not CloudFront took the purge now.
   */
  purge(paths: readonly string[], changedAt: number): Promise<void>;
}

export const noCdn: CdnPurger = { purge: () => Promise.resolve() };

export type CdnPurgeMetric = 'CdnPurgeDeferred' | 'CdnPurgeError';

/** Where the purger reports what went wrong (Powertools logs and metrics in Lambda). */
export interface CdnPurgeObserver {
  count(metric: CdnPurgeMetric): void;
  error(message: string, details: Record<string, unknown>): void;
  warn(message: string, details: Record<string, unknown>): void;
}

export const powertoolsCdnObserver: CdnPurgeObserver = {
  count: (metric) => metrics.addMetric(metric, MetricUnit.Count, 1),
  error: (message, details) => logger.error(message, details),
  warn: (message, details) => logger.warn(message, details),
};

export interface CloudFrontPurgerOptions {
  /** Attempts of one CreateInvalidation while throttled. @default 5 */
  readonly maxAttempts?: number;
  /** @default 200 */
  readonly baseDelayMs?: number;
  readonly now?: () => number;
  /** @default powertoolsCdnObserver */
  readonly observer?: CdnPurgeObserver;
}

interface InFlight {
  readonly id: string;
  readonly createdAt: number;
}

/** CloudFront takes at most this many paths in one invalidation: more pending paths than that cannot be one purge anyway. */
const MAX_PENDING_PATHS = 3000;

function isThrottled(error: unknown): boolean {
  const name = errorName(error);
  return name === 'TooManyInvalidationsInProgress' || name === 'Throttling' || name === 'ThrottlingException';
}

function describe(error: unknown): Record<string, unknown> {
  return { errorName: errorName(error), errorMessage: error instanceof Error ? error.message : String(error) };
}

export class CloudFrontPurger implements CdnPurger {
  /** Last invalidation per path (a handful of paths: bounded). */
  private readonly lastByPath = new Map<string, InFlight>();
  /** Paths CloudFront did not take yet, with the commit time of the oldest change each covers. */
  private readonly pending = new Map<string, number>();
  private readonly observer: CdnPurgeObserver;

  constructor(
    private readonly client: CloudFrontClient,
    private readonly distributionId: string,
    private readonly options: CloudFrontPurgerOptions = {},
  ) {
    this.observer = options.observer ?? powertoolsCdnObserver;
  }

  static create(distributionId: string): CloudFrontPurger {
    return new CloudFrontPurger(
      new CloudFrontClient({
        maxAttempts: 1,
        // Options, not a NodeHttpHandler of our own: the SDK builds its handler (a second copy of
        // @smithy/node-http-handler in the bundle would cost init time for nothing).
        requestHandler: { connectionTimeout: 1000, requestTimeout: 5000, throwOnRequestTimeout: true },
      }),
      distributionId,
    );
  }

  /** Paths waiting for CloudFront to take them (tests, diagnostics). */
  get pendingPaths(): string[] {
    return Array.from(this.pending, ([path]) => path);
  }

  async purge(paths: readonly string[], changedAt: number): Promise<void> {
    const wanted = new Map(this.pending);
    for (const path of paths) wanted.set(path, Math.min(wanted.get(path) ?? changedAt, changedAt));
    const needed: string[] = [];
    for (const [path, since] of wanted) {
      if (!(await this.coveredByInFlight(path, since))) needed.push(path);
    }
    this.pending.clear();
    if (needed.length === 0) return;
    const now = (this.options.now ?? Date.now)();
    let id: string;
    try {
      id = await this.withRetries(async () => {
        const out = await this.client.send(
          new CreateInvalidationCommand({
            DistributionId: this.distributionId,
            InvalidationBatch: {
              CallerReference: `shop-edge-${String(now)}-${Math.random().toString(36).slice(2)}`,
              Paths: { Quantity: needed.length, Items: needed },
            },
          }),
        );
        return out.Invalidation?.Id ?? '';
      });
    } catch (error) {
      this.defer(needed, wanted, error);
      return;
    }
    for (const path of needed) this.lastByPath.set(path, { id, createdAt: now });
  }

  private defer(paths: readonly string[], since: ReadonlyMap<string, number>, error: unknown): void {
    for (const path of paths) {
      if (this.pending.size >= MAX_PENDING_PATHS) break;
      this.pending.set(path, since.get(path) ?? Date.now());
    }
    this.observer.count('CdnPurgeDeferred');
    const details = { ...describe(error), distributionId: this.distributionId, paths };
    if (isThrottled(error)) {
      this.observer.warn('CloudFront is throttling invalidations: the purge goes out with the next batch', details);
    } else {
      this.observer.count('CdnPurgeError');
      this.observer.error('CloudFront refused the invalidation: the purge goes out with the next batch', details);
    }
  }

  private async coveredByInFlight(path: string, changedAt: number): Promise<boolean> {
    const last = this.lastByPath.get(path);
    if (!last || last.createdAt < changedAt || !last.id) return false;
    try {
      const out = await this.client.send(new GetInvalidationCommand({ DistributionId: this.distributionId, Id: last.id }));
      return out.Invalidation?.Status === 'InProgress';
    } catch (error) {
      // When unsure, purge again; but a refusal (AccessDenied: the role lacks GetInvalidation)
      // turns coalescing off for good, so it must be seen.
      this.observer.count('CdnPurgeError');
      this.observer.error('CloudFront GetInvalidation failed: purging again instead of coalescing', {
        ...describe(error),
        distributionId: this.distributionId,
        invalidationId: last.id,
      });
      return false;
    }
  }

  private async withRetries<T>(fn: () => Promise<T>): Promise<T> {
    const maxAttempts = this.options.maxAttempts ?? 5;
    const base = this.options.baseDelayMs ?? 200;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (!isThrottled(error) || attempt >= maxAttempts) throw error;
        await sleep(fullJitter(attempt - 1, base));
      }
    }
  }
}
