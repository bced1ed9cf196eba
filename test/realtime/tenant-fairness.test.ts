/**
 * Tenant fairness of the fan-out, on the local stack of this project's mode: FanOut's stream
 * mapping runs 10 lanes per shard (its parallelizationFactor; as deployed, the template's
 * ParallelizationFactor), one per hash of the record's pk (T#<tenantId>). Tenant A's product has
 * 300 subscribers and the @connections throttle is low (50 a second, burst 25: seconds of
 * paced fan-out); tenant B, whose pk is in another lane, has a few. A's product is updated, then,
 * once A's first subscriber has it, B's: B's subscribers have B's update before A's last
 * subscriber has A's, and every A subscriber gets A's update exactly once. What is asserted is an
 * order of arrival, never a duration.
 */
import { STREAM_CONSUMERS } from '../../functions/routes';
import { partitionLane, type StreamPoller } from '../../local/stream-poller';
import type { StackUnderTest } from '../support/stack-under-test';
import { mint, openSocket, rest, startStack, subscribe, tenantId, token, type Received } from './realtime-fixtures';

// 300 subscribers through 50 a second after a burst of 25: about 5.5 s of fan-out for A, ample
// for B's few posts, even as deployed on a loaded machine (each invocation in a container, each
// DynamoDB call through the IAM-checking endpoint).
const THROTTLE = { rateLimit: 50, burstLimit: 25 };
const A_SUBSCRIBERS = 300;
const B_SUBSCRIBERS = 3;
const PRODUCT = 'fair';

let stack: StackUnderTest;
let fanOut: StreamPoller;
let tenantA: string;
let tenantB: string;
const aClients: Received[] = [];
const bClients: Received[] = [];
/** Every stock update any client received, in the order this process saw them arrive. */
const arrivals: { tenant: 'A' | 'B'; client: number; stock: number; at: number }[] = [];

function listen(c: Received, tenant: 'A' | 'B', index: number): void {
  c.socket.on('message', () => {
    const message = c.messages[c.messages.length - 1];
    if (message?.type === 'stock:update' && message.productId === PRODUCT)
      arrivals.push({ tenant, client: index, stock: message.stock, at: Date.now() });
  });
}

async function product(tenant: string): Promise<void> {
  const bearer = await token(tenant);
  expect((await rest(stack, 'POST', '/api/products', bearer, { id: PRODUCT, name: 'Fair', price: 500, category: 'demo' })).status).toBe(
    201,
  );
  expect((await rest(stack, 'POST', `/api/products/${PRODUCT}/stock-adjustments`, bearer, { delta: 100, reason: 'seed' })).status).toBe(
    200,
  );
}

/** Ten connections at a time, each subscription answered through @connections under the throttle. */
async function subscribers(tenant: string, count: number, into: Received[], label: 'A' | 'B'): Promise<void> {
  const users = await Promise.all(Array.from({ length: count }, (_, i) => mint({ tenantId: tenant, userId: `buyer-${i}` })));
  for (let i = 0; i < users.length; i += 10) {
    const wave = await Promise.all(users.slice(i, i + 10).map((user) => openSocket(stack, user)));
    wave.forEach((c, j) => listen(c, label, i + j));
    into.push(...wave);
    const answers = await Promise.all(wave.map((c) => subscribe(c, `product:${PRODUCT}`, 30_000)));
    for (const answer of answers) expect(answer.type).toBe('subscribed');
  }
}

beforeAll(async () => {
  stack = await startStack({ managementThrottle: THROTTLE });
  const pollers = stack.source?.stack.pollers ?? stack.deployed?.pollers ?? [];
  fanOut = pollers.find((p) => p.functionName.startsWith('FanOut')) as StreamPoller;
  const factor = fanOut.parallelizationFactor;
  if (factor < 2) throw new Error(`FanOut runs ${factor} lane per shard: no other lane for tenant B`);
  tenantA = tenantId('fairA');
  // B: a tenant whose pk is in another lane than A's.
  do tenantB = tenantId('fairB');
  while (partitionLane(`T#${tenantB}`, factor) === partitionLane(`T#${tenantA}`, factor));
  await product(tenantA);
  await product(tenantB);
  await subscribers(tenantA, A_SUBSCRIBERS, aClients, 'A');
  await subscribers(tenantB, B_SUBSCRIBERS, bClients, 'B');
  // As deployed, one lane's invocation is one container: two warm ones, so that B's lane does not
  // measure a cold start against A's fan-out (Lambda starts containers on hardware of its own).
  const fn = [...(stack.deployed?.deployment.functions.values() ?? [])].find((f) => f.logicalId.startsWith('FanOut'));
  if (fn !== undefined) await stack.deployed?.pools.get(fn.name)?.prewarm(2);
  await stack.streamsCaughtUp();
  // The throttle's bucket full again: A's fan-out starts on its burst, as after a quiet second.
  await new Promise((r) => setTimeout(r, 1000));
}, 300_000);

afterAll(async () => {
  await Promise.all([...aClients, ...bClients].map((c) => c.close()));
  await stack.stop();
});

it("runs FanOut's mapping in the route table's lanes", () => {
  expect(fanOut.parallelizationFactor).toBe(STREAM_CONSUMERS.find((c) => c.name === 'FanOut')?.parallelizationFactor);
  expect(fanOut.parallelizationFactor).toBe(10);
});

it("delivers tenant B's update before tenant A's 300-subscriber fan-out ends, and loses none of A's", async () => {
  arrivals.splice(0);
  const started = Date.now();
  const answerA = await rest(stack, 'POST', `/api/products/${PRODUCT}/stock-adjustments`, await token(tenantA), {
    delta: -1,
    reason: 'sale',
  });
  expect(answerA.status).toBe(200);
  // B's change once A's fan-out is under way: in a later batch of the shard than A's (one batch
  // handles its tenants' changes side by side; a later batch, in the same lane, would wait).
  await Promise.any(aClients.map((c) => c.next((m) => m.type === 'stock:update' && m.productId === PRODUCT && m.stock === 99, 60_000)));
  const answerB = await rest(stack, 'POST', `/api/products/${PRODUCT}/stock-adjustments`, await token(tenantB), {
    delta: -2,
    reason: 'sale',
  });
  expect(answerB.status).toBe(200);
  const bWrittenAt = Date.now();

  await Promise.all(aClients.map((c) => c.next((m) => m.type === 'stock:update' && m.productId === PRODUCT && m.stock === 99, 60_000)));
  await Promise.all(bClients.map((c) => c.next((m) => m.type === 'stock:update' && m.productId === PRODUCT && m.stock === 98, 60_000)));
  await stack.streamsCaughtUp();

  const ofA = arrivals.filter((a) => a.tenant === 'A' && a.stock === 99);
  const ofB = arrivals.filter((a) => a.tenant === 'B' && a.stock === 98);
  // Every subscriber exactly once: none lost, none twice; no tenant saw the other's.
  expect(new Set(ofA.map((a) => a.client)).size).toBe(A_SUBSCRIBERS);
  expect(ofA).toHaveLength(A_SUBSCRIBERS);
  expect(ofB).toHaveLength(B_SUBSCRIBERS);
  expect(arrivals.filter((a) => (a.tenant === 'A' && a.stock !== 99) || (a.tenant === 'B' && a.stock !== 98))).toEqual([]);

  const lastOfA = arrivals.lastIndexOf(ofA[ofA.length - 1]!);
  const lastOfB = arrivals.lastIndexOf(ofB[ofB.length - 1]!);
  const aBeforeB = arrivals.slice(0, lastOfB).filter((a) => a.tenant === 'A').length;
  console.log(
    `${stack.mode}: B's ${B_SUBSCRIBERS} subscribers had B's update after ${aBeforeB} of A's ${A_SUBSCRIBERS} deliveries ` +
      `(B: ${arrivals[lastOfB]!.at - bWrittenAt} ms from its REST answer; A's last: ${arrivals[lastOfA]!.at - started} ms from A's request); ` +
      `${stack.managementThrottled()} posts throttled in all (for reference only, not asserted)`,
  );
  expect(lastOfB).toBeLessThan(lastOfA);
}, 120_000);
