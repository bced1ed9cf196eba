/** The per-user rate limit of the routes with a permission: counted in Redis, open while it is down. */
import { RateLimiter } from '../http/rate-limiter';
import { appConfig } from '../shared/config';
import { provider } from './provider';
import { l2Store } from './redis';

export const rateLimiter = provider<RateLimiter>(
  'rateLimiter',
  async () => new RateLimiter(await l2Store(), appConfig().rateLimitPerMinute),
);
