/**
 * HTTP hit path: GET /api/products/{id} on the local stack (the real REST front: API Gateway
 * proxy event, cached authorizer result, middy, Powertools, rate limit, the real handler) with the
 * cache warm, under autocannon. Baselines, each in its own process and measured in the same run,
 * interleaved: the same stack with the cache off (every read from DynamoDB Local), and a minimal
 * Node http server answering the very same bytes (the floor of any Node front). A diagnostic
 * server runs the stack without Redis (L1 only, so no rate-limit round trip). Each server's CPU
 * time per request is read from the server process; the GetProduct handler is also invoked
 * in-process without the front, to split the cost between the Lambda and the local front.
 */
import autocannon from 'autocannon';
import { startChild, type BenchChild } from '../lib/child';
import type { BenchCase, CaseResult } from '../lib/report';
import { startBenchRedis } from '../lib/services';
import { fmtInt, fmtMs, median, oursVs } from '../lib/stats';

const PATH = '/api/products/espresso-beans';
const CONNECTIONS = 10;

interface Run {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly errors: number;
  /** Server process CPU (user + system) per request, µs. */
  readonly cpuPerRequestMicros: number;
}

interface Target {
  readonly name: string;
  readonly child: BenchChild<{ url: string; token?: string }>;
  readonly headers: Record<string, string>;
  readonly diagnostic?: boolean;
  readonly runs: Run[];
}

interface HandlerStats {
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly cpuPerCallMicros: number;
  readonly n: number;
}

async function cannon(target: Target, seconds: number): Promise<Run> {
  const cpu = () => target.child.request<{ cpuMicros: number }>({ op: 'cpu' }).then((r) => r.cpuMicros);
  const before = await cpu();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    autocannon(
      { url: `${target.child.info.url}${PATH}`, headers: target.headers, connections: CONNECTIONS, duration: seconds },
      (error: Error | null, r) => {
        if (error) reject(error);
        else resolve(r);
      },
    );
  });
  const after = await cpu();
  return {
    rps: result.requests.total / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    cpuPerRequestMicros: (after - before) / Math.max(1, result.requests.total),
  };
}

export const httpHitPath: BenchCase = {
  id: 'http',
  title: 'HTTP hit path',
  description:
    `\`GET ${PATH}\` with a valid token, autocannon (${CONNECTIONS} connections, keep-alive), cache warm. Ours: the local stack (local/stack.ts: REST front as API Gateway, authorizer result cached as API Gateway does, the real GetProduct handler, rate limit in Redis, L1/L2 cache). ` +
    'Baselines, each its own process, interleaved rounds in the same run: the same stack with the cache off (no Redis, L1 disabled: every read is a DynamoDB Local GetItem; so also no rate-limit call), and a minimal Node `http` server answering the same status, headers and body. ' +
    'Diagnostics: the stack without Redis (L1 only: no rate-limit round trip), CPU time per request of each server process, and the GetProduct handler invoked in-process without the front.',
  async run(ctx): Promise<CaseResult> {
    const seconds = ctx.quick ? 1 : 3;
    const rounds = ctx.quick ? 1 : 3;
    const redis = await startBenchRedis();
    const children: BenchChild<{ url: string; token?: string }>[] = [];
    try {
      ctx.log('starting the stack three ways (cache on, cache off, L1 only) in child processes');
      const [stack, origin, l1only] = await Promise.all([
        startChild<{ url: string; token: string }>('cases/http-server.ts', ['stack', redis.url, ctx.dynamo.endpoint]),
        startChild<{ url: string; token: string }>('cases/http-server.ts', ['origin', ctx.dynamo.endpoint]),
        startChild<{ url: string; token: string }>('cases/http-server.ts', ['l1only', ctx.dynamo.endpoint]),
      ]);
      children.push(stack, origin, l1only);
      const auth = (token: string) => ({ authorization: `Bearer ${token}` });
      const first = await fetch(`${stack.info.url}${PATH}`, { headers: auth(stack.info.token) });
      const body = await first.text();
      if (first.status !== 200) throw new Error(`GET ${PATH} answered ${first.status}: ${body}`);
      for (const other of [origin, l1only]) {
        const r = await fetch(`${other.info.url}${PATH}`, { headers: auth(other.info.token) });
        if (r.status !== 200) throw new Error(`GET ${PATH} on ${other.info.url} answered ${r.status}`);
        await r.text();
      }
      const headers: Record<string, string> = {};
      first.headers.forEach((value, name) => {
        if (!['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length'].includes(name)) headers[name] = value;
      });
      const minimal = await startChild<{ url: string }>('cases/http-server.ts', [
        'minimal',
        JSON.stringify({ status: 200, headers, body }),
      ]);
      children.push(minimal);
      const targets: Target[] = [
        { name: 'ours: local stack, cache warm', child: stack, headers: auth(stack.info.token), runs: [] },
        { name: 'same stack, cache off (origin only)', child: origin, headers: auth(origin.info.token), runs: [] },
        { name: 'minimal Node http server, same bytes', child: minimal, headers: auth(stack.info.token), runs: [] },
        {
          name: 'diagnostic: stack without Redis (L1 only, no rate-limit call)',
          child: l1only,
          headers: auth(l1only.info.token),
          diagnostic: true,
          runs: [],
        },
      ];
      for (const t of targets) {
        ctx.log(`warm-up: ${t.name}`);
        await cannon(t, ctx.quick ? 1 : 2);
      }
      for (let round = 0; round < rounds; round++) {
        for (let k = 0; k < targets.length; k++) {
          const t = targets[(round + k) % targets.length] as Target;
          const run = await cannon(t, seconds);
          t.runs.push(run);
          ctx.log(
            `round ${round + 1}, ${t.name}: ${fmtInt(run.rps)} req/s, p50 ${run.p50} ms, p99 ${run.p99} ms, ${fmtInt(run.cpuPerRequestMicros)} µs CPU/request`,
          );
        }
      }
      const n = ctx.quick ? 2000 : 20000;
      ctx.log(`invoking the GetProduct handler ${n} times in-process (no front)`);
      const handlerOurs = await stack.request<HandlerStats>({ op: 'handler', n });
      const handlerL1 = await l1only.request<HandlerStats>({ op: 'handler', n });

      const agg = (t: Target) => ({
        rps: median(t.runs.map((r) => r.rps)),
        p50: median(t.runs.map((r) => r.p50)),
        p99: median(t.runs.map((r) => r.p99)),
        cpu: median(t.runs.map((r) => r.cpuPerRequestMicros)),
        non2xx: t.runs.reduce((s, r) => s + r.non2xx, 0),
        errors: t.runs.reduce((s, r) => s + r.errors, 0),
      });
      const stats = targets.map(agg);
      const [ours, off, floor, l1] = stats as [
        ReturnType<typeof agg>,
        ReturnType<typeof agg>,
        ReturnType<typeof agg>,
        ReturnType<typeof agg>,
      ];
      const share = ours.rps / floor.rps;
      return {
        headline: [
          `Warm hit through the local stack: ${fmtInt(ours.rps)} req/s (p99 ${ours.p99} ms), ${oursVs(ours.rps, off.rps, true)} than the cache-off stack, ${(share * 100).toFixed(0)}% of a minimal Node server (${fmtInt(floor.rps)} req/s).`,
        ],
        tables: [
          {
            title: `HTTP hit path: ${rounds} rounds of ${seconds} s per server, interleaved, ${CONNECTIONS} connections (${Buffer.byteLength(body)}-byte body)`,
            columns: [
              'server',
              'req/s (median of rounds)',
              'latency p50',
              'latency p99',
              'ours vs this (req/s)',
              'server CPU per request',
              'non-2xx',
              'errors',
            ],
            rows: targets.map((t, i) => {
              const a = stats[i] as ReturnType<typeof agg>;
              return [
                t.name,
                fmtInt(a.rps),
                `${a.p50} ms`,
                `${a.p99} ms`,
                i === 0 ? '-' : oursVs(ours.rps, a.rps, true),
                `${fmtInt(a.cpu)} µs`,
                fmtInt(a.non2xx),
                fmtInt(a.errors),
              ];
            }),
            notes: [
              "Latency percentiles are autocannon's per run (1 ms resolution), the median over the rounds. autocannon runs in the parent process, each server in its own; DynamoDB Local (Java) and redis-server are further processes on the same cores.",
              'Server CPU per request: user + system CPU time of the server process during a run, divided by the requests it answered.',
            ],
          },
          {
            title: `Diagnostic: the GetProduct handler invoked in-process, no HTTP front (${fmtInt(n)} sequential calls, cache warm)`,
            columns: ['handler', 'latency median', 'p99', 'CPU per call', "share of the stack's CPU per request"],
            rows: [
              [
                'with Redis (L1 hit + rate-limit call in Redis)',
                fmtMs(handlerOurs.medianMs),
                fmtMs(handlerOurs.p99Ms),
                `${fmtInt(handlerOurs.cpuPerCallMicros)} µs`,
                `${((handlerOurs.cpuPerCallMicros / ours.cpu) * 100).toFixed(0)}% of ${fmtInt(ours.cpu)} µs`,
              ],
              [
                'without Redis (L1 hit only)',
                fmtMs(handlerL1.medianMs),
                fmtMs(handlerL1.p99Ms),
                `${fmtInt(handlerL1.cpuPerCallMicros)} µs`,
                `${((handlerL1.cpuPerCallMicros / l1.cpu) * 100).toFixed(0)}% of ${fmtInt(l1.cpu)} µs`,
              ],
            ],
            notes: [
              "The rest of the stack's CPU per request is the local front (API Gateway emulation: event building, ids, authorizer cache, response writing) and Node's HTTP server.",
            ],
          },
        ],
        floors: [
          {
            floor: "ours at least 50% of the minimal server's requests/s",
            measured: `${fmtInt(ours.rps)} vs ${fmtInt(floor.rps)} req/s: ${(share * 100).toFixed(0)}% (p99: ours ${ours.p99} ms, cache off ${off.p99} ms, minimal ${floor.p99} ms)`,
            met: share >= 0.5,
          },
        ],
        data: {
          path: PATH,
          connections: CONNECTIONS,
          seconds,
          rounds,
          bodyBytes: Buffer.byteLength(body),
          headers,
          targets: targets.map((t, i) => ({ name: t.name, runs: t.runs, ...stats[i] })),
          handler: { withRedis: handlerOurs, l1Only: handlerL1 },
        },
      };
    } finally {
      await Promise.all(children.map((c) => c.stop()));
      await redis.stop();
    }
  },
};
