/**
 * A server of the HTTP hit-path case, in its own process (bench/cases/http-hit-path.ts):
 *   stack  <redisUrl> <dynamoDbEndpoint>   the local stack (real REST front, authorizer, handlers), cache on
 *   origin <dynamoDbEndpoint>              the same with the cache off: no Redis, L1 disabled
 *   minimal <response JSON>                a minimal Node http server answering those bytes
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveRequests, signalReady } from '../lib/child';

async function main(): Promise<void> {
  const [mode, a, b] = process.argv.slice(2);
  if (mode === 'minimal') {
    const { status, headers, body } = JSON.parse(a as string) as { status: number; headers: Record<string, string>; body: string };
    const bytes = Buffer.from(body, 'utf8');
    const server = createServer((_req, res) => {
      res.writeHead(status, { ...headers, 'content-length': String(bytes.length) });
      res.end(bytes);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    signalReady({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    process.on('SIGTERM', () => process.exit(0));
    return;
  }
  if (mode !== 'stack' && mode !== 'origin') throw new Error(`unknown mode ${mode}`);
  // Before any handler reads its configuration: no rate limit in the way of a load test.
  process.env.RATE_LIMIT_PER_MINUTE = '1000000000';
  if (mode === 'origin') {
    process.env.CACHE_L1_MAX_ENTRIES = '0';
    process.env.CACHE_L1_TTL_MS = '0';
  }
  const { startLocalStack } = await import('../../local/stack');
  const suffix = `${mode}-${process.pid}`;
  const stack = await startLocalStack({
    port: 0,
    wsPort: 0,
    redis: mode === 'stack' ? (a as string) : 'none',
    dynamoDbEndpoint: mode === 'stack' ? (b as string) : (a as string),
    tableNames: { shop: `bench-http-shop-${suffix}`, connections: `bench-http-connections-${suffix}` },
    seed: true,
    streams: false,
    web: false,
  });
  if (stack.seedError) throw new Error(`seeding failed: ${stack.seedError}`);
  serveRequests(() => undefined);
  signalReady({ url: stack.restUrl, token: stack.tokens.acme, redis: stack.redisUrl ?? null });
  process.on('SIGTERM', () => {
    void stack.stop().finally(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
