/**
 * One Lambda cold start and its first request, in a fresh node process: `require()` a bundle, call
 * its `handler` once with an event, and time both from before the require. The event and the
 * context go to the child in a temp file, the result comes back in another (stdout carries the
 * function's Powertools log and EMF metric lines, which are returned as they are).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { callerIdentity, requestTime } from '../../local/api-gateway';

/** What the Lambda runtime hands a handler, as JSON; the child adds getRemainingTimeInMillis. */
export interface PlainContext {
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly awsRequestId: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
  readonly callbackWaitsForEmptyEventLoop: boolean;
}

export interface FirstInvocation {
  /** require() of the bundle, ms. */
  readonly initMs: number;
  /** From before the require() to the handler's answer, ms. */
  readonly totalMs: number;
  readonly result?: APIGatewayProxyResult;
  readonly error?: string;
  /** The child's stdout: the function's log lines and EMF metrics. */
  readonly stdout: string;
  readonly stderr: string;
}

// Runs in the child (plain CommonJS, no tsx): the only work before the clock starts is reading the input.
const CHILD = `
const { performance } = require('node:perf_hooks');
const fs = require('node:fs');
const input = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'));
const finish = (r) => { fs.writeFileSync(input.out, JSON.stringify(r)); process.exit(0); };
const t0 = performance.now();
const mod = require(input.bundle);
const initMs = performance.now() - t0;
const deadline = Date.now() + input.timeoutMs;
const context = { ...input.context, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) };
Promise.resolve(mod.handler(input.event, context)).then(
  (result) => finish({ initMs, totalMs: performance.now() - t0, result }),
  (error) => finish({ initMs, totalMs: performance.now() - t0, error: String((error && error.stack) || error) }),
);
`;

export function invokeFresh(options: {
  readonly bundle: string;
  readonly event: unknown;
  readonly context: PlainContext;
  readonly env: Readonly<Record<string, string>>;
  /** The function's timeout (what getRemainingTimeInMillis counts down from). */
  readonly timeoutMs: number;
  /** Where the input and output files go. */
  readonly dir: string;
}): FirstInvocation {
  const id = randomUUID();
  const input = path.join(options.dir, `invoke-${id}.json`);
  const out = path.join(options.dir, `result-${id}.json`);
  fs.writeFileSync(
    input,
    JSON.stringify({ bundle: options.bundle, event: options.event, context: options.context, timeoutMs: options.timeoutMs, out }),
  );
  try {
    const child = spawnSync(process.execPath, ['-e', CHILD, input], {
      encoding: 'utf8',
      // Exactly this environment: nothing of the bench's own leaks into the function.
      env: { ...options.env },
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    if (child.status !== 0 || !fs.existsSync(out)) {
      throw new Error(
        `${options.bundle}: the child exited with status ${child.status} (signal ${child.signal}) without a result:\n${child.stderr.slice(-2000)}\n${child.stdout.slice(-2000)}`,
      );
    }
    const parsed = JSON.parse(fs.readFileSync(out, 'utf8')) as Omit<FirstInvocation, 'stdout' | 'stderr'>;
    return { ...parsed, stdout: child.stdout, stderr: child.stderr };
  } finally {
    fs.rmSync(input, { force: true });
    fs.rmSync(out, { force: true });
  }
}

/** The EMF metrics in a function's output, summed by name (the cache's L1Hit, L2Hit, CacheMiss...). */
export function emfMetrics(stdout: string): Map<string, number> {
  const sums = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    if (!line.includes('"_aws"')) continue;
    let blob: { _aws?: { CloudWatchMetrics?: { Metrics?: { Name: string }[] }[] } } & Record<string, unknown>;
    try {
      blob = JSON.parse(line) as typeof blob;
    } catch {
      continue;
    }
    for (const directive of blob._aws?.CloudWatchMetrics ?? []) {
      for (const { Name } of directive.Metrics ?? []) {
        const value = blob[Name];
        const values = Array.isArray(value) ? value : [value];
        const total = values.reduce<number>((s, v) => s + (typeof v === 'number' ? v : 0), 0);
        sums.set(Name, (sums.get(Name) ?? 0) + total);
      }
    }
  }
  return sums;
}

export interface RestRequestSpec {
  readonly method: string;
  /** API Gateway resource path, {param} placeholders. */
  readonly resource: string;
  readonly pathParameters?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  /** The authorizer's context as API Gateway hands it over (stringified); undefined on a public route. */
  readonly authorizer?: Readonly<Record<string, string>>;
}

const API_ID = 'benchapi01';
const STAGE = 'prod';
const ACCOUNT = '123456789012';

/** An API Gateway REST proxy event as the stage behind CloudFront sends it. */
export function restProxyEvent(spec: RestRequestSpec, region: string): APIGatewayProxyEvent {
  const path = spec.resource.replace(/\{([^}]+)\}/g, (_, name: string) => spec.pathParameters?.[name] ?? '');
  const host = `${API_ID}.execute-api.${region}.amazonaws.com`;
  const now = new Date();
  const userAgent = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36';
  const headers: Record<string, string> = {
    Accept: 'application/json',
    'Accept-Encoding': 'gzip, br',
    'Accept-Language': 'en-GB,en;q=0.9',
    'CloudFront-Forwarded-Proto': 'https',
    'CloudFront-Viewer-Country': 'DE',
    Host: host,
    'User-Agent': userAgent,
    Via: '2.0 0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e.cloudfront.net (CloudFront)',
    'X-Amz-Cf-Id': randomBytes(42).toString('base64url'),
    'X-Amzn-Trace-Id': `Root=1-${Math.floor(now.getTime() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`,
    'X-Forwarded-For': '203.0.113.7, 130.176.0.1',
    'X-Forwarded-Port': '443',
    'X-Forwarded-Proto': 'https',
    ...(spec.authorizer ? { Authorization: `Bearer ${randomBytes(180).toString('base64url')}` } : {}),
    ...(spec.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
  };
  const query = spec.query && Object.keys(spec.query).length ? { ...spec.query } : null;
  const requestId = randomUUID();
  return {
    resource: spec.resource,
    path,
    httpMethod: spec.method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: query,
    multiValueQueryStringParameters: query ? Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]])) : null,
    pathParameters: spec.pathParameters ? { ...spec.pathParameters } : null,
    stageVariables: null,
    requestContext: {
      accountId: ACCOUNT,
      apiId: API_ID,
      authorizer: spec.authorizer ? { ...spec.authorizer, principalId: spec.authorizer.userId, integrationLatency: 41 } : undefined,
      domainName: host,
      domainPrefix: API_ID,
      extendedRequestId: randomBytes(11).toString('base64url'),
      httpMethod: spec.method,
      identity: callerIdentity('203.0.113.7', userAgent),
      path: `/${STAGE}${path}`,
      protocol: 'HTTP/1.1',
      requestId,
      requestTime: requestTime(now),
      requestTimeEpoch: now.getTime(),
      resourceId: randomBytes(3).toString('hex'),
      resourcePath: spec.resource,
      stage: STAGE,
    },
    body: spec.body !== undefined ? JSON.stringify(spec.body) : null,
    isBase64Encoded: false,
  };
}

/** The Lambda context of one invocation, as JSON. */
export function plainContext(functionName: string, memoryMb: number, region: string): PlainContext {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  return {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: String(memoryMb),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    callbackWaitsForEmptyEventLoop: true,
  };
}
