/**
 * A fan-out into API Gateway's account throttle, on the local stack of this project's mode: the
 * @connections endpoint throttled low (200 a second, burst 50) and a product with 300
 * subscribers updated through REST. Every subscriber gets the update exactly once, with no storm
 * of retries; from source, where the test drives the FanOut itself against the stack's endpoint,
 * the endpoint answered 429s and the fan-out's report counted each of them. (As deployed, each
 * post crosses processes and is signed and checked: on a loaded machine that alone can keep the
 * fan-out under 200 a second, so whether the throttle bites there is the machine's, not ours.)
 * Not timed: the figures are printed for reference only.
 */
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { DynamoConnectionStore } from '../../functions/realtime/connection-store';
import { ManagementApiNotifier } from '../../functions/realtime/notifier';
import { FanOut } from '../../functions/streams/fan-out';
import { testDocumentClient } from '../support';
import { itInSource, type StackUnderTest } from '../support/stack-under-test';
import { mint, openSocket, rest, startStack, subscribe, tenantId, token, type Received } from './realtime-fixtures';

const THROTTLE = { rateLimit: 200, burstLimit: 50 };
const SUBSCRIBERS = 300;
const PRODUCT = 'flash';

let stack: StackUnderTest;
let tenant: string;
const clients: Received[] = [];

beforeAll(async () => {
  stack = await startStack({ managementThrottle: THROTTLE });
  tenant = tenantId('thr');
  const bearer = await token(tenant);
  expect((await rest(stack, 'POST', '/api/products', bearer, { id: PRODUCT, name: 'Flash', price: 500, category: 'demo' })).status).toBe(
    201,
  );
  expect((await rest(stack, 'POST', `/api/products/${PRODUCT}/stock-adjustments`, bearer, { delta: 100, reason: 'seed' })).status).toBe(
    200,
  );
  // Ten connections at a time, each subscription answered through @connections well under the
  // throttle: the fan-out is under test, not 300 concurrent handshakes on a 2-core machine.
  const users = await Promise.all(Array.from({ length: SUBSCRIBERS }, (_, i) => mint({ tenantId: tenant, userId: `buyer-${i}` })));
  for (let i = 0; i < users.length; i += 10) {
    const wave = await Promise.all(users.slice(i, i + 10).map((user) => openSocket(stack, user)));
    clients.push(...wave);
    const answers = await Promise.all(wave.map((c) => subscribe(c, `product:${PRODUCT}`, 30_000)));
    for (const answer of answers) expect(answer.type).toBe('subscribed');
  }
  await stack.streamsCaughtUp();
}, 300_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stack.stop();
});

const updates = (c: Received, version?: number) =>
  c.messages.filter((m) => m.type === 'stock:update' && m.productId === PRODUCT && (version === undefined || m.version === version));

it('delivers an update to each of 300 subscribers exactly once through the throttle', async () => {
  const throttledBefore = stack.managementThrottled();
  const started = Date.now();
  const answer = await rest(stack, 'POST', `/api/products/${PRODUCT}/stock-adjustments`, await token(tenant), {
    delta: -1,
    reason: 'sale',
  });
  expect(answer.status).toBe(200);
  await Promise.all(clients.map((c) => c.next((m) => m.type === 'stock:update' && m.stock === 99, 60_000)));
  const lastDelivery = Date.now() - started;
  await stack.streamsCaughtUp();
  await new Promise((r) => setTimeout(r, 500));
  for (const c of clients) expect(updates(c).filter((m) => m.stock === 99)).toHaveLength(1);
  const throttled = stack.managementThrottled() - throttledBefore;
  // No storm of retries: the posts in flight when the burst ran out, and a few more per slow-down.
  expect(throttled).toBeLessThan(SUBSCRIBERS / 2);
  const ideal = ((SUBSCRIBERS - THROTTLE.burstLimit) / THROTTLE.rateLimit) * 1000;
  console.log(
    `${stack.mode}: ${SUBSCRIBERS} subscribers reached in ${lastDelivery} ms from the REST answer (throttle's ideal ${ideal} ms); the endpoint answered ${throttled} 429s`,
  );
}, 120_000);

itInSource(
  "counts the throttled posts in the fan-out's report, and loses none",
  async () => {
    const source = stack.source;
    if (source === undefined) throw new Error('source mode only');
    // The bucket full again: the fan-out starts on its burst, as after a quiet second in AWS.
    await new Promise((r) => setTimeout(r, 1000));
    const db = testDocumentClient();
    const fanOut = new FanOut({
      connections: new DynamoConnectionStore(db, stack.tableNames.connections),
      repo: stack.repo,
      notifier: new ManagementApiNotifier({ endpoint: source.managementEndpoint }),
    });
    const version = 1000;
    const throttledBefore = stack.managementThrottled();
    const started = Date.now();
    try {
      const report = await fanOut.handle([stockRecord(version)]);
      const elapsed = Date.now() - started;
      expect(report.batchItemFailures).toEqual([]);
      expect(report.delivered).toBe(SUBSCRIBERS);
      const throttled = stack.managementThrottled() - throttledBefore;
      expect(report.throttled).toBeGreaterThan(0);
      expect(report.throttled).toBe(throttled);
      expect(report.throttled).toBeLessThan(SUBSCRIBERS / 2);
      await Promise.all(clients.map((c) => c.next((m) => m.type === 'stock:update' && m.version === version, 10_000)));
      for (const c of clients) expect(updates(c, version)).toHaveLength(1);
      console.log(
        `FanOut.handle: ${report.delivered} delivered in ${elapsed} ms (throttle's ideal ${((SUBSCRIBERS - THROTTLE.burstLimit) / THROTTLE.rateLimit) * 1000} ms), ${report.throttled} posts throttled`,
      );
    } finally {
      db.destroy();
    }
  },
  60_000,
);

function stockRecord(version: number): DynamoDBRecord {
  const keys = { pk: `T#${tenant}`, sk: `S#${PRODUCT}` };
  const image = (v: number, stock: number) => ({
    ...keys,
    entity: 'stock',
    tenantId: tenant,
    productId: PRODUCT,
    stock,
    lowStockThreshold: 5,
    version: v,
    lastUpdated: new Date().toISOString(),
  });
  return {
    eventName: 'MODIFY',
    dynamodb: {
      Keys: marshall(keys) as never,
      OldImage: marshall(image(version - 1, 51)) as never,
      NewImage: marshall(image(version, 50)) as never,
      SequenceNumber: `9${version}`,
      ApproximateCreationDateTime: Date.now() / 1000,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
  };
}
