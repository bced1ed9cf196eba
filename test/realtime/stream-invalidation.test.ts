import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { StackUnderTest } from '../support/stack-under-test';
import { testDocumentClient } from '../support';
import { rest, startStack, tenantId, token } from './realtime-fixtures';

let stack: StackUnderTest;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.stop());

it('invalidates cached reads when a product is changed behind the API (DynamoDB Streams)', async () => {
  const tenant = tenantId();
  const bearer = await token(tenant);
  expect((await rest(stack, 'POST', '/api/products', bearer, { id: 'drift', name: 'Old name', price: 100, category: 'c' })).status).toBe(
    201,
  );
  // Warm the cache: product and list.
  expect((await rest(stack, 'GET', '/api/products/drift', bearer)).body.data.name).toBe('Old name');
  expect((await rest(stack, 'GET', '/api/products', bearer)).body.data[0].name).toBe('Old name');

  // A writer that knows nothing of the cache (a script, the console).
  const db = testDocumentClient();
  await db.send(
    new UpdateCommand({
      TableName: stack.tableNames.shop,
      Key: { pk: `T#${tenant}`, sk: 'P#drift' },
      UpdateExpression: 'SET #n = :n, version = version + :one',
      ExpressionAttributeNames: { '#n': 'name' },
      ExpressionAttributeValues: { ':n': 'New name', ':one': 1 },
    }),
  );
  db.destroy();

  const deadline = Date.now() + 5000;
  let product, list;
  do {
    await new Promise((r) => setTimeout(r, 100));
    product = (await rest(stack, 'GET', '/api/products/drift', bearer)).body.data;
    list = (await rest(stack, 'GET', '/api/products', bearer)).body.data;
  } while ((product.name !== 'New name' || list[0].name !== 'New name') && Date.now() < deadline);
  expect(product).toMatchObject({ name: 'New name', version: 2 });
  expect(list[0]).toMatchObject({ name: 'New name' });
});
