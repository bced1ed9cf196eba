/**
 * Schema-valid WebSocket input, property-based (fast-check), through the local stack: random
 * sequences of subscribe, unsubscribe and ping (any channel the schema allows, with or without a
 * seq up to 2^53 - 1), sent back to back on one connection so they are handled concurrently.
 * Every message gets exactly one reply, none is a server failure (`UNAVAILABLE`, or the gateway's
 * "Internal server error"), and a channel whose messages all carry a seq ends as the last of them
 * says.
 *
 * FC_SEED=<n> replays a failing run; FC_RUNS=<n> scales the number of runs.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { testMode, type StackUnderTest } from '../support/stack-under-test';
import { DynamoConnectionStore } from '../../functions/realtime/connection-store';
import { createDocumentClient } from '../../functions/shared/clients/dynamodb';
import { connectionKeys } from '../../functions/shared/tables';
import { testDocumentClient } from '../support';
import { openSocket, rest, startStack, mint, tenantId, token } from './realtime-fixtures';

// As deployed each message is a function invocation in its own container: 10 runs, not 25.
const RUNS = Number(process.env.FC_RUNS ?? (testMode() === 'as-deployed' ? 60 : 150));
const numRuns = Math.max(1, Math.round((25 * RUNS) / 150));

let stack: StackUnderTest;
let db: ReturnType<typeof createDocumentClient>;
let store: DynamoConnectionStore;
const tenant = tenantId('fuzz');

beforeAll(async () => {
  stack = await startStack();
  db = testDocumentClient();
  store = new DynamoConnectionStore(db, stack.tableNames.connections);
  // Two products that exist (snapshots), the rest of the channels name nothing (FORBIDDEN).
  const bearer = await token(tenant);
  for (const id of ['p1', 'p2']) await rest(stack, 'POST', '/api/products', bearer, { id, name: id, price: 1, category: 'c' });
});
afterAll(async () => {
  db.destroy();
  await stack.stop();
});

const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const channel = fc.oneof(
  fc.constantFrom('product:p1', 'product:p2', 'dashboard'),
  id.map((v) => `product:${v}`),
  id.map((v) => `order:${v}`),
);
const message = fc.oneof(
  fc.record({ action: fc.constantFrom('subscribe', 'unsubscribe'), channel, numbered: fc.boolean() }),
  fc.constant({ action: 'ping' as const, channel: undefined, numbered: false }),
);
/** Where the seqs start: anywhere up to the largest a message of 12 can reach. */
const firstSeq = fc.oneof(
  fc.constant(0),
  fc.nat(),
  fc.constant(Number.MAX_SAFE_INTEGER - 12),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 12 }),
);

/** What the fan-out pushes to a subscriber, as against what answers a message. */
const PUSHES = new Set(['product:updated', 'stock:update', 'order:update', 'dashboard:metric', 'refetch']);

/** The open connection of a user (a test may scan; the product never does). */
async function connectionOf(userId: string): Promise<string> {
  const out = await db.send(
    new ScanCommand({
      TableName: stack.tableNames.connections,
      FilterExpression: 'sk = :meta AND userId = :u AND attribute_not_exists(closedAt)',
      ExpressionAttributeValues: { ':meta': connectionKeys.meta, ':u': userId },
      ConsistentRead: true,
    }),
  );
  return String(out.Items?.[0]?.connectionId);
}

it('answers every schema-valid message once, never with a server failure', async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 12 }), firstSeq, async (messages, first) => {
      // One user per run: the runs stay under the 10 connections of a user.
      const userId = `fuzzer-${run++}`;
      const c = await openSocket(stack, await mint({ tenantId: tenant, userId }));
      try {
        // seq is the client's to give; when it is given, it grows, as the contract asks.
        let next = first;
        for (const { numbered, ...m } of messages) {
          const frame = Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined));
          c.send(numbered ? { ...frame, seq: next++ } : frame);
        }
        // Updates pushed to a subscribed channel are not replies: the stream may still carry the
        // products' creation (a dashboard:metric) while a run subscribes to the dashboard.
        const replies = () => c.messages.filter((m) => !PUSHES.has(String(m.type)));
        const deadline = Date.now() + 10_000;
        while (replies().length < messages.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        await new Promise((r) => setTimeout(r, 50)); // nothing more may come
        expect(replies()).toHaveLength(messages.length);
        for (const reply of replies()) {
          expect(reply.message).not.toBe('Internal server error');
          expect(reply.code).not.toBe('UNAVAILABLE');
          expect(['subscribed', 'unsubscribed', 'pong', 'error']).toContain(reply.type);
          if (reply.type === 'error') expect(reply.code).toBe('FORBIDDEN');
        }
        const connectionId = await connectionOf(userId);
        for (const name of ['product:p1', 'product:p2', 'dashboard']) {
          const ofChannel = messages.filter((m) => m.channel === name);
          if (ofChannel.length === 0 || !ofChannel.every((m) => m.numbered)) continue;
          const subscribed = (await store.subscribers(tenant, name)).connectionIds.includes(connectionId);
          expect([name, subscribed]).toEqual([name, ofChannel.at(-1)?.action === 'subscribe']);
        }
      } finally {
        await c.close();
      }
    }),
    { numRuns, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) },
  );
  // Every run's connection is closed: none of its subscriptions is left for the fan-out.
  for (const name of ['product:p1', 'product:p2', 'dashboard']) {
    const deadline = Date.now() + 5000;
    while ((await store.subscribers(tenant, name)).connectionIds.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
    expect([name, (await store.subscribers(tenant, name)).connectionIds]).toEqual([name, []]);
  }
  // Each run may wait 10 s for its replies, after its connection's handshake: the runs' worst case.
}, 240_000);
