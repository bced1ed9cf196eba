import { REST_ROUTES, type RestRoute } from '../../functions/routes';
import { behaviourFor, cdnPurgePaths, deriveCdnBehaviours, globMatches } from '../../functions/cdn/behaviours';

const route = (over: Partial<RestRoute> & Pick<RestRoute, 'name' | 'method' | 'path' | 'cacheClass'>): RestRoute => ({
  entry: 'functions/handlers/health.ts',
  needs: { redis: false, tables: [] },
  summary: '',
  ...over,
});

describe('CloudFront behaviours derived from the route table', () => {
  const behaviours = deriveCdnBehaviours(REST_ROUTES);
  const patterns = behaviours.map((b) => b.pathPattern);

  it('caches tenant product reads per Authorization under one /api/products* behaviour', () => {
    expect(behaviourFor(behaviours, '/api/products')).toMatchObject({ pathPattern: '/api/products*', caching: 'tenant' });
    expect(behaviourFor(behaviours, '/api/products/p-1')).toMatchObject({ pathPattern: '/api/products*', caching: 'tenant' });
  });

  it('never caches stock: /api/products/*/stock precedes /api/products*', () => {
    expect(behaviourFor(behaviours, '/api/products/p-1/stock')).toMatchObject({ caching: 'none' });
    expect(patterns.indexOf('/api/products/*/stock')).toBeLessThan(patterns.indexOf('/api/products*'));
  });

  it('keeps the write-only stock adjustments out of the product cache behaviour', () => {
    expect(behaviourFor(behaviours, '/api/products/p-1/stock-adjustments')).toMatchObject({ caching: 'none' });
  });

  it('shares the marketplace publicly and leaves orders and health to the uncached default', () => {
    expect(behaviourFor(behaviours, '/api/marketplace/products')).toMatchObject({ caching: 'public' });
    expect(behaviourFor(behaviours, '/api/orders/o-1')).toBeUndefined();
    expect(behaviourFor(behaviours, '/api/orders')).toBeUndefined();
    expect(behaviourFor(behaviours, '/health')).toBeUndefined();
  });

  it('follows a new cacheable route without any change to the CDN code', () => {
    const derived = deriveCdnBehaviours([
      ...REST_ROUTES,
      route({ name: 'ListCategories', method: 'GET', path: '/api/categories', cacheClass: 'product-list' }),
    ]);

    expect(behaviourFor(derived, '/api/categories')).toMatchObject({ caching: 'tenant' });
  });

  it('carves an uncached child out of a cached parent and orders it first', () => {
    const derived = deriveCdnBehaviours([
      route({ name: 'List', method: 'GET', path: '/api/things', cacheClass: 'product-list' }),
      route({ name: 'Get', method: 'GET', path: '/api/things/{id}', cacheClass: 'product-read' }),
      route({ name: 'Live', method: 'GET', path: '/api/things/{id}/live', cacheClass: 'live' }),
    ]);

    expect(derived.map((b) => [b.pathPattern, b.caching])).toEqual([
      ['/api/things/*/live', 'none'],
      ['/api/things*', 'tenant'],
    ]);
  });

  it('purges the cached behaviours, every query string included: tenant reads on any product change, the marketplace on a listed one', () => {
    expect(cdnPurgePaths(REST_ROUTES)).toEqual({ tenantProducts: ['/api/products*'], marketplace: ['/api/marketplace/products*'] });
  });

  it('purges a new cacheable route without any change to the purge code, and never an uncached child', () => {
    const purge = cdnPurgePaths([
      ...REST_ROUTES,
      route({ name: 'ListCategories', method: 'GET', path: '/api/categories', cacheClass: 'product-list' }),
      route({ name: 'CategoryLive', method: 'GET', path: '/api/categories/{id}/live', cacheClass: 'live' }),
    ]);

    expect(purge.tenantProducts).toEqual(['/api/categories*', '/api/products*']);
    expect(purge.marketplace).toEqual(['/api/marketplace/products*']);
  });

  it('matches CloudFront path patterns: * spans slashes, literals are literal', () => {
    expect(globMatches('/api/products*', '/api/products/a/stock')).toBe(true);
    expect(globMatches('/api/products/*/stock', '/api/products/a/stock-adjustments')).toBe(false);
    expect(globMatches('/api/products.json', '/api/productsXjson')).toBe(false);
  });
});
