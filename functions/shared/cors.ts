/**
 * CORS: which other origins may call the REST API from a browser, and what a browser may send and
 * read. One table for every place that answers: the functions (middlewares.ts), API Gateway's
 * preflights (OPTIONS methods) and gateway responses (lib/stacks/api-stack.ts), CloudFront's
 * response headers policy (lib/stacks/cdn-stack.ts) and the local fronts. The allowed methods of
 * a path come from the route table. Imports nothing from aws-cdk-lib.
 *
 * Tokens travel in the Authorization header, never in cookies, so no answer allows credentials
 * and a browser never needs `Access-Control-Allow-Credentials`; an origin is still named exactly
 * (never `*`), so only the frontends a deployment lists can read its answers.
 */
import { REST_ROUTES, type RestRoute } from '../routes';

/** Request headers a page may send: the token, JSON bodies and the conditional headers of the contract. */
export const CORS_ALLOW_HEADERS = ['Authorization', 'Content-Type', 'If-Match', 'If-None-Match'] as const;
/** Answer headers a page may read beyond the CORS-safelisted ones (Cache-Control, Content-Type, ...). */
export const CORS_EXPOSE_HEADERS = ['ETag', 'Location', 'Retry-After'] as const;
/** How long a browser may keep a preflight's answer (Chromium caps it at 2 hours). */
export const CORS_MAX_AGE_SECONDS = 600;

/**
 * The loopback origins of dev servers (Vite, webpack, ...) on any port: `http://localhost:*` and
 * `http://127.0.0.1:*` in a corsOrigins list. The local stack allows them by default.
 */
export const LOOPBACK_ANY_PORT = ['http://localhost:*', 'http://127.0.0.1:*'] as const;

/** The environment variable the REST functions read their allowed origins from (a JSON array). */
export const CORS_ORIGINS_ENV = 'CORS_ORIGINS';

const EXACT_ORIGIN = /^https?:\/\/[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$/;

/**
 * Why an entry of corsOrigins is not an origin we accept, or undefined when it is: an exact origin
 * (scheme, lower-case host, optional port; no path, no trailing slash, no `*`), or one of
 * LOOPBACK_ANY_PORT. Plain http only for loopback hosts: anything else is https.
 */
export function originProblem(entry: string): string | undefined {
  if ((LOOPBACK_ANY_PORT as readonly string[]).includes(entry)) return undefined;
  if (entry === '*') return 'a wildcard is not allowed: list the frontends by origin';
  if (!EXACT_ORIGIN.test(entry)) return 'not an origin: scheme://host[:port] in lower case, without a path or a trailing slash';
  const url = new URL(entry);
  if (url.port !== '' && Number(url.port) > 65535) return 'the port is out of range';
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) return 'http is only allowed for localhost and 127.0.0.1: use https';
  // new URL drops a default port (https://x:443 -> https://x): a browser sends the origin without it.
  if (url.origin !== entry) return `a browser sends this origin as ${url.origin}`;
  return undefined;
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '127.0.0.1';
}

/** Whether a request's Origin is allowed by the list (exact match, or a loopback host on any port). */
export function originAllowed(origins: readonly string[], origin: string | undefined): origin is string {
  if (origin === undefined || origin === '') return false;
  if (origins.includes(origin)) return true;
  const loopback = /^http:\/\/(localhost|127\.0\.0\.1):[0-9]{1,5}$/.exec(origin);
  return loopback !== null && origins.includes(`http://${loopback[1]}:*`);
}

/**
 * The CORS headers of an answer to a request from `origin`: the origin echoed and what the page
 * may read, when it is allowed; always `Vary: Origin`, since the answer depends on it.
 */
export function corsHeaders(origins: readonly string[], origin: string | undefined): Record<string, string> {
  if (!originAllowed(origins, origin)) return { Vary: 'Origin' };
  return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': CORS_EXPOSE_HEADERS.join(', '), Vary: 'Origin' };
}

/** Adds Origin to a Vary value (keeping what is there). */
export function varyWithOrigin(vary: string | undefined): string {
  if (vary === undefined || vary.trim() === '') return 'Origin';
  const names = vary.split(',').map((v) => v.trim());
  return names.some((n) => n.toLowerCase() === 'origin' || n === '*') ? vary : `${vary}, Origin`;
}

/** Every resource path of the route table with its methods, in the table's order. */
export function corsPaths(routes: readonly RestRoute[] = REST_ROUTES): ReadonlyMap<string, readonly string[]> {
  const paths = new Map<string, string[]>();
  for (const route of routes) {
    const methods = paths.get(route.path) ?? [];
    if (!methods.includes(route.method)) methods.push(route.method);
    paths.set(route.path, methods);
  }
  return paths;
}

/** The static headers of a preflight's answer for a path: its methods, the allowed headers, the max age. */
export function preflightHeaders(methods: readonly string[]): Record<string, string> {
  return {
    'Access-Control-Allow-Methods': [...methods, 'OPTIONS'].join(', '),
    'Access-Control-Allow-Headers': CORS_ALLOW_HEADERS.join(', '),
    'Access-Control-Max-Age': String(CORS_MAX_AGE_SECONDS),
    Vary: 'Origin',
  };
}

/**
 * The mapping template of a preflight's MOCK integration response: API Gateway sets the
 * Access-Control-Allow-Origin of the answer to the request's Origin only when the list allows it
 * (`$context.responseOverride`); static values cannot depend on the request. The local
 * as-deployed front reads this template back (originsOfPreflightTemplate), so it must keep this
 * exact shape.
 */
export function preflightResponseTemplate(origins: readonly string[]): string {
  return [
    '#set($origin = $input.params().header.get("Origin"))',
    '#if("$!origin" == "")#set($origin = $input.params().header.get("origin"))#end',
    `#set($allowed = ${JSON.stringify(origins.filter((o) => !(LOOPBACK_ANY_PORT as readonly string[]).includes(o)))})`,
    ...LOOPBACK_ANY_PORT.filter((o) => origins.includes(o)).map(
      (o) => `#if("$!origin".matches("${loopbackPattern(o)}"))#set($allowed = ["$origin"])#end`,
    ),
    '#if($allowed.contains("$!origin"))#set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)#end',
  ].join('\n');
}

/** A Java regular expression (String.matches in the template) for a loopback entry's origins. */
function loopbackPattern(entry: string): string {
  return `^${entry.replace(':*', '').replaceAll('.', '\\.')}:[0-9]{1,5}$`;
}

/** The origins a preflight template (preflightResponseTemplate) allows, or undefined when it has another shape. */
export function originsOfPreflightTemplate(template: string): string[] | undefined {
  const list = /^#set\(\$allowed = (\[.*\])\)$/m.exec(template)?.[1];
  if (list === undefined) return undefined;
  let exact: unknown;
  try {
    exact = JSON.parse(list);
  } catch {
    return undefined;
  }
  if (!Array.isArray(exact) || !exact.every((o) => typeof o === 'string')) return undefined;
  const origins = [...exact];
  for (const loopback of LOOPBACK_ANY_PORT) {
    if (template.includes(`"${loopbackPattern(loopback)}"`)) origins.push(loopback);
  }
  return preflightResponseTemplate(origins) === template ? origins : undefined;
}

/** The allowed origins of a function, from its environment; unset: the loopback origins of the local stack. */
export function originsFromEnvironment(value: string | undefined): readonly string[] {
  if (value === undefined || value === '') return LOOPBACK_ANY_PORT;
  const parsed = JSON.parse(value) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((o) => typeof o === 'string' && originProblem(o) === undefined)) {
    throw new Error(`Invalid ${CORS_ORIGINS_ENV}: a JSON array of origins, not ${value}`);
  }
  return parsed as string[];
}
