/**
 * The as-deployed mode bites: a copy of the synthesized dev app with three defects a template can
 * carry, each in one function, runs as deployed, and each function fails the way it would in AWS,
 * for its own reason:
 *  (a) GetOrder's role loses its table grant: the local DynamoDB endpoint refuses its GetItem with
 *      AccessDeniedException (recorded against GetOrder's role), and the route answers 500
 *      INTERNAL (the contract's error for a failure that is neither the client's nor an outage);
 *  (b) GetProduct loses SHOP_TABLE_NAME: its configuration error is what the invocation ends with
 *      (500 INTERNAL, logged naming the table setting), not a default table;
 *  (c) Health leaves the VPC: it can no longer reach the cache (the connection is dropped, as a
 *      security group without a route would), and /health says Redis is down.
 * The unchanged functions around them (CreateProduct, CreateOrder) work, and the same requests
 * pass against the real assembly in the REST suites of this project.
 */
import { startDeployedStack, type DeployedStack } from '../../local/deployed/stack';
import { synthesizeApp } from '../../local/deployed/synth';
import type { Logger } from '../../local/log';
import { dynamoDbEndpoint, uniqueId } from '../support';
import { copyAssembly, isNamed, resourceStartingWith, type AssemblyCopy } from './assembly-copy';

let copy: AssemblyCopy;
let stack: DeployedStack;
const logs: string[] = [];
const tenant = uniqueId('mut').replace(/[^A-Za-z0-9_-]/g, '_');
let token: string;
let orderId: string;

beforeAll(async () => {
  const source = process.env.SHOP_EDGE_TEST_ASSEMBLY ?? (await synthesizeApp({ envName: 'dev' })).directory;
  copy = await copyAssembly(source, (stackName, resources) => {
    if (!stackName.endsWith('-Api')) return;
    // (a) No DynamoDB statement in GetOrder's policy.
    const policy = resourceStartingWith(resources, 'AWS::IAM::Policy', 'GetOrderRoleDefaultPolicy');
    const document = policy.Properties.PolicyDocument as { Statement: { Action: string | string[] }[] };
    const before = document.Statement.length;
    document.Statement = document.Statement.filter((s) => ![s.Action].flat().some((a) => a.startsWith('dynamodb:')));
    if (document.Statement.length === before) throw new Error('GetOrder has no DynamoDB statement to drop: the template changed');
    // (b) No SHOP_TABLE_NAME for GetProduct.
    const getProduct = resourceStartingWith(resources, 'AWS::Lambda::Function', 'GetProduct');
    const variables = (getProduct.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    if (!('SHOP_TABLE_NAME' in variables)) throw new Error('GetProduct has no SHOP_TABLE_NAME to drop: the template changed');
    delete variables.SHOP_TABLE_NAME;
    // (c) Health out of the VPC.
    const health = resourceStartingWith(resources, 'AWS::Lambda::Function', 'Health');
    if (health.Properties.VpcConfig === undefined) throw new Error('Health is not in the VPC: the template changed');
    delete health.Properties.VpcConfig;
  });
  const record = (part: string) => (message: string) => {
    logs.push(`[${part}] ${message}`);
  };
  const logger = (part: string): Logger => ({ info: record(part), warn: record(part), error: record(part) });
  stack = await startDeployedStack({
    port: 0,
    wsPort: 0,
    assemblyDir: copy.directory,
    dynamoDbEndpoint: dynamoDbEndpoint(),
    nameSalt: uniqueId('mutations'),
    seed: false,
    web: false,
    logger,
  });
  token = await stack.mintToken({ tenantId: tenant });
  const call = (method: string, path: string, body: unknown) =>
    fetch(`${stack.restUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  // The unchanged functions work: a product with stock, and an order of it.
  expect((await call('POST', '/api/products', { id: 'lamp', name: 'Lamp', price: 100, category: 'misc' })).status).toBe(201);
  expect((await call('POST', '/api/products/lamp/stock-adjustments', { delta: 5, reason: 'restock' })).status).toBe(200);
  const order = await call('POST', '/api/orders', { lines: [{ productId: 'lamp', quantity: 1 }] });
  expect(order.status).toBe(201);
  orderId = ((await order.json()) as { data: { id: string } }).data.id;
}, 120_000);

afterAll(async () => {
  await (stack as DeployedStack | undefined)?.stop();
  await (copy as AssemblyCopy | undefined)?.remove();
});

async function get(path: string, bearer?: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${stack.restUrl}${path}`, bearer ? { headers: { Authorization: `Bearer ${bearer}` } } : {});
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

const functionNamed = (name: string) =>
  [...stack.deployment.functions.values()].find((f) => isNamed(f.logicalId, name) && f.stack.endsWith('-Api'));

it('(a) a route whose role lost its table grant: AccessDeniedException on dynamodb:GetItem for its role, and 500 INTERNAL', async () => {
  const getOrder = functionNamed('GetOrder');
  expect(getOrder).toBeDefined();
  const since = Date.now();
  const response = await get(`/api/orders/${orderId}`, token);
  // The contract's answer for a failure that is not the client's nor a dependency's outage.
  expect(response).toEqual({ status: 500, body: { error: { code: 'INTERNAL', message: expect.any(String) } } });
  const denied = stack.dynamoDbCalls().filter((c) => c.at >= since && c.principal?.sessionName === getOrder?.name);
  expect(denied.length).toBeGreaterThan(0);
  for (const call of denied) {
    expect(call).toMatchObject({
      operation: 'GetItem',
      allowed: false,
      errorType: 'AccessDeniedException',
      checks: [expect.objectContaining({ action: 'dynamodb:GetItem', resource: expect.stringContaining(stack.tableNames.shop) })],
    });
    expect(call.errorMessage).toContain(getOrder?.role.arn.split('/').pop());
  }
  // The order is there: only the grant is missing.
  const created = stack.dynamoDbCalls().filter((c) => c.operation === 'TransactWriteItems' && c.allowed);
  expect(created.length).toBeGreaterThan(0);
});

it('(b) a function without an environment variable it needs: the invocation fails on its configuration, no default', async () => {
  const getProduct = functionNamed('GetProduct');
  expect(getProduct?.environment.SHOP_TABLE_NAME).toBeUndefined();
  const from = logs.length;
  const response = await get('/api/products/lamp', token);
  expect(response).toEqual({ status: 500, body: { error: { code: 'INTERNAL', message: expect.any(String) } } });
  // What the function's logs say: the variable the operator must set, by its name.
  const said = logs.slice(from).filter((l) => l.includes('GetProduct'));
  expect(said.some((l) => l.includes('Invalid tables configuration') && l.includes('SHOP_TABLE_NAME is required'))).toBe(true);
  // It never made a DynamoDB request against some other table.
  expect(stack.dynamoDbCalls().filter((c) => c.principal?.sessionName === getProduct?.name)).toEqual([]);
});

it('(c) a function moved out of the VPC: its connection to the cache is dropped, and /health says Redis is down', async () => {
  const health = functionNamed('Health');
  expect(health?.vpc).toBeUndefined();
  const cacheHost = stack.caches[0]?.cache.endpoint.host;
  expect(cacheHost).toBeDefined();
  const from = logs.length;
  const response = await get('/health');
  expect(response).toEqual({
    status: 503,
    body: { error: { code: 'UNAVAILABLE', message: 'redis unavailable (redis: down, dynamodb: ok)' } },
  });
  const dropped = logs.slice(from).filter((l) => l.includes('Health') && l.includes('network: connection to'));
  expect(dropped.some((l) => l.includes(`${cacheHost}:`) && l.includes("not reachable from this function's network"))).toBe(true);
});
