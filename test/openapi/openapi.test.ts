/**
 * The OpenAPI document: every route of the route table with its schemas, a valid OpenAPI 3.1
 * document (two maintained validators, below), openapi.json up to date, and the document true to the running
 * API: the local stack serves it at /openapi.json, and real answers of every route have a
 * documented status and a body that fits its schema.
 */
import * as fs from 'node:fs';
import { createConfig, lintFromString, type Config } from '@redocly/openapi-core';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { $ZodObject, $ZodType } from 'zod/v4/core';
import { z } from 'zod';
import * as requests from '../../functions/shared/requests';
import { resetConfig } from '../../functions/shared/config';
import { REST_ROUTES } from '../../functions/routes';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { mintDevToken } from '../../local/tokens';
import { openApiDocument } from '../../openapi/document';
import * as schemas from '../../openapi/schemas';
import { OPENAPI_FILE, renderOpenApi } from '../../openapi/write';
import { dynamoDbEndpoint, testTables } from '../support';

type Json = Record<string, any>;

const doc: Json = openApiDocument();
const deref = (node: Json): Json => {
  if (typeof node.$ref !== 'string') return node;
  return node.$ref
    .slice(2)
    .split('/')
    .reduce((n: Json, segment: string) => n[segment.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
};
const inputSchema = (schema: $ZodType) => {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input' }) as Json;
  return rest;
};

/**
 * The problems two maintained validators find in a document, each as "<JSON pointer>: <message>";
 * [] means valid. The official JSON Schema of OpenAPI 3.1 (@seriousme/openapi-schema-validator, which
 * also resolves every local $ref) states the structure, e.g. that a path parameter is required and a
 * parameter has a schema or a content, not both. Redocly's recommended rules state what a JSON
 * Schema cannot: unique operationIds, path templates matching their parameters, security schemes
 * and tags declared, Schema Objects of the JSON Schema 2020-12 dialect (no OpenAPI 3.0 `nullable`),
 * `required` naming declared properties.
 */
const schemaValidator = new Validator();
let redoclyConfig: Promise<Config> | undefined;
const validateOpenApi = async (document: Json): Promise<string[]> => {
  const problems: string[] = [];
  const { valid, errors } = await schemaValidator.validate(structuredClone(document));
  if (!valid) {
    if (typeof errors === 'string') problems.push(`#: ${errors}`);
    else for (const e of errors ?? []) problems.push(`#${e.instancePath}: ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);
  }
  redoclyConfig ??= createConfig({
    extends: ['recommended'],
    // /health answers 200 or 503 and takes no input: no 4xx to document.
    rules: { 'operation-4xx-response': 'off', 'operation-tag-defined': 'error' },
  });
  try {
    const found = await lintFromString({ source: JSON.stringify(document), absoluteRef: '/openapi.json', config: await redoclyConfig });
    for (const p of found) problems.push(`${p.location[0]?.pointer ?? '#'}: ${p.message} (${p.ruleId})`);
  } catch (err) {
    // Redocly throws on a document it cannot lint at all, e.g. of an unknown OpenAPI version.
    problems.push(`#: ${err instanceof Error ? err.message : String(err)} (redocly)`);
  }
  return problems;
};

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(await validateOpenApi(doc)).toEqual([]);
  });

  it('has every route of the route table, and nothing else', () => {
    const documented = Object.entries(doc.paths as Json).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(REST_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    for (const route of REST_ROUTES) {
      const op = doc.paths[route.path][route.method.toLowerCase()];
      expect([route.name, op.operationId, op.summary]).toEqual([route.name, route.name, route.summary]);
      expect([route.name, op.security]).toEqual([route.name, route.permission ? [{ bearerAuth: [] }] : []]);
      expect([route.name, op['x-permission']]).toEqual([route.name, route.permission]);
      expect([route.name, op['x-cache-class']]).toEqual([route.name, route.cacheClass]);
      for (const name of route.path.match(/\{([^}]+)\}/g) ?? []) {
        expect(op.parameters).toContainEqual(expect.objectContaining({ name: name.slice(1, -1), in: 'path', required: true }));
      }
      if (route.permission) expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403', '429']));
    }
  });

  it('takes request bodies and queries from the schemas the route table gives the handler chain', () => {
    const bodies: Record<string, $ZodType> = {
      CreateProduct: requests.createProductSchema,
      UpdateProduct: requests.updateProductSchema,
      AdjustStock: requests.stockAdjustmentSchema,
      CreateOrder: requests.createOrderSchema,
      UpdateOrder: requests.updateOrderSchema,
    };
    // The handler chain validates exactly these: the route table names them.
    expect(Object.fromEntries(REST_ROUTES.filter((r) => r.body).map((r) => [r.name, r.body]))).toEqual(bodies);
    for (const route of REST_ROUTES) {
      const op = doc.paths[route.path][route.method.toLowerCase()];
      const body = bodies[route.name];
      if (!body) {
        expect([route.name, op.requestBody]).toEqual([route.name, undefined]);
        continue;
      }
      // What zod emits, exactly, once the two restated refinements (checked below) are taken out.
      const documented = structuredClone(deref(op.requestBody.content['application/json'].schema));
      delete documented.minProperties;
      delete documented.properties.delta?.not;
      expect([route.name, documented]).toEqual([route.name, inputSchema(body)]);
    }
    expect(deref({ $ref: '#/components/schemas/UpdateProductRequest' }).minProperties).toBe(1);
    expect(deref({ $ref: '#/components/schemas/StockAdjustmentRequest' }).properties.delta.not).toEqual({ const: 0 });

    const queries: Record<string, $ZodObject> = {
      ListProducts: requests.listProductsQuerySchema,
      ListMarketplace: requests.marketplaceQuerySchema,
      GetProduct: requests.getProductQuerySchema,
    };
    expect(Object.fromEntries(REST_ROUTES.filter((r) => r.query).map((r) => [r.name, r.query]))).toEqual(queries);
    for (const [name, schema] of Object.entries(queries)) {
      const route = REST_ROUTES.find((r) => r.name === name)!;
      const params = (doc.paths[route.path].get.parameters as Json[]).filter((p) => p.in === 'query');
      const expected = inputSchema(schema);
      expect([name, params.map((p) => p.name)]).toEqual([name, Object.keys(expected.properties)]);
      for (const p of params) {
        const { description: _d, ...want } = expected.properties[p.name];
        expect([name, p.name, p.schema, p.required]).toEqual([name, p.name, want, (expected.required ?? []).includes(p.name)]);
      }
    }
  });

  it('answers every route with the data schema of its entry, and the exact Cache-Control', () => {
    for (const route of REST_ROUTES) {
      const spec = { ...route, success: route.success! };
      const op = doc.paths[route.path][route.method.toLowerCase()];
      const success = op.responses[String(spec.success.status)];
      expect([route.name, success.headers['Cache-Control'].schema.examples]).toEqual([route.name, [expect.any(String)]]);
      if (spec.success.data === undefined) {
        expect([route.name, success.content]).toEqual([route.name, undefined]);
        continue;
      }
      const body = success.content['application/json'].schema;
      const data = spec.success.list ? body.properties.data.items : body.properties.data;
      const refs = (data.anyOf ?? [data]).map((d: Json) => d.$ref);
      const names = [spec.success.data].flat();
      expect([route.name, refs]).toEqual([route.name, names.map((n) => `#/components/schemas/${n}`)]);
      for (const ref of refs) expect(deref({ $ref: ref })).toBeDefined();
    }
  });

  it('is what openapi.json holds (npm run openapi writes it)', () => {
    expect(fs.readFileSync(OPENAPI_FILE, 'utf8')).toBe(renderOpenApi());
  });

  it('fails to generate for a route that says nothing of its success, or whose body is no component', () => {
    const { success: _success, ...silent } = { ...REST_ROUTES[0]!, name: 'ListThings', path: '/api/things' };
    expect(() => openApiDocument({ routes: [...REST_ROUTES, silent] })).toThrow(/ListThings .* says nothing of its success/);
    const unnamed = { ...REST_ROUTES[0]!, name: 'PostThings', method: 'POST' as const, path: '/api/things', body: z.strictObject({}) };
    expect(() => openApiDocument({ routes: [...REST_ROUTES, unnamed] })).toThrow(/PostThings: its body schema is not a component/);
  });
});

describe('the validator bites', () => {
  const broken = (mutate: (d: Json) => void): Promise<string[]> => {
    const copy = structuredClone(doc);
    mutate(copy);
    return validateOpenApi(copy);
  };

  it.each([
    // A 3.0 document is checked against the 3.0 schema, which has no jsonSchemaDialect.
    ['a 3.0 version', (d: Json) => (d.openapi = '3.0.3'), /^#: must NOT have additional properties .*jsonSchemaDialect/m],
    ['a version that is not 3.1.x', (d: Json) => (d.openapi = '3.1'), /^#\/openapi: must match pattern/m],
    ['no info.title', (d: Json) => delete d.info.title, /^#\/info: must have required property 'title'/m],
    [
      'a dangling $ref',
      (d: Json) => (d.paths['/api/orders'].post.requestBody.content['application/json'].schema.$ref = '#/components/schemas/Nope'),
      /Can't resolve #\/components\/schemas\/Nope/,
    ],
    [
      'an undeclared path parameter',
      (d: Json) => (d.paths['/api/orders/{id}'].get.parameters = []),
      /does not define the path parameter `\{id\}`/,
    ],
    [
      'an optional path parameter',
      (d: Json) => (d.paths['/api/orders/{id}'].get.parameters[0].required = false),
      /^#\/paths\/~1api~1orders~1\{id\}\/get\/parameters\/0\/required: must be equal to constant/m,
    ],
    [
      'a response without description',
      (d: Json) => delete d.paths['/health'].get.responses['200'].description,
      /^#\/paths\/~1health\/get\/responses\/200: must have required property 'description'/m,
    ],
    [
      'a bad status key',
      (d: Json) => (d.paths['/health'].get.responses['2000'] = { description: 'x' }),
      /^#\/paths\/~1health\/get\/responses: must NOT have unevaluated properties .*"2000"/m,
    ],
    ['a duplicate operationId', (d: Json) => (d.paths['/health'].get.operationId = 'GetOrder'), /unique `operationId`/],
    ['an unknown security scheme', (d: Json) => (d.paths['/api/orders'].post.security = [{ apiKey: [] }]), /no `apiKey` security scheme/],
    [
      'OpenAPI 3.0 nullable',
      (d: Json) => (d.components.schemas.Product.properties.name.nullable = true),
      /^#\/components\/schemas\/Product\/properties\/name\/nullable: Property `nullable` is not expected/m,
    ],
    [
      'required naming no property',
      (d: Json) => d.components.schemas.Order.required.push('ghost'),
      /Required property 'ghost' is not defined/,
    ],
    [
      'a boolean exclusiveMinimum',
      (d: Json) => (d.components.schemas.StockLevel.properties.stock.exclusiveMinimum = true),
      /exclusiveMinimum: Expected type `number` but got `boolean`/,
    ],
    ['an invalid type', (d: Json) => (d.components.schemas.Product.properties.price.type = 'int'), /price\/type: `type` can be one of/],
    [
      'schema and content on a parameter',
      (d: Json) => (d.paths['/api/products'].get.parameters[0].content = { 'text/plain': {} }),
      /^#\/paths\/~1api~1products\/get\/parameters\/0: must match exactly one schema in oneOf/m,
    ],
    [
      'a path without a slash',
      (d: Json) => (d.paths['health'] = d.paths['/health']),
      /^#\/paths: must NOT have unevaluated properties .*"health"/m,
    ],
    [
      'an undeclared tag',
      (d: Json) => d.paths['/health'].get.tags.push('misc'),
      /tags\/1: Operation tags should be defined in global tags/,
    ],
  ])('finds %s', async (_what, mutate, expected) => {
    const problems = await broken(mutate as (d: Json) => void);
    expect(problems.join('\n')).toMatch(expected);
  });
});

describe('against the running API (local stack)', () => {
  let stack: LocalStack;
  let token: string;

  beforeAll(async () => {
    stack = await startLocalStack({
      port: 0,
      wsPort: 0,
      dynamoDbEndpoint: dynamoDbEndpoint(),
      redis: 'none',
      tableNames: await testTables('oa'),
      seed: false,
      streams: false,
    });
    resetConfig();
    token = await mintDevToken({ tenantId: 'openapi-t1' });
  }, 60_000);
  afterAll(() => (stack as LocalStack | undefined)?.stop()); // undefined when beforeAll failed

  const call = async (method: string, path: string, body?: unknown, bearer: string | null = token) => {
    const response = await fetch(`${stack.restUrl}${path}`, {
      method,
      headers: { ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, json: text ? (JSON.parse(text) as Json) : undefined };
  };

  it('serves the document at /openapi.json, with its own URL as the server', async () => {
    const response = await fetch(`${stack.restUrl}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual(openApiDocument({ serverUrl: stack.restUrl }));
  });

  it('documents the status and the body shape of real answers of every route', async () => {
    // One call per route, in an order that creates what the next ones read.
    const calls: [string, string, string, unknown?][] = [
      ['CreateProduct', 'POST', '/api/products', { id: 'oa-beans', name: 'Beans', price: 1290, category: 'coffee', listed: true }],
      ['AdjustStock', 'POST', '/api/products/oa-beans/stock-adjustments', { delta: 20, reason: 'delivery' }],
      ['ListProducts', 'GET', '/api/products?limit=5'],
      ['GetProduct', 'GET', '/api/products/oa-beans'],
      ['GetProduct', 'GET', '/api/products/oa-beans?include=stock'],
      ['GetProductStock', 'GET', '/api/products/oa-beans/stock'],
      ['UpdateProduct', 'PUT', '/api/products/oa-beans', { price: 1390 }],
      ['CreateOrder', 'POST', '/api/orders', { lines: [{ productId: 'oa-beans', quantity: 2 }] }],
      ['ListMarketplace', 'GET', '/api/marketplace/products?limit=5'],
      ['Health', 'GET', '/health'],
    ];
    const strict = (schema: { shape: Record<string, $ZodType> }) => z.strictObject(schema.shape);
    const dataSchemas: Record<string, z.ZodType> = {
      Product: strict(schemas.productSchema),
      ProductWithStock: strict(schemas.productWithStockSchema),
      StockLevel: strict(schemas.stockLevelSchema),
      Order: strict(schemas.orderSchema),
      Health: strict(schemas.healthSchema),
    };
    const check = (name: string, status: number, json: Json | undefined) => {
      const route = REST_ROUTES.find((r) => r.name === name)!;
      const spec = { ...route, success: route.success! };
      expect([name, Object.keys(doc.paths[route.path][route.method.toLowerCase()].responses)]).toEqual([
        name,
        expect.arrayContaining([String(status)]),
      ]);
      expect([name, status]).toEqual([name, spec.success.status]);
      if (spec.success.data === undefined) return;
      const candidates = [spec.success.data].flat().map((n) => dataSchemas[n]!);
      const items = spec.success.list ? (json!.data as unknown[]) : [json!.data];
      if (spec.success.list) expect([name, typeof json!.nextCursor === 'string' || json!.nextCursor === null]).toEqual([name, true]);
      for (const item of items) {
        const fits = candidates.some((schema) => schema.safeParse(item).success);
        if (!fits)
          throw new Error(
            `${name}: ${JSON.stringify(item)} fits none of ${[spec.success.data].flat().join(', ')}: ${candidates[0]!.safeParse(item).error?.message}`,
          );
      }
    };

    let orderId = '';
    for (const [name, method, path, body] of calls) {
      const { status, json } = await call(method, path, body);
      check(name, status, json);
      if (name === 'CreateOrder') orderId = json!.data.id;
    }
    const order = await call('GET', `/api/orders/${orderId}`);
    check('GetOrder', order.status, order.json);
    const paid = await call('PATCH', `/api/orders/${orderId}`, { status: 'paid' });
    check('UpdateOrder', paid.status, paid.json);
    const deleted = await call('DELETE', '/api/products/oa-beans');
    check('DeleteProduct', deleted.status, deleted.json);
  });

  it('documents the errors real requests get', async () => {
    const documented = (name: string, status: number) => {
      const route = REST_ROUTES.find((r) => r.name === name)!;
      expect([name, Object.keys(doc.paths[route.path][route.method.toLowerCase()].responses)]).toEqual([
        name,
        expect.arrayContaining([String(status)]),
      ]);
    };
    const cases: [string, string, string, unknown, string | null, number][] = [
      ['GetOrder', 'GET', '/api/orders/missing-1', undefined, token, 404],
      ['ListProducts', 'GET', '/api/products?limit=0', undefined, token, 400],
      ['ListProducts', 'GET', '/api/products', undefined, null, 401],
      ['AdjustStock', 'POST', '/api/products/nope/stock-adjustments', { delta: 0, reason: 'x' }, token, 400],
      ['CreateOrder', 'POST', '/api/orders', { lines: [{ productId: 'ghost', quantity: 1 }] }, token, 404],
    ];
    for (const [name, method, path, body, bearer, status] of cases) {
      const response = await call(method, path, body, bearer);
      expect([name, path, response.status]).toEqual([name, path, status]);
      documented(name, status);
      if (status !== 401) expect(schemas.errorSchema.safeParse(response.json).success).toBe(true);
    }
  });
});
