/**
 * A server of the HTTP hit-path case, in its own process (bench/cases/http-hit-path.ts):
 *   stack  <redisUrl> <dynamoDbEndpoint>   the local stack (real REST front, authorizer, handlers), cache on
 *   l1only <dynamoDbEndpoint>              the same without Redis: L1 only, and no rate-limit call (diagnostic)
 *   origin <dynamoDbEndpoint>              the same with the cache off: no Redis, L1 disabled
 *   minimal <response JSON>                a minimal Node http server answering those bytes
 * Every mode answers {op: 'cpu'} (process CPU time so far, µs); the stack modes also answer
 * {op: 'handler', n} by invoking the GetProduct handler in-process n times (no HTTP front).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { serveRequests, signalReady } from '../lib/child';
import { summarize } from '../lib/stats';

const PRODUCT = 'espresso-beans';
const TENANT = 'acme';

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** An API Gateway proxy event as the REST front builds it for GET /api/products/{id}, authorizer context included. */
function getProductEvent(): APIGatewayProxyEvent {
  return {
    resource: '/api/products/{id}',
    path: `/api/products/${PRODUCT}`,
    httpMethod: 'GET',
    headers: { Host: '127.0.0.1', Authorization: 'Bearer x', 'User-Agent': 'bench' },
    multiValueHeaders: { Host: ['127.0.0.1'], Authorization: ['Bearer x'], 'User-Agent': ['bench'] },
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { id: PRODUCT },
    stageVariables: null,
    requestContext: {
      authorizer: { tenantId: TENANT, userId: 'bench-user', permissions: 'products:read' },
      httpMethod: 'GET',
      path: `/local/api/products/${PRODUCT}`,
      resourcePath: '/api/products/{id}',
      stage: 'local',
      requestId: 'bench',
    } as unknown as APIGatewayProxyEvent['requestContext'],
    body: null,
    isBase64Encoded: false,
  };
}

async function main(): Promise<void> {
  const [mode, a, b] = process.argv.slice(2);
  process.on('SIGTERM', () => process.exit(0));
  if (mode === 'minimal') {
    const { status, headers, body } = JSON.parse(a as string) as { status: number; headers: Record<string, string>; body: string };
    const bytes = Buffer.from(body, 'utf8');
    const server = createServer((_req, res) => {
      res.writeHead(status, { ...headers, 'content-length': String(bytes.length) });
      res.end(bytes);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    serveRequests(() => ({ cpuMicros: cpuMicros() }));
    signalReady({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    return;
  }
  if (mode !== 'stack' && mode !== 'origin' && mode !== 'l1only') throw new Error(`unknown mode ${mode}`);
  // Before any handler reads its configuration: no rate limit in the way of a load test.
  process.env.RATE_LIMIT_PER_MINUTE = '1000000000';
  if (mode === 'origin') {
    process.env.CACHE_L1_MAX_ENTRIES = '0';
    process.env.CACHE_L1_TTL_MS = '0';
  }
  const { startLocalStack } = await import('../../local/stack');
  const { createLambdaContext } = await import('../../local/lambda-context');
  const suffix = `${mode}-${process.pid}`;
  const stack = await startLocalStack({
    port: 0,
    wsPort: 0,
    redis: mode === 'stack' ? a : 'none',
    dynamoDbEndpoint: mode === 'stack' ? b : a,
    tableNames: { shop: `bench-http-shop-${suffix}`, connections: `bench-http-connections-${suffix}` },
    seed: true,
    streams: false,
    web: false,
  });
  if (stack.seedError) throw new Error(`seeding failed: ${stack.seedError}`);
  process.removeAllListeners('SIGTERM');
  process.on('SIGTERM', () => void stack.stop().finally(() => process.exit(0)));
  serveRequests(async (message) => {
    if (message.op !== 'handler') return { cpuMicros: cpuMicros() };
    // The same module the stack loaded (one module cache): the handler as the front invokes it, minus the front.
    const { handler } = (await import('../../functions/handlers/products/get')) as {
      handler: (event: APIGatewayProxyEvent, context: ReturnType<typeof createLambdaContext>) => Promise<{ statusCode: number }>;
    };
    const event = getProductEvent();
    const n = Number(message.n);
    const once = async () => {
      const result = await handler(event, createLambdaContext({ functionName: 'GetProduct' }));
      if (result.statusCode !== 200) throw new Error(`GetProduct answered ${result.statusCode}`);
    };
    for (let i = 0; i < Math.min(2000, n); i++) await once();
    const latencies: number[] = [];
    const cpuBefore = cpuMicros();
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await once();
      latencies.push(performance.now() - t);
    }
    const cpuPerCallMicros = (cpuMicros() - cpuBefore) / n;
    const s = summarize(latencies);
    return { medianMs: s.median, p99Ms: s.p99, cpuPerCallMicros, n };
  });
  signalReady({ url: stack.restUrl, token: stack.tokens[TENANT], redis: stack.redisUrl ?? null });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
