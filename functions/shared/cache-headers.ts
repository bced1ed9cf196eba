/**
 * How each route's answers may be cached: the cache classes of the route table, and the exact
 * Cache-Control and Vary of each, as the contract's table says. The handler chain sets them, the
 * CDN derives its behaviours from the classes, the OpenAPI document states them.
 */

/**
 * How a route's responses may be cached, by whom:
 *  - product-list / product-read: shared CDN cache per Authorization, browsers revalidate
 *  - marketplace: shared public cache, no Authorization in the key
 *  - private-revalidate: browsers revalidate with the ETag, never a shared cache
 *  - live: never cached anywhere (stock)
 *  - no-store: writes and health
 */
export type CacheClass = 'product-list' | 'product-read' | 'marketplace' | 'private-revalidate' | 'live' | 'no-store';

export const CACHE_HEADERS: Readonly<Record<CacheClass, Readonly<Record<string, string>>>> = {
  'product-list': {
    'Cache-Control': 'public, max-age=0, s-maxage=300, stale-while-revalidate=60',
    Vary: 'Authorization, Accept-Encoding',
  },
  'product-read': {
    'Cache-Control': 'public, max-age=0, s-maxage=600, stale-while-revalidate=60',
    Vary: 'Authorization, Accept-Encoding',
  },
  marketplace: { 'Cache-Control': 'public, max-age=60, s-maxage=300, stale-while-revalidate=60', Vary: 'Accept-Encoding' },
  'private-revalidate': { 'Cache-Control': 'private, no-cache', Vary: 'Authorization' },
  live: { 'Cache-Control': 'no-cache, no-store, must-revalidate' },
  'no-store': { 'Cache-Control': 'no-store' },
};

/** A tenant read that carries live data (?include=stock) must never sit in a shared cache. */
export const PRIVATE_NO_STORE = { 'Cache-Control': 'private, no-store' } as const;
