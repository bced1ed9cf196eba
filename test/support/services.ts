/**
 * Rewires the handlers' container for a test: the repository and the L2 store it names, and the
 * services built from them (the cache, the catalogue, the per-user limit), built now, from the
 * configuration as it is at this call (a test sets an env var, wires, then restores the env).
 * Everything not named here is built from config on first use, as in a real container.
 */
import type { L2Store } from '../../functions/cache/l2';
import type { TwoTierCache } from '../../functions/cache/two-tier-cache';
import { CatalogService } from '../../functions/catalog/catalog-service';
import type { ShopRepository } from '../../functions/catalog/ports';
import { buildCache } from '../../functions/composition/cache';
import { overrideServices } from '../../functions/composition/provider';
import { RateLimiter } from '../../functions/http/rate-limiter';
import { appConfig } from '../../functions/shared/config';

export interface WiredServices {
  readonly repo: ShopRepository;
  readonly l2: L2Store | undefined;
  readonly cache: TwoTierCache;
  readonly catalog: CatalogService;
  readonly rateLimiter: RateLimiter;
}

export function wireServices(parts: { repo: ShopRepository; l2?: L2Store }): WiredServices {
  const cache = buildCache(parts.l2);
  const app = appConfig();
  const services: WiredServices = {
    repo: parts.repo,
    l2: parts.l2,
    cache,
    catalog: new CatalogService(parts.repo, cache, app),
    rateLimiter: new RateLimiter(parts.l2, app.rateLimitPerMinute),
  };
  // By the names the providers of functions/composition/ are registered under.
  overrideServices({
    shopRepository: services.repo,
    l2Store: services.l2,
    cache: services.cache,
    catalog: services.catalog,
    rateLimiter: services.rateLimiter,
  });
  return services;
}

/** Back to the container as config builds it. */
export function unwireServices(): void {
  overrideServices(undefined);
}
