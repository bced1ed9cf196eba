/**
 * HTTP hit path: GET /api/products/{id} on the local stack (the real REST front: API Gateway
 * proxy event, cached authorizer result, middy, Powertools, rate limit, the real handler) with the
 * cache warm, under autocannon. Baselines, each in its own process and measured in the same run,
 * interleaved: the same stack with the cache off (every read from DynamoDB Local), and a minimal
 * Node http server answering the very same bytes (the floor of any Node front).
 */
import autocannon from 'autocannon';
import { startChild, type BenchChild } from '../lib/child';
import type { BenchCase, CaseResult } from '../lib/report';
import { startBenchRedis } from '../lib/services';
import { fmtInt, fmtRatio, median, oursVs } from '../lib/stats';

const PATH = '/api/products/espresso-beans';
const CONNECTIONS = 10;

interface Run {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly errors: number;
}

interface Target {
  readonly name: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly runs: Run[];
}

function cannon(target: Target, seconds: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    autocannon(
      { url: `${target.url}${PATH}`, headers: target.headers, connections: CONNECTIONS, duration: seconds },
      (error, result) => {
        if (error) return reject(error);
        resolve({
          rps: result.requests.total / seconds,
          p50: result.latency.p50,
          p99: result.latency.p99,
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts,
        });
      },
    );
  });
}

export const httpHitPath: BenchCase = {
  id: 'http',
  title: 'HTTP hit path',
  description:
    `\`GET ${PATH}\` with a valid token, autocannon (${CONNECTIONS} connections, keep-alive), cache warm. Ours: the local stack (local/stack.ts: REST front as API Gateway, authorizer result cached as API Gateway does, the real GetProduct handler, rate limit in Redis, L1/L2 cache). ` +
    'Baselines, each its own process, interleaved rounds in the same run: the same stack with the cache off (no Redis, L1 disabled: every read is a DynamoDB Local GetItem; so also no rate-limit call), and a minimal Node `http` server answering the same status, headers and body.',
  async run(ctx): Promise<CaseResult> {
    const seconds = ctx.quick ? 1 : 5;
    const rounds = ctx.quick ? 1 : 3;
    const redis = await startBenchRedis();
    const children: BenchChild<{ url: string; token?: string }>[] = [];
    try {
      ctx.log('starting the stack (cache on) and the stack (cache off) in child processes');
      const [stack, origin] = await Promise.all([
        startChild<{ url: string; token: string }>('cases/http-server.ts', ['stack', redis.url, ctx.dynamo.endpoint]),
        startChild<{ url: string; token: string }>('cases/http-server.ts', ['origin', ctx.dynamo.endpoint]),
      ]);
      children.push(stack, origin);
      const auth = (token: string) => ({ authorization: `Bearer ${token}` });
      const first = await fetch(`${stack.info.url}${PATH}`, { headers: auth(stack.info.token) });
      const body = await first.text();
      if (first.status !== 200) throw new Error(`GET ${PATH} answered ${first.status}: ${body}`);
      const viaOrigin = await fetch(`${origin.info.url}${PATH}`, { headers: auth(origin.info.token) });
      if (viaOrigin.status !== 200) throw new Error(`GET ${PATH} (cache off) answered ${viaOrigin.status}`);
      await viaOrigin.text();
      const headers: Record<string, string> = {};
      first.headers.forEach((value, name) => {
        if (!['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length'].includes(name)) headers[name] = value;
      });
      const minimal = await startChild<{ url: string }>('cases/http-server.ts', ['minimal', JSON.stringify({ status: 200, headers, body })]);
      children.push(minimal);
      const targets: Target[] = [
        { name: 'ours: local stack, cache warm', url: stack.info.url, headers: auth(stack.info.token), runs: [] },
        { name: 'same stack, cache off (origin only)', url: origin.info.url, headers: auth(origin.info.token), runs: [] },
        { name: 'minimal Node http server, same bytes', url: minimal.info.url, headers: auth(stack.info.token), runs: [] },
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
          ctx.log(`round ${round + 1}, ${t.name}: ${fmtInt(run.rps)} req/s, p50 ${run.p50} ms, p99 ${run.p99} ms`);
        }
      }
      const agg = (t: Target) => ({
        rps: median(t.runs.map((r) => r.rps)),
        p50: median(t.runs.map((r) => r.p50)),
        p99: median(t.runs.map((r) => r.p99)),
        non2xx: t.runs.reduce((s, r) => s + r.non2xx, 0),
        errors: t.runs.reduce((s, r) => s + r.errors, 0),
      });
      const [ours, off, floor] = targets.map(agg) as [ReturnType<typeof agg>, ReturnType<typeof agg>, ReturnType<typeof agg>];
      const share = ours.rps / floor.rps;
      return {
        headline: [`Warm hit through the local stack: ${fmtInt(ours.rps)} req/s (p99 ${ours.p99} ms), ${fmtRatio(ours.rps / off.rps)} the cache-off stack, ${(share * 100).toFixed(0)}% of a minimal Node server.`],
        tables: [
          {
            title: `HTTP hit path: ${rounds} rounds of ${seconds} s per server, interleaved, ${CONNECTIONS} connections (${Buffer.byteLength(body)}-byte body)`,
            columns: ['server', 'req/s (median of rounds)', 'latency p50', 'latency p99', 'req/s: ours vs this', 'non-2xx', 'errors'],
            rows: targets.map((t, i) => {
              const a = [ours, off, floor][i] as ReturnType<typeof agg>;
              return [t.name, fmtInt(a.rps), `${a.p50} ms`, `${a.p99} ms`, i === 0 ? '-' : oursVs(ours.rps, a.rps, true), fmtInt(a.non2xx), fmtInt(a.errors)];
            }),
            notes: ['Latency percentiles are autocannon\'s per run (1 ms resolution), the median over the rounds. autocannon runs in the parent process, each server in its own.'],
          },
        ],
        floors: [
          {
            floor: "ours at least 50% of the minimal server's requests/s",
            measured: `${fmtInt(ours.rps)} vs ${fmtInt(floor.rps)} req/s: ${(share * 100).toFixed(0)}% (p99: ours ${ours.p99} ms, cache off ${off.p99} ms, minimal ${floor.p99} ms)`,
            met: share >= 0.5,
          },
        ],
        data: { path: PATH, connections: CONNECTIONS, seconds, rounds, bodyBytes: Buffer.byteLength(body), headers, targets: targets.map((t, i) => ({ name: t.name, runs: t.runs, ...[ours, off, floor][i] })) },
      };
    } finally {
      await Promise.all(children.map((c) => c.stop()));
      await redis.stop();
    }
  },
};
