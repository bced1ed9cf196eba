/**
 * The @connections endpoint of the fan-out cases, in its own process (API Gateway is another
 * machine, not the fan-out's event loop). It is the local stack's own management API
 * (local/connections-endpoint.ts: same routing, status codes, token-bucket account throttle,
 * artificial per-call latency), with one thing replaced: the registry. Instead of live WebSocket
 * sockets, every connection id is "open" and a post is counted in memory, so 10k subscribers need
 * no 10k sockets.
 * Listeners: one per latency given on the command line (answering at once, or after 20 ms: a
 * management API round trip from Lambda), under the account throttle the environment sets (by
 * default API Gateway's 10,000/s, burst 5,000); and one "throttled" listener answering at once,
 * whose throttle each `reset` sets afresh (a full bucket, the rate and burst asked for).
 * Reports per connection id how many posts arrived (exactly one each is what a fan-out must do),
 * and, on request, every post: when it arrived (epoch ms) and the version its body carried.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { epochMs } from '../lib/stats';
import type { WebSocket } from 'ws';
import {
  createConnectionsEndpoint,
  type ConnectionsEndpoint,
  type LiveConnection,
  type ManagementThrottle,
} from '../../local/connections-endpoint';
import { silentLogger } from '../../local/log';
import { serveRequests, signalReady } from '../lib/child';

const STAGE = 'local';
const received = new Map<string, number>();
/** Connection id → its index in `ids` (the post log refers to connections by index). */
const index = new Map<string, number>();
const ids: string[] = [];
/** Every post since the last reset: connection index, epoch ms, version in the body (-1: none). */
let log: number[] = [];
const VERSION = /"version":(\d+)/;

function countingConnection(id: string): LiveConnection {
  const ws = {
    OPEN: 1,
    readyState: 1,
    send(data: Buffer, _options: unknown, callback: (error?: Error) => void) {
      received.set(id, (received.get(id) ?? 0) + 1);
      let i = index.get(id);
      if (i === undefined) {
        i = ids.length;
        ids.push(id);
        index.set(id, i);
      }
      const version = VERSION.exec(data.toString('utf8'));
      log.push(i, epochMs(), version ? Number(version[1]) : -1);
      callback();
    },
  } as unknown as WebSocket;
  return { id, ws, connectedAt: Date.now(), lastActiveAt: Date.now(), sourceIp: '127.0.0.1', userAgent: 'bench' };
}

const endpointWith = (latencyMs: number, throttle?: ManagementThrottle): ConnectionsEndpoint =>
  createConnectionsEndpoint({
    registry: { get: countingConnection },
    stage: STAGE,
    latencyMs,
    logger: silentLogger,
    ...(throttle ? { throttle } : {}),
  });

async function listen(endpoint: () => ConnectionsEndpoint): Promise<Server> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const current = endpoint();
    if (!current.handles(req)) {
      res.writeHead(404).end();
      return;
    }
    current.handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const url = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}/${STAGE}`;

async function main(): Promise<void> {
  const latencies = process.argv.slice(2).map(Number);
  const servers = await Promise.all(
    latencies.map((latency) => {
      const endpoint = endpointWith(latency);
      return listen(() => endpoint);
    }),
  );
  let throttled = endpointWith(0, { rateLimit: 500, burstLimit: 250 });
  const throttledServer = await listen(() => throttled);
  serveRequests((message) => {
    if (message.op === 'reset') {
      received.clear();
      log = [];
      const throttle = message.throttle as ManagementThrottle | undefined;
      if (throttle) throttled = endpointWith(0, throttle);
      return { ok: true };
    }
    if (message.op === 'counts') return Object.fromEntries(received);
    if (message.op === 'reached') {
      // Connections that have received a post of this version or a later one since the reset.
      const version = Number(message.version);
      const reached = new Set<number>();
      for (let k = 0; k < log.length; k += 3) if ((log[k + 2] as number) >= version) reached.add(log[k] as number);
      return reached.size;
    }
    if (message.op === 'posts') {
      // Indices into ids; ids holds every connection seen since the process started.
      return { ids, log };
    }
    let posts = 0;
    let duplicates = 0;
    for (const n of received.values()) {
      posts += n;
      if (n > 1) duplicates += n - 1;
    }
    return { posts, distinct: received.size, duplicates, throttled: throttled.throttled() };
  });
  signalReady({
    endpoints: Object.fromEntries(servers.map((s, i) => [String(latencies[i]), url(s)])),
    throttled: url(throttledServer),
  });
  process.on('SIGTERM', () => process.exit(0));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
