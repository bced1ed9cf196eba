/**
 * The dashboard's low-stock count, kept by the fan-out from the stream: a product's life (sold out,
 * deleted, unlisted, created again) through the real stream path; and one batch of changes that
 * came faster than the counting (so each image still carries the lowCounted mark from before the
 * batch), through the real FanOut and repository on DynamoDB Local. And the repository's read of an
 * entity's current version, which a fan-out still behind asks before each further page.
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { DynamoShopRepository } from '../../functions/catalog/dynamodb/shop-repository';
import { DynamoConnectionStore } from '../../functions/realtime/connection-store';
import { FanOut } from '../../functions/streams/fan-out';
import type { ConnectionNotifier } from '../../functions/realtime/notifier';
import { testDocumentClient, testTables } from '../support';
import { tenantId } from './realtime-fixtures';
import { startStreamConsumer } from './stream-consumer';

const db = testDocumentClient();
afterAll(() => db.destroy());

/** Nobody subscribes here: nothing is posted. */
const notifier: ConnectionNotifier = {
  post: () => Promise.reject(new Error('no connection expected')),
  disconnect: () => Promise.resolve(),
};

it('follows every change of a batch into and out of low stock, whatever lowCounted mark the images carry', async () => {
  const tables = await testTables('low');
  const repo = new DynamoShopRepository(db, tables.shop);
  const fanOut = new FanOut({ connections: new DynamoConnectionStore(db, tables.connections), repo, notifier });
  const tenant = tenantId();
  await repo.createProduct(
    tenant,
    { id: 'quick', name: 'Quick', description: '', price: 100, currency: 'EUR', category: 'c', listed: false },
    5,
  );
  // The creation (stock 0, version 1) was counted as low, as the consumer does.
  await repo.recordStockState(tenant, 'quick', 1, true);
  expect((await repo.getDashboard(tenant)).lowStockCount).toBe(1);

  // Then 0 → 10 → 3 → 20 → 1, written before any of it was counted: every image still says
  // lowCounted true at version 1.
  const stocks = [0, 10, 3, 20, 1];
  const image = (i: number) => ({
    pk: `T#${tenant}`,
    sk: 'S#quick',
    entity: 'stock',
    tenantId: tenant,
    productId: 'quick',
    stock: stocks[i],
    lowStockThreshold: 5,
    version: i + 1,
    lastUpdated: new Date().toISOString(),
    lowCounted: true,
    lowCountedVersion: 1,
  });
  const records: DynamoDBRecord[] = stocks.slice(1).map((_, i) => ({
    eventName: 'MODIFY',
    dynamodb: {
      SequenceNumber: String(100 + i),
      ApproximateCreationDateTime: Date.now() / 1000,
      Keys: marshall({ pk: `T#${tenant}`, sk: 'S#quick' }) as never,
      OldImage: marshall(image(i)) as never,
      NewImage: marshall(image(i + 1)) as never,
    },
  }));

  expect((await fanOut.handle(records)).batchItemFailures).toEqual([]);
  expect((await repo.getDashboard(tenant)).lowStockCount).toBe(1); // stock 1 is low
  // A replay of the batch changes nothing.
  await fanOut.handle(records);
  expect((await repo.getDashboard(tenant)).lowStockCount).toBe(1);
});

it('a sold-out product leaves the count when deleted, comes back when created again; unlisting it changes nothing', async () => {
  const consumer = await startStreamConsumer('life');
  try {
    const { repo } = consumer;
    const tenant = tenantId();
    const count = async () => {
      await consumer.settled(tenant);
      return (await repo.getDashboard(tenant)).lowStockCount;
    };
    const create = () =>
      repo.createProduct(
        tenant,
        { id: 'beans', name: 'Beans', description: '', price: 900, currency: 'EUR', category: 'c', listed: true },
        5,
      );
    await create();
    await repo.createProduct(
      tenant,
      { id: 'tea', name: 'Tea', description: '', price: 500, currency: 'EUR', category: 'c', listed: true },
      5,
    );
    await repo.adjustStock(tenant, 'beans', 8);
    await repo.adjustStock(tenant, 'tea', 20);
    expect(await count()).toBe(0);

    await repo.createOrder(tenant, 'buyer', 'sell-out', [{ productId: 'beans', quantity: 8 }]); // sold out: low
    expect(await count()).toBe(1);
    await repo.updateProduct(tenant, 'beans', { listed: false }); // off the marketplace, still the shop's
    expect(await count()).toBe(1);
    await repo.deleteProduct(tenant, 'beans');
    expect(await count()).toBe(0);
    await create(); // the id again: a new product, stock 0
    expect(await count()).toBe(1);
    await repo.adjustStock(tenant, 'beans', 10);
    expect(await count()).toBe(0);
    expect(consumer.givenUp).toEqual([]);
  } finally {
    await consumer.stop();
  }
});

it("counts a change whose transaction first lost to another on the tenant's counter item (TransactionConflict)", async () => {
  const tables = await testTables('low-conflict');
  // DynamoDB runs such transactions concurrently and cancels the loser; DynamoDB Local runs them one
  // at a time. So the first two attempts are cancelled as DynamoDB would, the rest go through.
  let conflicts = 2;
  const conflicting = new Proxy(db, {
    get(target, name, receiver) {
      if (name !== 'send') return Reflect.get(target, name, receiver) as unknown;
      return (command: { constructor: { name: string } }) => {
        if (command.constructor.name === 'TransactWriteCommand' && conflicts > 0) {
          conflicts -= 1;
          return Promise.reject(
            new TransactionCanceledException({
              message: 'Transaction cancelled',
              $metadata: {},
              CancellationReasons: [{ Code: 'None' }, { Code: 'TransactionConflict' }],
            }),
          );
        }
        return target.send(command as never);
      };
    },
  });
  const repo = new DynamoShopRepository(conflicting, tables.shop);
  const tenant = tenantId();
  await new DynamoShopRepository(db, tables.shop).createProduct(
    tenant,
    { id: 'hot', name: 'Hot', description: '', price: 100, currency: 'EUR', category: 'c', listed: true },
    5,
  );
  await repo.recordStockState(tenant, 'hot', 1, true);
  expect(conflicts).toBe(0);
  expect((await repo.getDashboard(tenant)).lowStockCount).toBe(1);
});

it("reads an entity's current version: a stock item's, a product's (kept past its deletion), an order's; none for no item", async () => {
  const tables = await testTables('versions');
  const repo = new DynamoShopRepository(db, tables.shop);
  const tenant = tenantId();
  const product = await repo.createProduct(
    tenant,
    { id: 'jam', name: 'Jam', description: '', price: 300, currency: 'EUR', category: 'c', listed: false },
    5,
  );
  expect(await repo.currentVersion('product', tenant, 'jam')).toBe(product.version);
  const stock = await repo.adjustStock(tenant, 'jam', 4);
  expect(await repo.currentVersion('stock', tenant, 'jam')).toBe(stock.version);
  const order = await repo.createOrder(tenant, 'buyer', 'o-jam', [{ productId: 'jam', quantity: 1 }]);
  expect(await repo.currentVersion('order', tenant, 'o-jam')).toBe(order.version);
  expect(await repo.currentVersion('stock', tenant, 'jam')).toBe(stock.version + 1);

  await repo.deleteProduct(tenant, 'jam');
  expect(await repo.currentVersion('product', tenant, 'jam')).toBe(product.version + 1);
  expect(await repo.currentVersion('stock', tenant, 'jam')).toBe(stock.version + 2);
  expect(await repo.currentVersion('product', tenant, 'none')).toBeUndefined();
  expect(await repo.currentVersion('order', tenant, 'none')).toBeUndefined();
});
