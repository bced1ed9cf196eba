import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import WebSocket from 'ws';
import { connect, type ShopEdgeClient, type TokenRequest } from '../../client/src';
import { DynamoShopRepository } from '../../functions/catalog/dynamodb/shop-repository';
import { DynamoConnectionStore } from '../../functions/realtime/connection-store';
import { FanOut } from '../../functions/streams/fan-out';
import { ManagementApiNotifier } from '../../functions/realtime/notifier';
import type { LocalStack } from '../../local/stack';
import { mintDevToken } from '../../local/tokens';
import { testDocumentClient } from '../support';
import { rest, startSourceStack, tenantId, token } from './realtime-fixtures';

let stack: LocalStack;
const clients: ShopEdgeClient[] = [];

beforeAll(async () => {
  stack = await startSourceStack();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await stack.stop();
});

function sdk(bearer: string): ShopEdgeClient {
  const client = connect(stack.wsUrl, bearer, { WebSocket, backoffBaseMs: 50, backoffCapMs: 500 });
  clients.push(client);
  return client;
}

async function until(condition: () => boolean, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function productWithStock(tenant: string, id: string, stock: number) {
  const bearer = await token(tenant);
  await rest(stack, 'POST', '/api/products', bearer, { id, name: id, price: 100, category: 'c' });
  await rest(stack, 'POST', `/api/products/${id}/stock-adjustments`, bearer, { delta: stock, reason: 'seed' });
  return bearer;
}

it('a client whose connection is killed reconnects and ends with the latest state', async () => {
  const tenant = tenantId();
  const bearer = await productWithStock(tenant, 'lamp', 10);
  const client = sdk(bearer);
  let shown: number | undefined;
  client.subscribe('product:lamp', (m) => {
    if (m.type === 'subscribed') shown = m.snapshot.stock;
    if (m.type === 'stock:update') shown = m.stock;
  });
  await until(() => shown === 10);

  // The server drops every connection (as API Gateway does on a deploy); stock changes meanwhile.
  const killed = new ManagementApiNotifier({ endpoint: stack.managementEndpoint });
  const states: string[] = [];
  client.on('state', (s) => states.push(s));
  for (const id of await connectionIdsOf(tenant)) await killed.disconnect(id);
  await rest(stack, 'POST', '/api/products/lamp/stock-adjustments', bearer, { delta: -3, reason: 'sale' });
  await rest(stack, 'POST', '/api/products/lamp/stock-adjustments', bearer, { delta: -2, reason: 'sale' });

  await until(() => shown === 5);
  expect(states).toContain('reconnecting');
  expect(client.state).toBe('connected');
});

it('a stream batch processed twice gives each client one visible update', async () => {
  const tenant = tenantId();
  const bearer = await productWithStock(tenant, 'mug', 4);
  const seen: number[] = [];
  const client = sdk(bearer);
  let subscribed = false;
  client.subscribe('product:mug', (m) => {
    if (m.type === 'subscribed') subscribed = true;
    if (m.type === 'stock:update') seen.push(m.version);
  });
  await until(() => subscribed);

  const db = testDocumentClient();
  // Two containers: the one that handled the batch remembers it sent it in full and posts nothing
  // again; Lambda's retry may run in another, which posts it again.
  const container = () =>
    new FanOut({
      connections: new DynamoConnectionStore(db, stack.tableNames.connections),
      repo: new DynamoShopRepository(db, stack.tableNames.shop),
      notifier: new ManagementApiNotifier({ endpoint: stack.managementEndpoint }),
    });
  const fanOut = container();
  const record: DynamoDBRecord = {
    eventName: 'MODIFY',
    dynamodb: {
      SequenceNumber: '900',
      ApproximateCreationDateTime: Date.now() / 1000,
      Keys: marshall({ pk: `T#${tenant}`, sk: 'S#mug' }) as never,
      OldImage: marshall({ pk: `T#${tenant}`, sk: 'S#mug', stock: 4, version: 2, lowStockThreshold: 5 }) as never,
      NewImage: marshall({ pk: `T#${tenant}`, sk: 'S#mug', stock: 3, version: 3, lowStockThreshold: 5 }) as never,
    },
  };
  const first = await fanOut.handle([record]);
  const sameContainer = await fanOut.handle([record]);
  const replay = await container().handle([record]);
  expect([first.delivered, sameContainer.delivered]).toEqual([1, 0]);
  expect(replay.delivered).toBe(1); // delivered again by the server...
  await new Promise((r) => setTimeout(r, 300));
  expect(seen).toEqual([3]); // ...but shown once
  db.destroy();
});

describe('tokens that expire while connected', () => {
  /** A provider of `seconds`-second tokens (a second less of life: exp is in whole seconds) that records why it was asked. */
  function shortTokens(tenant: string, seconds = 6): { provider: (request: TokenRequest) => Promise<string>; reasons: string[] } {
    const reasons: string[] = [];
    return {
      reasons,
      provider: (request) => (reasons.push(request.reason), mintDevToken({ tenantId: tenant, expiresInSeconds: seconds })),
    };
  }

  it('replaces the connection with a fresh token before the old one expires, losing nothing', async () => {
    const tenant = tenantId();
    const bearer = await productWithStock(tenant, 'kettle', 20);
    // 10-second tokens, 6 s for a handover to open its connection and subscribe: 1.5 s, then 3 s
    // (of 6-second tokens) were not always enough on a loaded machine.
    const { provider, reasons } = shortTokens(tenant, 10);
    const client = connect(stack.wsUrl, provider, { WebSocket, backoffBaseMs: 50, backoffCapMs: 500, tokenRefreshLeadMs: 6000 });
    clients.push(client);
    const states: string[] = [];
    client.on('state', (s) => states.push(s));
    let shown: number | undefined;
    client.subscribe('product:kettle', (m) => {
      if (m.type === 'subscribed') shown = m.snapshot.stock;
      if (m.type === 'stock:update') shown = m.stock;
    });
    await until(() => shown === 20);

    // Past the first token's lifetime, with changes throughout.
    for (let i = 1; i <= 14; i++) {
      await new Promise((r) => setTimeout(r, 500));
      await rest(stack, 'POST', '/api/products/kettle/stock-adjustments', bearer, { delta: -1, reason: 'sale' });
    }

    await until(() => shown === 6);
    expect(reasons).toContain('handover');
    expect(reasons).not.toContain('expired');
    expect(states).not.toContain('reconnecting');
  });

  it('without a refresh ahead of time, the server ends the session and the client comes back with a fresh token', async () => {
    const tenant = tenantId();
    const bearer = await productWithStock(tenant, 'toaster', 9);
    const { provider, reasons } = shortTokens(tenant);
    // A lead longer than the token's life: no handover; the ping after exp meets the session's end.
    const client = connect(stack.wsUrl, provider, {
      WebSocket,
      backoffBaseMs: 50,
      backoffCapMs: 500,
      tokenRefreshLeadMs: 10_000,
      pingIntervalMs: 400,
    });
    clients.push(client);
    let shown: number | undefined;
    client.subscribe('product:toaster', (m) => {
      if (m.type === 'subscribed') shown = m.snapshot.stock;
      if (m.type === 'stock:update') shown = m.stock;
    });
    await until(() => shown === 9);

    await until(() => reasons.includes('expired'), 8000);
    await rest(stack, 'POST', '/api/products/toaster/stock-adjustments', bearer, { delta: -4, reason: 'sale' });
    await until(() => shown === 5);
    expect(client.state).toBe('connected');
  });
});

async function connectionIdsOf(tenant: string): Promise<string[]> {
  const db = testDocumentClient();
  const store = new DynamoConnectionStore(db, stack.tableNames.connections);
  const { connectionIds } = await store.subscribers(tenant, 'product:lamp');
  db.destroy();
  return [...connectionIds];
}
