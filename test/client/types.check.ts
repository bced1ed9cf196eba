/**
 * Compile-time checks of the client's types, run by `tsc --noEmit` (npm run lint), not by jest: a
 * type assertion has nothing to do at run time, so a test of it could not fail. The file is never
 * executed. An `Equal` or an assignment fails the type check when the types drift or get stricter;
 * each `@ts-expect-error` line fails it ("unused directive") when the types get looser.
 */
import { WebSocket as NodeWs } from 'ws';
import type { DashboardFigures, Order as ServerOrder, Product as ServerProduct } from '../../functions/catalog/model';
import type { ChannelMessage, DashboardMetrics, Order, Product, ShopEdgeClient, WebSocketConstructor } from '../../client/src';

// Two types are equal when two deferred conditional types over them are: the generic is the trick.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- see above
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;

// Each channel gets exactly its own message types.
export type ChannelMessageTypes = [
  Assert<Equal<ChannelMessage<'product:p1'>['type'], 'subscribed' | 'stock:update' | 'product:updated' | 'refetch'>>,
  Assert<Equal<ChannelMessage<'order:o1'>['type'], 'subscribed' | 'order:update' | 'refetch'>>,
  Assert<Equal<ChannelMessage<'dashboard'>['type'], 'subscribed' | 'dashboard:metric' | 'refetch'>>,
];

export function subscribeNarrowsPerChannel(client: ShopEdgeClient): void {
  client.subscribe('product:p1', (m) => {
    if (m.type === 'subscribed') console.log(m.snapshot.stock + m.snapshot.product.version);
    // @ts-expect-error a product channel never gets order updates
    if (m.type === 'order:update') console.log(m);
  });
  client.subscribe('order:o1', (m) => {
    if (m.type === 'subscribed') console.log(m.snapshot.status.toUpperCase());
    // @ts-expect-error an order snapshot has no stock
    if (m.type === 'subscribed') console.log(m.snapshot.stock);
  });
  // @ts-expect-error not a channel
  client.subscribe('products', () => undefined);
  // @ts-expect-error the dashboard channel has no id
  client.subscribe('dashboard:d1', () => undefined);
}

// The WebSocket of browsers and Node, and the ws package, fit the constructor option; other things do not.
export const constructors: WebSocketConstructor[] = [NodeWs, WebSocket];
// @ts-expect-error not a WebSocket
export const notAWebSocket: WebSocketConstructor = URL;

// The server's models fit the protocol types the client promises.
export type ServerModelsFit = [
  Assert<ServerProduct extends Product ? true : false>,
  Assert<ServerOrder extends Order ? true : false>,
  Assert<DashboardFigures extends DashboardMetrics ? true : false>,
];
// @ts-expect-error an order status outside the protocol's
export const unknownStatus: Order['status'] = 'lost';
