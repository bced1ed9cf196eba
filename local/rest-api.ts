/**
 * What a local REST front serves: an API Gateway REST API as data (its methods with their
 * integrations and authorizers, its gateway responses, its stage throttle). The source mode builds
 * it from the route table (`restApiFromRouteTable`); the as-deployed mode from the synthesized
 * template (deployed/apis.ts). The front (rest-front.ts) only knows this shape.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { CORS_ORIGINS_ENV, corsPaths, originsFromEnvironment, preflightHeaders } from '../functions/shared/cors';
import { AUTHORIZER, PUBLIC_CLIENT_LIMIT, REST_ROUTES, type RestRoute } from '../functions/routes';
import { gatewayResponses } from '../functions/shared/gateway-errors';
import { DEFAULT_STAGE, LOCAL_API_ID } from './dev-defaults';
import { inProcessFunction, type LocalFunction } from './functions';
import { createGatewayResponder, type GatewayResponder } from './gateway-responses';
import { createHandlerLoader, type HandlerLoader } from './handlers';

export interface RestAuthorizerDefinition {
  readonly id: string;
  readonly name: string;
  readonly type: 'REQUEST' | 'TOKEN';
  /** method.request.header.<Name> or method.request.querystring.<name>; all must be present. */
  readonly identitySources: readonly string[];
  /** 0: every request calls the function. */
  readonly resultTtlSeconds: number;
  readonly fn: LocalFunction;
}

/**
 * A per-client limit, as an AWS WAF rate-based rule on the stage keyed on the source IP: the
 * requests of one client to the methods that carry a limit of this name count together over the
 * window; past `requests`, API Gateway's THROTTLED answer, with Retry-After the seconds left.
 */
/** What a per-client limit sees of a request (as WAF inspects it, before API Gateway). */
export interface InspectedRequest {
  /** The URL path as received. */
  readonly path: string;
  /** Lowercase names. */
  readonly headers: IncomingHttpHeaders;
  readonly sourceIp: string;
}

/** A per-client rate limit (a WAF rate-based rule in AWS). */
export interface ClientLimitDefinition {
  readonly name: string;
  readonly requests: number;
  readonly windowSeconds: number;
  /** Whether a request counts toward the limit (a rule's scope-down statement). @default every request */
  readonly counts?: (request: InspectedRequest) => boolean;
  /**
   * The client a request counts for; null when the rule blocks it outright (a forwarded address
   * missing with fallback MATCH), undefined when the rule ignores it. @default the source address
   */
  readonly clientOf?: (request: InspectedRequest) => string | null | undefined;
  /** The answer to a refused request. @default API Gateway's THROTTLED, Retry-After the seconds left in the window */
  readonly block?: { readonly statusCode: number; readonly headers: Readonly<Record<string, string>>; readonly body: string };
}

export type RestIntegration =
  | { readonly kind: 'lambda'; readonly fn: LocalFunction }
  | {
      readonly kind: 'mock';
      readonly statusCode: number;
      readonly headers: Readonly<Record<string, string>>;
      /**
       * A CORS preflight's integration response template (functions/shared/cors.ts): the answer's
       * Access-Control-Allow-Origin is the request's Origin when this list allows it.
       */
      readonly allowedOrigins?: readonly string[];
    };

export interface RestMethodDefinition {
  /** What logs call it (the route name, or the operation). */
  readonly name: string;
  /** GET, POST, ... or ANY. */
  readonly httpMethod: string;
  /** API Gateway resource path, e.g. /api/products/{id} */
  readonly resourcePath: string;
  readonly authorizer?: RestAuthorizerDefinition;
  readonly integration: RestIntegration;
  /** Request validation, when a validator is attached: the body check (per content type) and required parameters. */
  readonly validation?: {
    readonly body?: (contentType: string, body: string) => boolean;
    readonly requiredParameters?: readonly { readonly in: 'querystring' | 'header'; readonly name: string }[];
  };
}

export interface RestApiDefinition {
  readonly apiId: string;
  readonly stage: string;
  readonly methods: readonly RestMethodDefinition[];
  readonly gatewayResponses: GatewayResponder;
  /**
   * Per-client limits on the stage (the web ACL associated with it in AWS), evaluated in order
   * on every request before API Gateway routes it. @default none
   */
  readonly clientLimits?: readonly ClientLimitDefinition[];
  /** The stage's throttle (token bucket for the whole stage). @default none */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * Whether API Gateway may invoke `fn` for `sourceArn` (its Lambda permissions); a refusal is
   * answered as a configuration error. @default always
   */
  readonly mayInvoke?: (fn: LocalFunction, sourceArn: string) => boolean;
}

export interface RouteTableApiOptions {
  /** @default REST_ROUTES */
  readonly routes?: readonly RestRoute[];
  /** @default the repository-root loader */
  readonly loadHandler?: HandlerLoader;
  /** @default AUTHORIZER of the route table */
  readonly authorizer?: { readonly name: string; readonly entry: string; readonly resultCacheTtlSeconds: number };
  /** @default local */
  readonly stage?: string;
  /** Function timeout (the integration's). @default 29 s */
  readonly timeoutMs?: number;
  /** The per-client limit of the public routes (tests choose a small one). @default PUBLIC_CLIENT_LIMIT of the route table */
  readonly publicClientLimit?: { readonly requests: number; readonly windowSeconds: number };
  /** Origins the preflights allow. @default CORS_ORIGINS, as the functions read it (unset: any localhost or 127.0.0.1 port) */
  readonly corsOrigins?: readonly string[];
}

/** The source mode: every route's handler in this process, the project's gateway responses. */
export function restApiFromRouteTable(options: RouteTableApiOptions = {}): RestApiDefinition {
  const loadHandler = options.loadHandler ?? createHandlerLoader();
  const settings = options.authorizer ?? AUTHORIZER;
  const timeoutMs = options.timeoutMs ?? 29_000;
  const routes = options.routes ?? REST_ROUTES;
  // The functions in this process read CORS_ORIGINS too: one setting for both.
  const corsOrigins = options.corsOrigins ?? originsFromEnvironment(process.env[CORS_ORIGINS_ENV]);
  // As in AWS: the routes without a permission are counted per client, by path (any method).
  const publicPaths = new Set(routes.filter((route) => route.permission === undefined).map((route) => route.path));
  const publicLimit: ClientLimitDefinition = {
    name: 'public',
    ...(options.publicClientLimit ?? PUBLIC_CLIENT_LIMIT),
    counts: (request) => publicPaths.has(request.path.length > 1 ? request.path.replace(/\/$/, '') : request.path),
  };
  const authorizer: RestAuthorizerDefinition = {
    id: 'local',
    name: settings.name,
    type: 'REQUEST',
    identitySources: [AUTHORIZER.restIdentitySource],
    resultTtlSeconds: settings.resultCacheTtlSeconds,
    fn: inProcessFunction(settings.name, () => loadHandler(settings.entry), timeoutMs),
  };
  return {
    apiId: LOCAL_API_ID,
    stage: options.stage ?? DEFAULT_STAGE,
    methods: [
      ...routes.map((route): RestMethodDefinition => ({
        name: route.name,
        httpMethod: route.method,
        resourcePath: route.path,
        ...(route.permission !== undefined ? { authorizer } : {}),
        integration: { kind: 'lambda', fn: inProcessFunction(route.name, () => loadHandler(route.entry), timeoutMs) },
      })),
      // As the API stack deploys them: a preflight per path, from a mock integration.
      ...[...corsPaths(routes)].map(([path, methods]): RestMethodDefinition => ({
        name: `Preflight ${path}`,
        httpMethod: 'OPTIONS',
        resourcePath: path,
        integration: {
          kind: 'mock',
          statusCode: 204,
          headers: preflightHeaders(methods),
          allowedOrigins: corsOrigins,
        },
      })),
    ],
    gatewayResponses: createGatewayResponder(gatewayResponses()),
    clientLimits: [publicLimit],
  };
}
