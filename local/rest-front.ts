/**
 * The REST front: an HTTP server that behaves like an API Gateway REST API with Lambda proxy
 * integrations, serving a RestApiDefinition (rest-api.ts): the route table's in the source mode,
 * the synthesized template's in the as-deployed mode. Each request becomes a v1 proxy event;
 * methods with an authorizer run it first (cached by its identity sources for its TTL, as API
 * Gateway does); methods with a per-client limit count each source address first, as the stage's
 * WAF rate-based rule does; API Gateway's own answers come from the API's gateway responses; the
 * function's result is written back as API Gateway would.
 */
import { randomUUID } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { originAllowed } from '../functions/shared/cors';
import { matchPath, type RestRoute } from '../functions/routes';
import { callerIdentity, headerValue, methodArn, parseHeaders, parseQuery, requestTime, shortId, sourceIp } from './api-gateway';
import { LocalAuthorizer } from './authorizer';
import { ClientLimiter } from './client-limiter';
import { DEFAULT_HOST, DEFAULT_STAGE, LOCAL_ACCOUNT_ID } from './dev-defaults';
import type { GatewayResponseType } from './gateway-responses';
import type { HandlerLoader } from './handlers';
import { LambdaTimeoutError } from './lambda-context';
import { describeError, silentLogger, type Logger } from './log';
import { restApiFromRouteTable, type RestApiDefinition, type RestMethodDefinition } from './rest-api';
import { TokenBucket } from './token-bucket';

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
  /** The API to serve. @default the route table's (built from `routes`, `loadHandler`, `authorizer`, `stage`) */
  readonly api?: RestApiDefinition;
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
  /** Integration timeout; past it the answer is API Gateway's INTEGRATION_TIMEOUT. @default 29 s */
  readonly timeoutMs?: number;
  /** One line per request. @default false */
  readonly logRequests?: boolean;
  /** @default silent */
  readonly logger?: Logger;
  /**
   * Consulted before the API: a request it answers (resolves true) reaches no method. The local
   * stack serves the page, /openapi.json and /dev/tokens with it (web/dev-server.ts).
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

class IntegrationTimeout extends Error {}

export async function startRestFront(options: RestFrontOptions = {}): Promise<RestFront> {
  const timeoutMs = options.timeoutMs ?? INTEGRATION_TIMEOUT_MS;
  const api =
    options.api ??
    restApiFromRouteTable({
      ...(options.routes !== undefined ? { routes: options.routes } : {}),
      ...(options.loadHandler !== undefined ? { loadHandler: options.loadHandler } : {}),
      ...(options.authorizer !== undefined ? { authorizer: options.authorizer } : {}),
      stage: options.stage ?? DEFAULT_STAGE,
      timeoutMs,
    });
  const { stage, apiId } = api;
  const host = options.host ?? DEFAULT_HOST;
  const maxRequestBytes = options.maxRequestBytes ?? MAX_REQUEST_BYTES;
  const logger = options.logger ?? silentLogger;
  const authorizers = new Map<string, LocalAuthorizer>();
  for (const method of api.methods) {
    const definition = method.authorizer;
    if (definition === undefined || authorizers.has(definition.id)) continue;
    authorizers.set(definition.id, new LocalAuthorizer({ fn: definition.fn, cacheTtlSeconds: definition.resultTtlSeconds, logger }));
  }
  const throttle = api.throttle === undefined ? undefined : new TokenBucket(api.throttle.rateLimit, api.throttle.burstLimit);
  const clientLimiter = new ClientLimiter();
  const mayInvoke = api.mayInvoke ?? (() => true);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = Date.now();
    const requestId = randomUUID();
    const verb = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://localhost');
    let label = '-';
    const fail = (type: GatewayResponseType, extraHeaders: Record<string, string> = {}) => {
      const answer = api.gatewayResponses(type, { requestId, requestHeaders: req.headers });
      res.writeHead(answer.statusCode, {
        ...answer.headers,
        'Content-Length': Buffer.byteLength(answer.body),
        'x-amzn-RequestId': requestId,
        'x-amzn-ErrorType': answer.errorType,
        ...extraHeaders,
      });
      res.end(answer.body);
      if (options.logRequests) logger.info(`${verb} ${url.pathname} ${answer.statusCode} (${label}, ${type}, ${Date.now() - started} ms)`);
    };

    if (options.extra !== undefined && (await options.extra(req, res, url))) {
      if (options.logRequests) logger.info(`${verb} ${url.pathname} ${res.statusCode} (local only, ${Date.now() - started} ms)`);
      return;
    }

    // The stage's web ACL sees every request before API Gateway routes, authorizes or throttles it.
    const refusal = clientLimiter.check(api.clientLimits ?? [], { path: url.pathname, headers: req.headers, sourceIp: sourceIp(req) });
    if (refusal !== undefined) {
      req.resume();
      label = refusal.limit.name;
      if (refusal.limit.block === undefined) {
        fail('THROTTLED', { 'Retry-After': String(refusal.retryAfterSeconds) });
      } else {
        const { statusCode, headers, body } = refusal.limit.block;
        res.writeHead(statusCode, { ...headers, 'Content-Length': Buffer.byteLength(body), 'x-amzn-RequestId': requestId });
        res.end(body);
        if (options.logRequests) logger.info(`${verb} ${url.pathname} ${statusCode} (${label}, blocked, ${Date.now() - started} ms)`);
      }
      return;
    }

    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxRequestBytes) {
      req.resume();
      fail('REQUEST_TOO_LARGE', { Connection: 'close' });
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(req, maxRequestBytes);
    } catch (error) {
      if (error instanceof RequestTooLarge) {
        fail('REQUEST_TOO_LARGE', { Connection: 'close' });
        return;
      }
      throw error;
    }

    // API Gateway answers an unknown path and an undeclared method alike: Missing Authentication Token.
    const match = findMethod(api.methods, verb, url.pathname);
    if (match === undefined) {
      fail('MISSING_AUTHENTICATION_TOKEN');
      return;
    }
    const { method } = match;
    label = method.name;
    let pathParameters: Record<string, string>;
    try {
      pathParameters = Object.fromEntries(Object.entries(match.pathParameters).map(([k, v]) => [k, decodeURIComponent(v)]));
    } catch {
      fail('MISSING_AUTHENTICATION_TOKEN');
      return;
    }
    const ip = sourceIp(req);
    if (throttle !== undefined && !throttle.take()) {
      fail('THROTTLED');
      return;
    }

    const forwardedFor = req.headers['x-forwarded-for'];
    const { headers, multiValueHeaders } = parseHeaders(req.rawHeaders, {
      'X-Forwarded-For': forwardedFor ? `${String(forwardedFor)}, ${ip}` : ip,
      'X-Forwarded-Port': String(req.socket.localPort ?? ''),
      'X-Forwarded-Proto': 'http',
      'X-Amzn-Trace-Id': `Root=1-${Math.floor(started / 1000).toString(16)}-${randomUUID().replaceAll('-', '').slice(0, 24)}`,
    });
    const query = parseQuery(url.searchParams);

    const validation = method.validation;
    if (validation?.requiredParameters !== undefined) {
      const missing = validation.requiredParameters.filter((p) =>
        p.in === 'querystring' ? !url.searchParams.has(p.name) : headerValue(headers, p.name) === undefined,
      );
      if (missing.length > 0) {
        fail('BAD_REQUEST_PARAMETERS');
        return;
      }
    }
    if (validation?.body !== undefined) {
      const contentType = (headerValue(headers, 'content-type') ?? 'application/json').split(';')[0]?.trim().toLowerCase() ?? '';
      if (!validation.body(contentType, body.toString('utf8'))) {
        fail('BAD_REQUEST_BODY');
        return;
      }
    }

    const now = new Date(started);
    const requestContext: APIGatewayProxyEvent['requestContext'] = {
      accountId: LOCAL_ACCOUNT_ID,
      apiId,
      authorizer: undefined,
      domainName: headerValue(headers, 'host') ?? host,
      domainPrefix: (headerValue(headers, 'host') ?? host).split('.')[0] ?? host,
      extendedRequestId: shortId(),
      httpMethod: verb,
      identity: callerIdentity(ip, headerValue(headers, 'user-agent') ?? null),
      path: `/${stage}${url.pathname}`,
      protocol: `HTTP/${req.httpVersion}`,
      requestId,
      requestTime: requestTime(now),
      requestTimeEpoch: started,
      resourceId: method.name.toLowerCase().slice(0, 6),
      resourcePath: method.resourcePath,
      stage,
    };

    const arn = methodArn(apiId, stage, verb, url.pathname);
    if (method.authorizer !== undefined) {
      const identity = identityOf(method.authorizer.identitySources, headers, url.searchParams);
      const authorizer = authorizers.get(method.authorizer.id) as LocalAuthorizer;
      const authorizerEvent =
        method.authorizer.type === 'TOKEN'
          ? { type: 'TOKEN', methodArn: arn, authorizationToken: identity ?? '' }
          : ({
              type: 'REQUEST',
              methodArn: arn,
              resource: method.resourcePath,
              path: url.pathname,
              httpMethod: verb,
              headers,
              multiValueHeaders,
              pathParameters,
              queryStringParameters: query.queryStringParameters,
              multiValueQueryStringParameters: query.multiValueQueryStringParameters,
              stageVariables: null,
              requestContext: { ...requestContext, authorizer: undefined },
            } satisfies APIGatewayRequestAuthorizerEvent);
      const outcome = await authorizer.authorize(authorizerEvent, arn, identity);
      if (outcome.kind === 'unauthorized') {
        fail('UNAUTHORIZED');
        return;
      }
      if (outcome.kind === 'forbidden') {
        fail('ACCESS_DENIED');
        return;
      }
      if (outcome.kind === 'error') {
        fail('AUTHORIZER_CONFIGURATION_ERROR');
        return;
      }
      requestContext.authorizer = { ...outcome.context, integrationLatency: outcome.latencyMs };
    }

    const integration = method.integration;
    if (integration.kind === 'mock') {
      // The integration response template's override: the request's Origin, when the list allows it.
      const origin = headerValue(headers, 'origin');
      const allowOrigin =
        integration.allowedOrigins !== undefined && originAllowed(integration.allowedOrigins, origin)
          ? { 'Access-Control-Allow-Origin': origin }
          : {};
      res.writeHead(integration.statusCode, {
        ...integration.headers,
        ...allowOrigin,
        'Content-Length': 0,
        'x-amzn-RequestId': requestId,
      });
      res.end();
      if (options.logRequests)
        logger.info(`${verb} ${url.pathname} ${integration.statusCode} (${label}, mock, ${Date.now() - started} ms)`);
      return;
    }
    if (!mayInvoke(integration.fn, arn)) {
      logger.error(
        `${method.name}: Execution failed due to configuration error: Invalid permissions on Lambda function ${integration.fn.name}`,
      );
      fail('API_CONFIGURATION_ERROR');
      return;
    }

    const event: APIGatewayProxyEvent = {
      resource: method.resourcePath,
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
      result = await withIntegrationTimeout(integration.fn.invoke(event), timeoutMs);
    } catch (error) {
      if (error instanceof IntegrationTimeout) {
        logger.error(`${method.name}: the integration did not answer within ${timeoutMs} ms`);
        fail('INTEGRATION_TIMEOUT');
        return;
      }
      // A function timeout shorter than the integration's is the function's own error (502 by default).
      const timedOutAsIntegration = error instanceof LambdaTimeoutError && integration.fn.timeoutMs >= timeoutMs;
      logger.error(`${method.name} (${verb} ${url.pathname}) failed: ${describeError(error)}`);
      fail(timedOutAsIntegration ? 'INTEGRATION_TIMEOUT' : 'DEFAULT_5XX');
      return;
    }
    const problem = malformed(result);
    if (problem !== undefined) {
      logger.error(`${method.name}: Malformed Lambda proxy response (${problem})`);
      fail('DEFAULT_5XX');
      return;
    }
    writeResult(res, result as APIGatewayProxyResult, requestId, verb);
    if (options.logRequests) logger.info(`${verb} ${url.pathname} ${res.statusCode} (${label}, ${Date.now() - started} ms)`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.error(`REST front: ${describeError(error)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const answer = api.gatewayResponses('DEFAULT_5XX', { requestId: randomUUID(), requestHeaders: req.headers });
      res.writeHead(answer.statusCode, answer.headers);
      res.end(answer.body);
    });
  });
  server.requestTimeout = 0;
  await listen(server, options.port ?? 0, host);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    flushAuthorizerCache: () => {
      for (const authorizer of authorizers.values()) authorizer.flush();
    },
    close: () => closeServer(server),
  };
}

/** The method for a request: its resource path matches, and its verb is declared (or ANY). */
function findMethod(
  methods: readonly RestMethodDefinition[],
  verb: string,
  path: string,
): { method: RestMethodDefinition; pathParameters: Record<string, string> } | undefined {
  let any: { method: RestMethodDefinition; pathParameters: Record<string, string> } | undefined;
  for (const method of methods) {
    const pathParameters = matchPath(method.resourcePath, path);
    if (pathParameters === undefined) continue;
    if (method.httpMethod === verb) return { method, pathParameters };
    if (method.httpMethod === 'ANY') any ??= { method, pathParameters };
  }
  return any;
}

/**
 * The identity source values joined (the authorizer cache key), or undefined when one is missing
 * or empty: API Gateway then answers 401 without calling the authorizer.
 */
function identityOf(sources: readonly string[], headers: Record<string, string>, query: URLSearchParams): string | undefined {
  const values: string[] = [];
  for (const source of sources) {
    const header = /^method\.request\.header\.(.+)$/.exec(source)?.[1];
    const parameter = /^method\.request\.querystring\.(.+)$/.exec(source)?.[1];
    const value =
      header !== undefined ? headerValue(headers, header) : parameter !== undefined ? (query.get(parameter) ?? undefined) : undefined;
    if (value === undefined || value === '') return undefined;
    values.push(value);
  }
  return values.join(',');
}

function withIntegrationTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new IntegrationTimeout());
    }, timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => {
    clearTimeout(timer);
  });
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
