/**
 * CDN purges for committed product changes, coalesced: at most one invalidation per path per
 * batch, and none while an invalidation of the same path created after the change is still in
 * flight (it already covers the change). Throttling is retried with backoff and full jitter.
 */
import { CloudFrontClient, CreateInvalidationCommand, GetInvalidationCommand } from '@aws-sdk/client-cloudfront';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { errorName } from '../shared/errors';

export interface CdnPurger {
  /** Purges the paths; `changedAt` is the commit time of the oldest change they cover. */
  purge(paths: readonly string[], changedAt: number): Promise<void>;
}

export const noCdn: CdnPurger = { purge: () => Promise.resolve() };

interface InFlight {
  readonly id: string;
  readonly createdAt: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function isThrottled(error: unknown): boolean {
  const name = errorName(error);
  return name === 'TooManyInvalidationsInProgress' || name === 'Throttling' || name === 'ThrottlingException';
}

export class CloudFrontPurger implements CdnPurger {
  /** Last invalidation per path (a handful of paths: bounded). */
  private readonly lastByPath = new Map<string, InFlight>();

  constructor(
    private readonly client: CloudFrontClient,
    private readonly distributionId: string,
    private readonly options: { maxAttempts?: number; baseDelayMs?: number; now?: () => number } = {},
  ) {}

  static create(distributionId: string): CloudFrontPurger {
    return new CloudFrontPurger(
      new CloudFrontClient({
        maxAttempts: 1,
        requestHandler: new NodeHttpHandler({ connectionTimeout: 1000, requestTimeout: 5000, throwOnRequestTimeout: true }),
      }),
      distributionId,
    );
  }

  async purge(paths: readonly string[], changedAt: number): Promise<void> {
    const needed: string[] = [];
    for (const path of new Set(paths)) {
      if (!(await this.coveredByInFlight(path, changedAt))) needed.push(path);
    }
    if (needed.length === 0) return;
    const now = (this.options.now ?? Date.now)();
    const id = await this.withRetries(async () => {
      const out = await this.client.send(
        new CreateInvalidationCommand({
          DistributionId: this.distributionId,
          InvalidationBatch: {
            CallerReference: `shop-edge-${now}-${Math.random().toString(36).slice(2)}`,
            Paths: { Quantity: needed.length, Items: needed },
          },
        }),
      );
      return out.Invalidation?.Id ?? '';
    });
    for (const path of needed) this.lastByPath.set(path, { id, createdAt: now });
  }

  private async coveredByInFlight(path: string, changedAt: number): Promise<boolean> {
    const last = this.lastByPath.get(path);
    if (!last || last.createdAt < changedAt || !last.id) return false;
    try {
      const out = await this.client.send(new GetInvalidationCommand({ DistributionId: this.distributionId, Id: last.id }));
      return out.Invalidation?.Status === 'InProgress';
    } catch {
      return false; // when unsure, purge again
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
        await sleep(Math.random() * base * 2 ** (attempt - 1));
      }
    }
  }
}
