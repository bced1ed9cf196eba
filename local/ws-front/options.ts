/**
 * The front's options, the handle it returns, API Gateway's limits as defaults, and what every
 * part of the front is handed (the logger, request lines, the in-flight work). In a module of
 * their own so that the parts and the entry (../ws-front.ts, which re-exports the public ones)
 * read one definition.
 */
import type { Server } from 'node:http';
import type { WebSocketRoute } from '../../functions/routes';
import type { ConnectionsEndpointOptions, ManagementThrottle } from '../connections-endpoint';
import type { HandlerLoader } from '../handlers';
import type { Logger } from '../log';
import type { AuthorizerSettings } from '../rest-front';
import type { WebSocketApiDefinition } from '../ws-api';

/** API Gateway's WebSocket message payload limit. */
export const MAX_MESSAGE_BYTES = 128 * 1024;
export const IDLE_TIMEOUT_MS = 10 * 60 * 1000;
export const MAX_CONNECTION_MS = 2 * 60 * 60 * 1000;

export interface WebSocketFrontOptions {
  /** The API to serve. @default the route table's (built from `routes`, `loadHandler`, `authorizer`, `stage`) */
  readonly api?: WebSocketApiDefinition;
  /** @default WEBSOCKET_ROUTES */
  readonly routes?: readonly WebSocketRoute[];
  /** @default the repository-root loader */
  readonly loadHandler?: HandlerLoader;
  /** The $connect authorizer; null: none. @default AUTHORIZER of the route table (no result cache) */
  readonly authorizer?: AuthorizerSettings | null;
  /** @default 127.0.0.1 */
  readonly host?: string;
  /** 0 picks a free port. @default 0 */
  readonly port?: number;
  /** @default local */
  readonly stage?: string;
  /** @default 128 KiB */
  readonly maxMessageBytes?: number;
  /** Closed (1001) after this long without a message from the client. @default 10 min */
  readonly idleTimeoutMs?: number;
  /** Closed (1001) this long after connecting. @default 2 h */
  readonly maxConnectionMs?: number;
  /** Artificial delay before every management API call is answered (benchmarks). @default 0 */
  readonly managementLatencyMs?: number;
  /**
   * The account throttle every management API call counts against (429 TooManyRequestsException past it).
   * @default WS_MANAGEMENT_THROTTLE_RATE / WS_MANAGEMENT_THROTTLE_BURST, else 10,000 a second, burst 5,000
   */
  readonly managementThrottle?: ManagementThrottle;
  /** Function timeout of every route. @default 29 s */
  readonly timeoutMs?: number;
  /** One line per connect, message and disconnect. @default false */
  readonly logRequests?: boolean;
  /** @default silent */
  readonly logger?: Logger;
  /**
   * The management API also on HTTPS (its own port), with this certificate, and a check of every
   * call (IAM in the as-deployed mode). @default plain HTTP on the front's port only, no check
   */
  readonly management?: {
    readonly tls?: { readonly cert: string; readonly key: string };
    readonly authorize?: ConnectionsEndpointOptions['authorize'];
  };
}

export interface WebSocketFront {
  /** ws://host:port */
  readonly url: string;
  readonly port: number;
  /** http://host:port/stage: what WS_MANAGEMENT_ENDPOINT should be. */
  readonly managementEndpoint: string;
  /** The HTTPS port of the management API, when `management.tls` was given. */
  readonly managementTlsPort: number | undefined;
  /** Management API calls answered 429 by the account throttle so far. */
  managementThrottled(): number;
  readonly server: Server;
  /** Ids of the open connections. */
  connectionIds(): string[];
  /** Closes every connection (running $disconnect) and the server. */
  close(): Promise<void>;
}

/** What the parts share: request lines (`logRequests`) and the in-flight work close() waits for. */
export interface FrontRuntime {
  readonly logger: Logger;
  /** One request line, when `logRequests` is on. */
  readonly log: (line: string) => void;
  /** Registers a function run that close() waits for, and returns it. */
  readonly track: <T>(p: Promise<T>) => Promise<T>;
}
