/**
 * The REST front: an HTTP server that behaves like an API Gateway REST API with Lambda proxy
 * integrations, generated from the route table. Each request becomes a v1 proxy event; routes
 * with a permission run the REQUEST authorizer first (cached by the Authorization header like
 * API Gateway); the handler's result is written back as API Gateway would.
 */
import { randomUUID } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { AUTHORIZER, REST_ROUTES, matchPath, type RestRoute } from '../functions/routes';
import {
  GATEWAY_ERRORS,
  type GatewayError,
  headerValue,
  methodArn,
  parseHeaders,
  parseQuery,
  requestTime,
  sendGatewayError,
  shortId,
  sourceIp,
} from './api-gateway';
import { LocalAuthorizer } from './authorizer';
import { DEFAULT_HOST, DEFAULT_STAGE, LOCAL_ACCOUNT_ID, LOCAL_API_ID } from './dev-defaults';
import { createHandlerLoader, type HandlerLoader } from './handlers';
import { invoke, LambdaTimeoutError } from './lambda-context';
import { describeError, silentLogger, type Logger } from './log';

/** API Gateway's request payload limit. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
/** Lambda's synchronous response payload limit. */
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;
/** API Gateway's default integration timeout. */
export const INTEGRATION_TIMEOUT_MS = 29_000;

export interface AuthorizerSettings {
  readonly name: string;
  readonly entry: string;
  readonly resultCacheTtlSeconds: number;
}

export interface RestFrontOptions {
  /** @default REST_ROUTES */
  readonly routes?: readonly RestRoute[];
  /** @default the repository-root loader (dynamic import of each `entry`) */
  readonly loadHandler?: HandlerLoader;
  /** @default AUTHORIZER of the route table */
  readonly authorizer?: AuthorizerSettings;
  /** @default 127.0.0.1 */
  readonly host?: string;
  /** 0 picks a free port. @default 0 */
  readonly port?: number;
  /** @default local */
  readonly stage?: string;
  /** @default 10 MiB */
  readonly maxRequestBytes?: number;
  /** Integration (and function) timeout; past it the answer is 504. @default 29 s */
  readonly timeoutMs?: number;
  /** One line per request. @default false */
  readonly logRequests?: boolean;
  /** @default silent */
  readonly logger?: Logger;
  /**
   * Consulted before the route table: a request it answers (resolves true) reaches no route. The
   * local stack serves the page, /openapi.json and /dev/tokens with it (web/dev-server.ts).
   */
  readonly extra?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
}

export interface RestFront {
  /** http://host:port */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Forgets cached authorizer results. */
  flushAuthorizerCache(): void;
  close(): Promise<void>;
}

class RequestTooLarge extends Error {}

export async function startRestFront(options: RestFrontOptions = {}): Promise<RestFront> {
  const routes = options.routes ?? REST_ROUTES;
  const loadHandler = options.loadHandler ?? createHandlerLoader();
  const authorizerSettings = options.authorizer ?? AUTHORIZER;
  const stage = options.stage ?? DEFAULT_STAGE;
  const host = options.host ?? DEFAULT_HOST;
  const maxRequestBytes = options.maxRequestBytes ?? MAX_REQUEST_BYTES;
  const timeoutMs = options.timeoutMs ?? INTEGRATION_TIMEOUT_MS;
  const logger = options.logger ?? silentLogger;
  const authorizer = new LocalAuthorizer({
    functionName: authorizerSettings.name,
    handler: () => loadHandler(authorizerSettings.entry),
    cacheTtlSeconds: authorizerSettings.resultCacheTtlSeconds,
    timeoutMs,
    logger,
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = Date.now();
    const requestId = randomUUID();
    const verb = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://localhost');
    let label = '-';
    const fail = (error: GatewayError, extraHeaders: Record<string, string> = {}) => {
      sendGatewayError(res, error, requestId, extraHeaders);
      if (options.logRequests) logger.info(`${verb} ${url.pathname} ${error.status} (${label}, ${Date.now() - started} ms)`);
    };

    if (options.extra !== undefined && (await options.extra(req, res, url))) {
      if (options.logRequests) logger.info(`${verb} ${url.pathname} ${res.statusCode} (local only, ${Date.now() - started} ms)`);
      return;
    }

    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxRequestBytes) {
      req.resume();
      fail(GATEWAY_ERRORS.tooLarge, { Connection: 'close' });
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(req, maxRequestBytes);
    } catch (error) {
      if (error instanceof RequestTooLarge) {
        fail(GATEWAY_ERRORS.tooLarge, { Connection: 'close' });
        return;
      }
      throw error;
    }

    const candidates = routes
      .map((route) => ({ route, pathParameters: matchPath(route.path, url.pathname) }))
      .filter((c): c is { route: RestRoute; pathParameters: Record<string, string> } => c.pathParameters !== undefined);
    if (candidates.length === 0) {
      fail(GATEWAY_ERRORS.notFound);
      return;
    }
    const match = candidates.find((c) => c.route.method === verb);
    if (match === undefined) {
      fail(GATEWAY_ERRORS.missingToken);
      return;
    }
    const { route } = match;
    label = route.name;
    let pathParameters: Record<string, string>;
    try {
      pathParameters = Object.fromEntries(Object.entries(match.pathParameters).map(([k, v]) => [k, decodeURIComponent(v)]));
    } catch {
      fail(GATEWAY_ERRORS.notFound);
      return;
    }

    const ip = sourceIp(req);
    const forwardedFor = req.headers['x-forwarded-for'];
    const { headers, multiValueHeaders } = parseHeaders(req.rawHeaders, {
      'X-Forwarded-For': forwardedFor ? `${String(forwardedFor)}, ${ip}` : ip,
      'X-Forwarded-Port': String(req.socket.localPort ?? ''),
      'X-Forwarded-Proto': 'http',
      'X-Amzn-Trace-Id': `Root=1-${Math.floor(started / 1000).toString(16)}-${randomUUID().replaceAll('-', '').slice(0, 24)}`,
    });
    const query = parseQuery(url.searchParams);
    const now = new Date(started);
    const requestContext: APIGatewayProxyEvent['requestContext'] = {
      accountId: LOCAL_ACCOUNT_ID,
      apiId: LOCAL_API_ID,
      authorizer: undefined,
      domainName: headerValue(headers, 'host') ?? host,
      domainPrefix: (headerValue(headers, 'host') ?? host).split('.')[0] ?? host,
      extendedRequestId: shortId(),
      httpMethod: verb,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: ip,
        user: null,
        userAgent: headerValue(headers, 'user-agent') ?? null,
        userArn: null,
      },
      path: `/${stage}${url.pathname}`,
      protocol: `HTTP/${req.httpVersion}`,
      requestId,
      requestTime: requestTime(now),
      requestTimeEpoch: started,
      resourceId: route.name.toLowerCase().slice(0, 6),
      resourcePath: route.path,
      stage,
    };

    if (route.permission !== undefined) {
      const authorizerEvent: APIGatewayRequestAuthorizerEvent = {
        type: 'REQUEST',
        methodArn: methodArn(LOCAL_API_ID, stage, verb, url.pathname),
        resource: route.path,
        path: url.pathname,
        httpMethod: verb,
        headers,
        multiValueHeaders,
        pathParameters,
        queryStringParameters: query.queryStringParameters,
        multiValueQueryStringParameters: query.multiValueQueryStringParameters,
        stageVariables: null,
        requestContext: { ...requestContext, authorizer: undefined },
      };
      const outcome = await authorizer.authorize(authorizerEvent, headerValue(headers, 'authorization'));
      if (outcome.kind === 'unauthorized') {
        fail(GATEWAY_ERRORS.unauthorized);
        return;
      }
      if (outcome.kind === 'forbidden') {
        fail(GATEWAY_ERRORS.accessDenied);
        return;
      }
      if (outcome.kind === 'error') {
        fail(GATEWAY_ERRORS.authorizerFailure);
        return;
      }
      requestContext.authorizer = { ...outcome.context, integrationLatency: outcome.latencyMs };
    }

    const event: APIGatewayProxyEvent = {
      resource: route.path,
      path: url.pathname,
      httpMethod: verb,
      headers,
      multiValueHeaders,
      queryStringParameters: query.queryStringParameters,
      multiValueQueryStringParameters: query.multiValueQueryStringParameters,
      pathParameters: Object.keys(pathParameters).length > 0 ? pathParameters : null,
      stageVariables: null,
      requestContext,
      // Text as text; bytes that are not UTF-8 go base64-encoded, so the handler sees them as sent
      // (decoding them would turn them into U+FFFD behind its back).
      body: body.length > 0 ? (isUtf8(body) ? body.toString('utf8') : body.toString('base64')) : null,
      isBase64Encoded: body.length > 0 && !isUtf8(body),
    };

    let result: unknown;
    try {
      const handler = await loadHandler(route.entry);
      result = await invoke<APIGatewayProxyEvent, unknown>(handler, event, { functionName: route.name, timeoutMs });
    } catch (error) {
      if (error instanceof LambdaTimeoutError) {
        logger.error(`${route.name}: ${error.message}`);
        fail(GATEWAY_ERRORS.integrationTimeout);
        return;
      }
      logger.error(`${route.name} (${verb} ${url.pathname}) failed: ${describeError(error)}`);
      fail(GATEWAY_ERRORS.integrationFailure);
      return;
    }
    const problem = malformed(result);
    if (problem !== undefined) {
      logger.error(`${route.name}: Malformed Lambda proxy response (${problem})`);
      fail(GATEWAY_ERRORS.integrationFailure);
      return;
    }
    writeResult(res, result as APIGatewayProxyResult, requestId, verb);
    if (options.logRequests) logger.info(`${verb} ${url.pathname} ${res.statusCode} (${label}, ${Date.now() - started} ms)`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.error(`REST front: ${describeError(error)}`);
      if (!res.headersSent) sendGatewayError(res, GATEWAY_ERRORS.integrationFailure, randomUUID());
      else res.destroy();
    });
  });
  server.requestTimeout = 0;
  await listen(server, options.port ?? 0, host);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    flushAuthorizerCache: () => authorizer.flush(),
    close: () => closeServer(server),
  };
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        reject(new RequestTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!tooLarge) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

/** Why API Gateway would call this a malformed proxy response, or undefined when it is fine. */
function malformed(result: unknown): string | undefined {
  if (typeof result !== 'object' || result === null) return 'not an object';
  const r = result as Record<string, unknown>;
  if (!Number.isInteger(r.statusCode) || (r.statusCode as number) < 100 || (r.statusCode as number) > 599) return 'statusCode';
  if (r.body !== undefined && r.body !== null && typeof r.body !== 'string') return 'body is not a string';
  if (r.headers !== undefined && r.headers !== null && typeof r.headers !== 'object') return 'headers';
  if (r.multiValueHeaders !== undefined && r.multiValueHeaders !== null && typeof r.multiValueHeaders !== 'object')
    return 'multiValueHeaders';
  if (Buffer.byteLength(JSON.stringify(result)) > MAX_RESPONSE_BYTES) return 'response exceeds 6 MB';
  return undefined;
}

const HOP_BY_HOP = new Set(['connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade']);

function writeResult(res: ServerResponse, result: APIGatewayProxyResult, requestId: string, verb: string): void {
  // API Gateway merges headers and multiValueHeaders; for a name in both, multiValueHeaders wins.
  const merged = new Map<string, { name: string; values: string[] }>();
  // A handler's answer, checked only by malformed(): a value can be null, undefined or anything else.
  for (const [name, value] of Object.entries((result.headers ?? {}) as Record<string, unknown>)) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') continue;
    merged.set(name.toLowerCase(), { name, values: [String(value)] });
  }
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
    if (!Array.isArray(values)) continue;
    merged.set(name.toLowerCase(), { name, values: values.map(String) });
  }
  const rawBody = result.body as string | null | undefined;
  const body =
    rawBody === undefined || rawBody === null ? Buffer.alloc(0) : Buffer.from(rawBody, result.isBase64Encoded ? 'base64' : 'utf8');
  const noBody = verb === 'HEAD' || result.statusCode === 204 || result.statusCode === 304;
  if (!merged.has('content-type') && !noBody) merged.set('content-type', { name: 'Content-Type', values: ['application/json'] });
  merged.set('x-amzn-requestid', { name: 'x-amzn-RequestId', values: [requestId] });
  merged.set('x-amz-apigw-id', { name: 'x-amz-apigw-id', values: [shortId()] });
  for (const [lower, { name, values }] of merged) {
    if (HOP_BY_HOP.has(lower)) continue;
    res.setHeader(name, values);
  }
  if (noBody) {
    res.writeHead(result.statusCode);
    res.end();
    return;
  }
  res.setHeader('Content-Length', body.length);
  res.writeHead(result.statusCode);
  res.end(body);
}

export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
