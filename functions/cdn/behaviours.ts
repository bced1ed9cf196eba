/**
 * CloudFront behaviours, and the paths a product change purges, derived from REST_ROUTES' cache
 * classes, so adding a route cannot drift from what the CDN does with it. Pure functions, no CDK
 * (functions/ never imports it): the CDN stack (lib/stacks/cdn-stack.ts) renders the behaviours,
 * the fan-out (functions/streams/cdn-purge.ts) sends the purge paths.
 *
 * - The default behaviour (every path no other pattern matches) never caches.
 * - Each cacheable path gets a behaviour with its cache policy; a path and its children with the
 *   same caching merge into one prefix pattern (`/api/products` + `/api/products/*` → `/api/products*`).
 * - An uncached path that a cached pattern would otherwise catch (`/api/products/*\/stock` under
 *   `/api/products*`) gets its own CachingDisabled behaviour, placed before the cached one.
 * - Only GET (and HEAD) responses are ever cached by CloudFront; a path's caching is its GET
 *   route's class, and non-GET methods pass through uncached whatever the behaviour.
 * - The result is checked: every route's sample path must land on a behaviour of its caching.
 * - Every cached behaviour is purged by the product changes its routes' classes name (CDN_PURGE),
 *   with the path pattern as the invalidation path, `*`-terminated so it takes every query string.
 */
import type { CacheClass, RestRoute } from '../routes';

/** tenant: shared cache keyed by Authorization; public: shared by everyone; none: never cached. */
export type CdnCaching = 'tenant' | 'public' | 'none';

export const CDN_CACHING: Readonly<Record<CacheClass, CdnCaching>> = {
  'product-list': 'tenant',
  'product-read': 'tenant',
  marketplace: 'public',
  'private-revalidate': 'none',
  live: 'none',
  'no-store': 'none',
};

/** Which product changes purge a class's CDN copies: every one (tenant reads), those of a listed product (the marketplace). */
export type CdnPurgeGroup = 'tenantProducts' | 'marketplace';

/** One entry per cache class: a new class must say which changes purge it (undefined: never shared-cached, nothing to purge). */
export const CDN_PURGE: Readonly<Record<CacheClass, CdnPurgeGroup | undefined>> = {
  'product-list': 'tenantProducts',
  'product-read': 'tenantProducts',
  marketplace: 'marketplace',
  'private-revalidate': undefined,
  live: undefined,
  'no-store': undefined,
};

/** The CloudFront invalidation paths of each purge group, in behaviour order. */
export type CdnPurgePaths = Readonly<Record<CdnPurgeGroup, readonly string[]>>;

export interface CdnBehaviourSpec {
  /** CloudFront path pattern (`*` matches any characters, `/` included). */
  readonly pathPattern: string;
  readonly caching: CdnCaching;
  /** Route names served by this behaviour (for documentation and tests). */
  readonly routes: readonly string[];
}

interface Group {
  pattern: string;
  caching: CdnCaching;
  routes: string[];
  samples: string[];
}

/** Behaviours in evaluation order; paths matching none of them use the (uncached) default. */
export function deriveCdnBehaviours(routes: readonly RestRoute[]): CdnBehaviourSpec[] {
  const groups = new Map<string, Group>();
  for (const route of routes) {
    const pattern = route.path.replace(/\{[^}]+\}/g, '*');
    const group = groups.get(pattern) ?? { pattern, caching: 'none', routes: [], samples: [samplePath(route.path)] };
    group.routes.push(route.name);
    if (route.method === 'GET') group.caching = CDN_CACHING[route.cacheClass];
    groups.set(pattern, group);
  }

  // Merge a path and its direct children with the same caching into one prefix pattern.
  for (const [pattern, group] of [...groups]) {
    const children = groups.get(`${pattern}/*`);
    if (!pattern.endsWith('*') && children !== undefined && children.caching === group.caching) {
      groups.delete(pattern);
      groups.delete(`${pattern}/*`);
      groups.set(`${pattern}*`, {
        pattern: `${pattern}*`,
        caching: group.caching,
        routes: [...group.routes, ...children.routes],
        samples: [...group.samples, ...children.samples],
      });
    }
  }

  const cached = [...groups.values()].filter((g) => g.caching !== 'none');
  const shadowed = [...groups.values()].filter(
    (g) => g.caching === 'none' && g.samples.some((s) => cached.some((c) => globMatches(c.pattern, s))),
  );
  const ordered = [...shadowed, ...cached].sort(bySpecificity);
  const behaviours = ordered.map((g) => ({ pathPattern: g.pattern, caching: g.caching, routes: [...g.routes] }));

  for (const route of routes) {
    if (route.method !== 'GET') continue;
    const sample = samplePath(route.path);
    const hit = behaviours.find((b) => globMatches(b.pathPattern, sample));
    const caching = hit?.caching ?? 'none';
    if (caching !== CDN_CACHING[route.cacheClass]) {
      throw new Error(
        `CDN behaviours drift: GET ${route.path} (${route.cacheClass}) would be served by ` +
          `${hit?.pathPattern ?? 'the default behaviour'} (${caching})`,
      );
    }
  }
  return behaviours;
}

/**
 * The invalidation path that empties a behaviour: its pattern, with a trailing `*` when it names one
 * path (`/api/marketplace/products`), since CloudFront invalidates such a path only without a query
 * string and these behaviours cache every query string (`?limit=…&cursor=…`) apart.
 */
export function purgePathOf(pathPattern: string): string {
  return pathPattern.endsWith('*') ? pathPattern : `${pathPattern}*`;
}

/**
 * The paths each purge group invalidates: one per cached behaviour, filed under the group of its GET
 * routes' cache class. Checked: a cached behaviour no group purges would keep stale copies.
 */
export function cdnPurgePaths(routes: readonly RestRoute[]): CdnPurgePaths {
  const paths: Record<CdnPurgeGroup, string[]> = { tenantProducts: [], marketplace: [] };
  const byName = new Map(routes.map((r) => [r.name, r]));
  for (const behaviour of deriveCdnBehaviours(routes)) {
    if (behaviour.caching === 'none') continue;
    const groups = new Set(
      behaviour.routes.flatMap((name) => {
        const route = byName.get(name);
        const group = route?.method === 'GET' ? CDN_PURGE[route.cacheClass] : undefined;
        return group ? [group] : [];
      }),
    );
    if (groups.size === 0) {
      throw new Error(
        `CDN purge drift: the cached behaviour ${behaviour.pathPattern} (${behaviour.routes.join(', ')}) is purged by no change`,
      );
    }
    for (const group of groups) paths[group].push(purgePathOf(behaviour.pathPattern));
  }
  return paths;
}

/** The behaviour (or undefined: the default) CloudFront would pick for a request path. */
export function behaviourFor(behaviours: readonly CdnBehaviourSpec[], path: string): CdnBehaviourSpec | undefined {
  return behaviours.find((b) => globMatches(b.pathPattern, path));
}

/** CloudFront path pattern semantics: `*` any characters (including `/`), `?` exactly one. */
export function globMatches(pattern: string, path: string): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`).test(path);
}

function samplePath(path: string): string {
  return path.replace(/\{[^}]+\}/g, 'sample-1');
}

/** More path segments first, then more literal characters, then by name (deterministic). */
function bySpecificity(a: Group, b: Group): number {
  const segments = (p: string) => p.split('/').length;
  const literal = (p: string) => p.replace(/\*/g, '').length;
  return segments(b.pattern) - segments(a.pattern) || literal(b.pattern) - literal(a.pattern) || a.pattern.localeCompare(b.pattern);
}
