/** Cache-Control and Vary per cache class, exactly as the contract's table says. */
import type { CacheClass } from '../routes';

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
