/**
 * Compile-time checks (tsc runs over test/): the per-channel message types, the WebSocket
 * constructors the client accepts, and that the server's models fit the client's protocol types.
 */
import { WebSocket as NodeWs } from 'ws';
import type { DashboardFigures, Order as ServerOrder, Product as ServerProduct } from '../../functions/catalog/model';
import type { ChannelMessage, DashboardMetrics, Order, Product, ShopEdgeClient, WebSocketConstructor } from '../../client/src';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assert = <T extends true>(_proof?: T) => undefined;

test('per-channel message types', () => {
  assert<Equal<ChannelMessage<'product:p1'>['type'], 'subscribed' | 'stock:update' | 'product:updated' | 'refetch'>>();
  assert<Equal<ChannelMessage<'order:o1'>['type'], 'subscribed' | 'order:update' | 'refetch'>>();
  assert<Equal<ChannelMessage<'dashboard'>['type'], 'subscribed' | 'dashboard:metric' | 'refetch'>>();

  const use = (client: ShopEdgeClient) => {
    client.subscribe('product:p1', (m) => {
      if (m.type === 'subscribed') void (m.snapshot.stock + m.snapshot.product.version);
    });
    client.subscribe('order:o1', (m) => {
      if (m.type === 'subscribed') void m.snapshot.status.toUpperCase();
    });
    // @ts-expect-error not a channel
    client.subscribe('products', () => undefined);
  };
  expect(typeof use).toBe('function');
});

test('the WebSocket of browsers and Node, and the ws package, fit the constructor option', () => {
  const constructors: WebSocketConstructor[] = [NodeWs, WebSocket];
  expect(constructors).toHaveLength(2);
});

test("the server's models fit the protocol types", () => {
  assert<ServerProduct extends Product ? true : false>();
  assert<ServerOrder extends Order ? true : false>();
  assert<DashboardFigures extends DashboardMetrics ? true : false>();
  expect(true).toBe(true);
});
