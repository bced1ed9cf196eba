/**
 * The connection limit per tenant: twice the limit of concurrent WebSocket handshakes for one
 * tenant, each as a user of its own (the per-user limit is not what is measured), through the
 * local stack from source (its WebSocket front, authorizer and $connect function over DynamoDB
 * Local), WS_MAX_CONNECTIONS_PER_TENANT set to the limit. Exactly the limit must be admitted and
 * the rest refused with 429; another tenant's handshakes, at the same moment, all admitted; once
 * every socket is closed, the tenant's count back at 0 (each connection released once).
 * Baseline: the same handshakes of a tenant well under its limit (what a handshake costs without
 * the limit in the way).
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { DynamoConnectionStore } from '../../functions/realtime/connection-store';
import { createDocumentClient } from '../../functions/shared/clients/dynamodb';
import { sleep } from '../../functions/shared/retry';
import { mintDevToken } from '../../local/tokens';
import type { BenchCase, CaseResult, FloorCheck, Table } from '../lib/report';
import { fmtInt, fmtMs, percentile } from '../lib/stats';

interface Attempt {
  readonly status: number;
  readonly ms: number;
  readonly socket: WebSocket;
}

interface Round {
  readonly name: string;
  readonly tenant: string;
  readonly handshakes: number;
  readonly admitted: number;
  readonly refused: number;
  readonly other: number;
  /** The tenant's counter right after the burst, and once every socket closed. */
  readonly countAfter: number;
  readonly countClosed: number;
  readonly admittedP50Ms: number;
  readonly admittedP99Ms: number;
  readonly refusedP50Ms: number;
  readonly refusedP99Ms: number;
}

export const connectionLimit: BenchCase = {
  id: 'connection-limit',
  title: 'Connection limit per tenant',
  description:
    'Twice the limit of concurrent WebSocket handshakes for one tenant (each a user of its own), through the local stack from source: its WebSocket front, the authorizer and the $connect function over DynamoDB Local, `WS_MAX_CONNECTIONS_PER_TENANT` set to the limit. ' +
    'At the same moment, another tenant opens a tenth as many. Once everything is closed, the tenant’s count must be back at 0. Baseline: the same burst for a tenant far under its limit.',
  async run(ctx): Promise<CaseResult> {
    const limit = ctx.quick ? 100 : 250;
    // The stack runs in this process and sets what its functions read (AWS_LAMBDA_MAX_CONCURRENCY
    // among them): all of it is put back afterwards, or the later cases' child processes inherit it.
    const environment = { ...process.env };
    process.env.WS_MAX_CONNECTIONS_PER_TENANT = String(limit);
    const { startLocalStack } = await import('../../local/stack');
    const tableNames = await ctx.dynamo.tables('connection-limit');
    const stack = await startLocalStack({
      port: 0,
      wsPort: 0,
      redis: 'none',
      dynamoDbEndpoint: ctx.dynamo.endpoint,
      tableNames,
      seed: false,
      streams: false,
      web: false,
    });
    const db = createDocumentClient({ endpoint: ctx.dynamo.endpoint, timeoutMs: 10_000 });
    const store = new DynamoConnectionStore(db, tableNames.connections);
    const rounds: Round[] = [];
    let users = 0;
    const token = (tenantId: string) => mintDevToken({ tenantId, userId: `user-${users++}` });
    const handshake = (bearer: string): Promise<Attempt> =>
      new Promise((resolve) => {
        const started = performance.now();
        const socket = new WebSocket(`${stack.wsUrl}?token=${encodeURIComponent(bearer)}`);
        const done = (status: number) => resolve({ status, ms: performance.now() - started, socket });
        socket.once('open', () => done(101));
        socket.once('unexpected-response', (_req, res) => {
          done(res.statusCode ?? 0);
          socket.terminate();
        });
        socket.once('error', () => done(0));
      });
    const closeAll = async (attempts: readonly Attempt[]) => {
      await Promise.all(
        attempts
          .filter((a) => a.status === 101)
          .map(
            (a) =>
              new Promise<void>((resolve) => {
                a.socket.once('close', () => resolve());
                a.socket.close();
              }),
          ),
      );
    };
    /** The count once every $disconnect has run (they follow the closes). */
    const settledCount = async (tenant: string) => {
      const deadline = Date.now() + 30_000;
      let open = (await store.tenantCount(tenant)).open;
      while (open !== 0 && Date.now() < deadline) {
        await sleep(100);
        open = (await store.tenantCount(tenant)).open;
      }
      return open;
    };
    const burst = async (name: string, tenant: string, count: number, alongside?: { tenant: string; count: number }) => {
      const bearers = await Promise.all(Array.from({ length: count }, () => token(tenant)));
      const otherBearers = alongside ? await Promise.all(Array.from({ length: alongside.count }, () => token(alongside.tenant))) : [];
      const [attempts, otherAttempts] = await Promise.all([Promise.all(bearers.map(handshake)), Promise.all(otherBearers.map(handshake))]);
      const countAfter = (await store.tenantCount(tenant)).open;
      await closeAll([...attempts, ...otherAttempts]);
      const countClosed = await settledCount(tenant);
      const ms = (status: number) => attempts.filter((a) => a.status === status).map((a) => a.ms);
      const p = (values: number[], q: number) =>
        values.length
          ? percentile(
              [...values].sort((a, b) => a - b),
              q,
            )
          : Number.NaN;
      const round: Round = {
        name,
        tenant,
        handshakes: count,
        admitted: attempts.filter((a) => a.status === 101).length,
        refused: attempts.filter((a) => a.status === 429).length,
        other: attempts.filter((a) => a.status !== 101 && a.status !== 429).length,
        countAfter,
        countClosed,
        admittedP50Ms: p(ms(101), 50),
        admittedP99Ms: p(ms(101), 99),
        refusedP50Ms: p(ms(429), 50),
        refusedP99Ms: p(ms(429), 99),
      };
      rounds.push(round);
      ctx.log(
        `${name}: ${round.admitted} admitted, ${round.refused} refused (429), ${round.other} other; count ${countAfter} after, ${countClosed} once closed`,
      );
      if (alongside) {
        const admitted = otherAttempts.filter((a) => a.status === 101).length;
        rounds.push({
          name: `${name}: another tenant meanwhile`,
          tenant: alongside.tenant,
          handshakes: alongside.count,
          admitted,
          refused: otherAttempts.filter((a) => a.status === 429).length,
          other: alongside.count - admitted - otherAttempts.filter((a) => a.status === 429).length,
          countAfter: Number.NaN,
          countClosed: await settledCount(alongside.tenant),
          admittedP50Ms: p(
            otherAttempts.filter((a) => a.status === 101).map((a) => a.ms),
            50,
          ),
          admittedP99Ms: p(
            otherAttempts.filter((a) => a.status === 101).map((a) => a.ms),
            99,
          ),
          refusedP50Ms: Number.NaN,
          refusedP99Ms: Number.NaN,
        });
      }
    };
    try {
      // Warm the front, the authorizer and the connect function (first imports, first clients).
      await closeAll(await Promise.all(Array.from({ length: 10 }, async () => handshake(await token('warm-up')))));
      await burst('under the limit (baseline)', 'roomy', Math.floor(limit / 2));
      await burst(`2 × the limit (${limit})`, 'crowded-1', 2 * limit, { tenant: 'neighbour-1', count: Math.floor(limit / 10) });
      if (!ctx.quick)
        await burst(`2 × the limit (${limit}), again`, 'crowded-2', 2 * limit, { tenant: 'neighbour-2', count: Math.floor(limit / 10) });
    } finally {
      db.destroy();
      await stack.stop();
      for (const name of Object.keys(process.env)) if (!(name in environment)) Reflect.deleteProperty(process.env, name);
      Object.assign(process.env, environment);
    }
    const crowded = rounds.filter((r) => r.tenant.startsWith('crowded'));
    const neighbours = rounds.filter((r) => r.tenant.startsWith('neighbour'));
    const table: Table = {
      title: `Limit ${fmtInt(limit)} connections per tenant`,
      columns: ['burst', 'handshakes', 'admitted', '429', 'other', 'count after / once closed', 'admitted p50 / p99', '429 p50 / p99'],
      rows: rounds.map((r) => [
        r.name,
        fmtInt(r.handshakes),
        fmtInt(r.admitted),
        fmtInt(r.refused),
        fmtInt(r.other),
        `${Number.isNaN(r.countAfter) ? '-' : fmtInt(r.countAfter)} / ${fmtInt(r.countClosed)}`,
        `${fmtMs(r.admittedP50Ms)} / ${fmtMs(r.admittedP99Ms)}`,
        Number.isNaN(r.refusedP50Ms) ? '-' : `${fmtMs(r.refusedP50Ms)} / ${fmtMs(r.refusedP99Ms)}`,
      ]),
      notes: [
        'Each handshake is a user of its own, so the per-user limit (10) is not in the way. Times are from the socket’s creation to its 101 or 429.',
      ],
    };
    const floors: FloorCheck[] = [
      {
        floor: '2× the limit of concurrent handshakes: exactly the limit admitted, the rest 429',
        measured: crowded.map((r) => `${fmtInt(r.admitted)} admitted + ${fmtInt(r.refused)} × 429 (+ ${r.other} other)`).join('; '),
        met:
          crowded.length > 0 &&
          crowded.every((r) => r.admitted === limit && r.refused === limit && r.other === 0 && r.countAfter === limit),
      },
      {
        floor: 'another tenant unaffected (every handshake admitted)',
        measured: neighbours.map((r) => `${fmtInt(r.admitted)} of ${fmtInt(r.handshakes)}`).join('; '),
        met: neighbours.length > 0 && neighbours.every((r) => r.admitted === r.handshakes),
      },
      {
        floor: 'every connection released once (count 0 once closed)',
        measured: rounds.map((r) => fmtInt(r.countClosed)).join(', '),
        met: rounds.every((r) => r.countClosed === 0),
      },
    ];
    return {
      headline: [
        `${crowded.map((r) => `${fmtInt(r.handshakes)} concurrent handshakes against a limit of ${fmtInt(limit)}: ${fmtInt(r.admitted)} admitted, ${fmtInt(r.refused)} refused with 429`).join('; ')}; ` +
          `another tenant meanwhile: ${neighbours.map((r) => `${r.admitted} of ${r.handshakes}`).join(', ')} admitted.`,
      ],
      tables: [table],
      floors,
      data: { limit, rounds },
    };
  },
};
