/**
 * What a local REST front serves: an API Gateway REST API as data (its methods with their
 * integrations and authorizers, its gateway responses, its stage throttle). The source mode builds
 * it from the route table (`restApiFromRouteTable`); the as-deployed mode from the synthesized
 * template (deployed/apis.ts). The front (rest-front.ts) only knows this shape.
 */
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
export interface ClientLimitDefinition {
  readonly name: string;
  readonly requests: number;
  readonly windowSeconds: number;
}

export type RestIntegration =
  | { readonly kind: 'lambda'; readonly fn: LocalFunction }
  | { readonly kind: 'mock'; readonly statusCode: number; readonly headers: Readonly<Record<string, string>> };

export interface RestMethodDefinition {
  /** What logs call it (the route name, or the operation). */
  readonly name: string;
  /** GET, POST, ... or ANY. */
  readonly httpMethod: string;
  /** API Gateway resource path, e.g. /api/products/{id} */
  readonly resourcePath: string;
  readonly authorizer?: RestAuthorizerDefinition;
  /** @default no per-client limit */
  readonly clientLimit?: ClientLimitDefinition;
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
}

/** The source mode: every route's handler in this process, the project's gateway responses. */
export function restApiFromRouteTable(options: RouteTableApiOptions = {}): RestApiDefinition {
  const loadHandler = options.loadHandler ?? createHandlerLoader();
  const settings = options.authorizer ?? AUTHORIZER;
  const timeoutMs = options.timeoutMs ?? 29_000;
  const publicLimit: ClientLimitDefinition = { name: 'public', ...(options.publicClientLimit ?? PUBLIC_CLIENT_LIMIT) };
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
    methods: (options.routes ?? REST_ROUTES).map((route) => ({
      name: route.name,
      httpMethod: route.method,
      resourcePath: route.path,
      // As in AWS: a route with a permission has the authorizer (and the per-user limit), one without the per-client limit.
      ...(route.permission !== undefined ? { authorizer } : { clientLimit: publicLimit }),
      integration: { kind: 'lambda', fn: inProcessFunction(route.name, () => loadHandler(route.entry), timeoutMs) },
    })),
    gatewayResponses: createGatewayResponder(gatewayResponses()),
  };
}
