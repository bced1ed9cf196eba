/**
 * The @connections endpoint of the fan-out case, in its own process (API Gateway is another
 * machine, not the fan-out's event loop). It is the local stack's own management API
 * (local/connections-endpoint.ts: same routing, status codes, artificial per-call latency), with
 * one thing replaced: the registry. Instead of live WebSocket sockets, every connection id is
 * "open" and a post is counted in memory, so 10k subscribers need no 10k sockets.
 * Two listeners: one answering at once, one after 20 ms (a management API round trip from Lambda).
 * Reports per connection id how many posts arrived (exactly one each is what a fan-out must do).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebSocket } from 'ws';
import { createConnectionsEndpoint, type LiveConnection } from '../../local/connections-endpoint';
import { silentLogger } from '../../local/log';
import { serveRequests, signalReady } from '../lib/child';

const STAGE = 'local';
const received = new Map<string, number>();

function countingConnection(id: string): LiveConnection {
  const ws = {
    OPEN: 1,
    readyState: 1,
    send(_data: unknown, _options: unknown, callback: (error?: Error) => void) {
      received.set(id, (received.get(id) ?? 0) + 1);
      callback();
    },
  } as unknown as WebSocket;
  return { id, ws, connectedAt: Date.now(), lastActiveAt: Date.now(), sourceIp: '127.0.0.1', userAgent: 'bench' };
}

async function listen(latencyMs: number): Promise<Server> {
  const endpoint = createConnectionsEndpoint({ registry: { get: countingConnection }, stage: STAGE, latencyMs, logger: silentLogger });
  const server = createServer((req, res) => {
    if (!endpoint.handles(req)) {
      res.writeHead(404).end();
      return;
    }
    endpoint.handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

async function main(): Promise<void> {
  const latencies = process.argv.slice(2).map(Number);
  const servers = await Promise.all(latencies.map(listen));
  serveRequests((message) => {
    if (message.op === 'reset') {
      received.clear();
      return { ok: true };
    }
    let posts = 0;
    let duplicates = 0;
    for (const n of received.values()) {
      posts += n;
      if (n > 1) duplicates += n - 1;
    }
    return { posts, distinct: received.size, duplicates };
  });
  signalReady({
    endpoints: Object.fromEntries(
      servers.map((s, i) => [String(latencies[i]), `http://127.0.0.1:${(s.address() as AddressInfo).port}/${STAGE}`]),
    ),
  });
  process.on('SIGTERM', () => process.exit(0));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
