/**
 * What a local WebSocket front serves: an API Gateway WebSocket API as data (its routes with their
 * functions, the $connect authorizer, route selection, the stage throttle). The source mode builds
 * it from the route table (`webSocketApiFromRouteTable`); the as-deployed mode from the
 * synthesized template (deployed/apis.ts). The front (ws-front.ts) only knows this shape.
 */
import { AUTHORIZER, WEBSOCKET_ROUTES, type WebSocketRoute } from '../functions/routes';
import { DEFAULT_STAGE, LOCAL_WS_API_ID } from './dev-defaults';
import { inProcessFunction, type LocalFunction } from './functions';
import { createHandlerLoader, type HandlerLoader } from './handlers';
import type { AuthorizerSettings } from './rest-front';

export interface WebSocketAuthorizerDefinition {
  readonly id: string;
  readonly name: string;
  /** route.request.querystring.<name> or route.request.header.<Name>; all must be present. */
  readonly identitySources: readonly string[];
  readonly fn: LocalFunction;
}

export interface WebSocketRouteDefinition {
  readonly routeKey: string;
  /** What logs call it. */
  readonly name: string;
  readonly fn: LocalFunction;
  /** Only on $connect. */
  readonly authorizer?: WebSocketAuthorizerDefinition;
  /** A two-way route sends the integration's `body` back to the client (it has a route response). */
  readonly twoWay: boolean;
}

export interface WebSocketApiDefinition {
  readonly apiId: string;
  readonly stage: string;
  /** The body field route selection reads ($request.body.<field>). */
  readonly routeSelectionField: string;
  readonly routes: ReadonlyMap<string, WebSocketRouteDefinition>;
  /** The stage's default route throttle. @default none */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
  /** Whether API Gateway may invoke `fn` for `sourceArn` (its Lambda permissions). @default always */
  readonly mayInvoke?: (fn: LocalFunction, sourceArn: string) => boolean;
}

export interface RouteTableWebSocketOptions {
  /** @default WEBSOCKET_ROUTES */
  readonly routes?: readonly WebSocketRoute[];
  /** @default the repository-root loader */
  readonly loadHandler?: HandlerLoader;
  /** The $connect authorizer; null: none. @default AUTHORIZER of the route table */
  readonly authorizer?: AuthorizerSettings | null;
  /** @default local */
  readonly stage?: string;
  /** @default 29 s */
  readonly timeoutMs?: number;
}

/** The source mode: every route's handler in this process. */
export function webSocketApiFromRouteTable(options: RouteTableWebSocketOptions = {}): WebSocketApiDefinition {
  const loadHandler = options.loadHandler ?? createHandlerLoader();
  const timeoutMs = options.timeoutMs ?? 29_000;
  const settings = options.authorizer === undefined ? AUTHORIZER : options.authorizer;
  const authorizer: WebSocketAuthorizerDefinition | undefined =
    settings === null
      ? undefined
      : {
          id: 'local',
          name: settings.name,
          identitySources: [AUTHORIZER.webSocketIdentitySource],
          fn: inProcessFunction(settings.name, () => loadHandler(settings.entry), timeoutMs),
        };
  return {
    apiId: LOCAL_WS_API_ID,
    stage: options.stage ?? DEFAULT_STAGE,
    routeSelectionField: 'action',
    routes: new Map(
      (options.routes ?? WEBSOCKET_ROUTES).map((route) => [
        route.routeKey,
        {
          routeKey: route.routeKey,
          name: route.name,
          fn: inProcessFunction(route.name, () => loadHandler(route.entry), timeoutMs),
          ...(route.routeKey === '$connect' && authorizer !== undefined ? { authorizer } : {}),
          twoWay: true,
        },
      ]),
    ),
  };
}
