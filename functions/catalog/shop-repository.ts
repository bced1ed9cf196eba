/**
 * The adapter's old address, kept so that the stream handlers, the real-time fan-out and the
 * container's wiring compile while they still import from here. It goes once the streams code
 * moves: import the ports from ./ports, the adapter from ./dynamodb/shop-repository, the item
 * mapping from ./dynamodb/items and the order rules from ./orders.
 */
export { DynamoShopRepository } from './dynamodb/shop-repository';
export { figure, today, toOrder, toProduct, toStockLevel } from './dynamodb/items';
export { PAGE_READ_BUDGET } from './dynamodb/products';
export { orderTotal } from './orders';
export type { NewProduct, ShopRepository } from './ports';
