/**
 * Bad input, property-based (fast-check), through the REST front and the real handlers: random
 * route params, query strings and bodies that the contract makes invalid, against every REST
 * route. Each must answer a 4xx (400, or 413 over 64 KiB) with the contract's error body
 * {"error":{"code","message"}}, never a 5xx; no repository call is made (validation comes first),
 * no Redis key of the tenant is touched (rate-limit counters excepted), and the tenant's data read
 * back from DynamoDB equals what it was before.
 *
 * The generators build invalid input by construction (with the contract as the oracle, not the
 * code under test). Invalid UTF-8 inside a JSON string of an otherwise valid body is left to
 * bad-input.test.ts (a known defect of the local REST front); here invalid UTF-8 always also breaks
 * the JSON or the schema.
 *
 * Through the stack under test of this project's mode. As deployed, every request goes through
 * a function's container, the IAM-checking endpoints and the stage throttle: the runs are a fifth
 * of the source mode's (30 for 150), so the suite stays within the test budget.
 *
 * FC_SEED=<n> replays a failing run; FC_RUNS=<n> scales the number of runs.
 */
import fc from 'fast-check';
import { ORDER_STATUSES } from '../../functions/catalog/model';
import { json, tenantId } from '../api/api-fixtures';
import { startStackUnderTest, testMode, type CacheWatch, type StackUnderTest } from '../support/stack-under-test';
import { authenticatedRequests, encodePathSegment, expectContractError, ID_PATTERN } from './security-fixtures';

const RUNS = Number(process.env.FC_RUNS ?? (testMode() === 'as-deployed' ? 30 : 150));
const fcOptions = (numRuns: number) => ({
  numRuns: Math.max(1, Math.round((numRuns * RUNS) / 150)),
  ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
});
const MAX_BODY = 64 * 1024;

interface BadRequest {
  readonly method: string;
  readonly path: string;
  readonly body?: Buffer;
  readonly contentType?: string;
  /** Public route: no token. */
  readonly anonymous?: boolean;
  readonly expect: 400 | 413;
  readonly label: string;
}

let api: StackUnderTest;
let tenant: string;
let token: string;
let orderId: string;
let watch: CacheWatch;
/** Requests sent with the current token; a new user every USER_REQUESTS (the per-user rate limit is 100 a minute). */
let sentWithToken = 0;
let users = 0;
const USER_REQUESTS = 50;
let initial: unknown;

const snapshot = async () => {
  const [product, stock, order, list] = await Promise.all([
    api.repo.getProduct(tenant, 'fixed'),
    api.repo.getStock(tenant, 'fixed'),
    api.repo.getOrder(tenant, orderId),
    api.repo.listProducts(tenant, { limit: 100 }),
  ]);
  return { product, stock, order, ids: list.data.map((p) => p.id) };
};

beforeAll(async () => {
  api = await startStackUnderTest({ name: 'fuzz' });
  tenant = tenantId('fuzz');
  token = await api.token(tenant);
  const created = await api.call('POST', '/api/products', {
    token,
    body: { id: 'fixed', name: 'Fixed lamp', price: 1000, category: 'misc', listed: true },
  });
  expect(created.status).toBe(201);
  expect((await api.call('POST', '/api/products/fixed/stock-adjustments', { token, body: { delta: 1000, reason: 'setup' } })).status).toBe(
    200,
  );
  const order = await api.call('POST', '/api/orders', { token, body: { lines: [{ productId: 'fixed', quantity: 1 }] } });
  expect(order.status).toBe(201);
  orderId = (await json(order)).data.id;
  // Warm the cache, so a bad request that slipped through would find entries to corrupt.
  await api.call('GET', '/api/products/fixed', { token });
  await api.call('GET', '/api/products', { token });
  initial = await snapshot();
  // The setup's writes have gone through the stream consumers: from now on nothing may touch the tenant.
  await api.streamsCaughtUp();
  watch = await api.watchCache();
});

afterAll(async () => {
  // undefined when beforeAll failed
  (watch as CacheWatch | undefined)?.stop();
  await (api as StackUnderTest | undefined)?.stop();
});

async function send(request: BadRequest): Promise<Response> {
  const headers: Record<string, string> = {};
  if (!request.anonymous) {
    if (++sentWithToken > USER_REQUESTS) {
      token = await api.mint({ tenantId: tenant, userId: `fuzzer-${++users}` });
      sentWithToken = 1;
    }
    headers.Authorization = `Bearer ${token}`;
  }
  await api.pace();
  if (request.contentType !== undefined) headers['Content-Type'] = request.contentType;
  return fetch(`${api.restUrl}${request.path}`, {
    method: request.method,
    headers,
    ...(request.body !== undefined ? { body: new Uint8Array(request.body) } : {}),
  });
}

/** The property every generated request must satisfy. */
async function refusedWithoutEffect(request: BadRequest): Promise<void> {
  const since = Date.now();
  const response = await send(request);
  const context = `${request.label}: ${request.method} ${request.path.slice(0, 200)}`;
  if (response.status >= 500) throw new Error(`${context} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  await expectContractError(response, request.expect, context);
  expect({ context, dynamoDbCalls: api.dataCallsNaming(tenant, since) }).toEqual({ context, dynamoDbCalls: [] });
  expect(await snapshot()).toEqual(initial);
}

afterEach(async () => {
  // No command named a key of the tenant: the rate limiter's counter is all that reached Redis.
  await watch.settle();
  expect(watch.tenantLines(tenant)).toEqual([]);
  watch.stop();
  watch = await api.watchCache();
});

// ---------------------------------------------------------------------------------------------
// Generators

const isId = (s: string) => ID_PATTERN.test(s);
const validId = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/);

/** Strings that are not ids; never "." or ".." (a URL would normalise them away). */
const badId = fc
  .oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }),
    fc
      .tuple(
        validId,
        fc.constantFrom(
          '{',
          '}',
          '*',
          '?',
          '[',
          ']',
          ':',
          ' ',
          '/',
          '%',
          '#',
          '.',
          '\u0000',
          'é',
          '😀',
          '\u202E',
          '\uD800',
          '"',
          "'",
          '\\',
        ),
        validId,
      )
      .map(([a, c, b]) => `${a}${c}${b}`),
    fc.integer({ min: 65, max: 400 }).map((n) => 'a'.repeat(n)),
    fc.constantFrom('{t:victim}', '*', 'a{', '}b', '[0-9]', '::'),
  )
  .filter((s) => !isId(s) && s !== '.' && s !== '..');

const jsonText = (value: unknown) => JSON.stringify(value);
const objectText = (entries: readonly (readonly [string, string])[]) =>
  `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

/** JSON texts of values that are not strings. */
const notAString = fc.oneof(
  fc.double().map((d) => (Number.isFinite(d) ? String(d) : 'null')),
  fc.boolean().map(String),
  fc.constant('null'),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }).map(jsonText),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }).map(jsonText),
);
/** JSON texts of values that are not numbers (incl. "NaN" strings and numeric strings). */
const notANumber = fc.oneof(
  fc.constantFrom('"NaN"', '"Infinity"', '"1"', '"0"', '""', 'null', 'true', 'false', '[]', '[1]', '{}', '{"$gt":0}'),
  fc.string({ maxLength: 10 }).map(jsonText),
);
const notABoolean = fc.oneof(
  fc.constantFrom('"true"', '"false"', '1', '0', 'null', '[]', '{}', '"yes"'),
  fc.double().map((d) => (Number.isFinite(d) ? String(d) : '"x"')),
);
const nonInteger = fc
  .double({ noNaN: true, noDefaultInfinity: true })
  .filter((d) => !Number.isInteger(d))
  .map(String);
const hugeNumber = fc.oneof(
  fc.constantFrom('1e400', '-1e400', '1e308', '-1e308', '9007199254740993', '-9007199254740993'),
  fc.double({ min: 1e12, max: 1e300, noNaN: true }).map(String),
);

/** An integer field bounded to [min, max]: JSON texts that are outside or not integers at all. */
function badInteger(min: number, max: number, alsoBad: number[] = []) {
  return fc.oneof(
    fc.integer({ min: -2_000_000_000, max: min - 1 }).map(String),
    fc.integer({ min: max + 1, max: Math.max(max + 1, 2_000_000_000) }).map(String),
    fc.constantFrom(...alsoBad.map(String), String(min - 1), String(max + 1)),
    nonInteger,
    hugeNumber.filter((t) => !(Number.isInteger(Number(t)) && Number(t) >= min && Number(t) <= max)),
    notANumber,
  );
}

const whitespace = fc
  .array(fc.constantFrom(' ', '\t', '\n', '\r', '\u00A0', '\u2003', '\u3000', '\uFEFF'), { maxLength: 8 })
  .map((a) => a.join(''));
const longerThan = (n: number) => fc.integer({ min: n + 1, max: n + 300 }).map((len) => jsonText('n'.repeat(len)));

/** JSON texts of strings that are not ids, and of non-strings. */
const badIdValue = fc.oneof(badId.map(jsonText), notAString);

/** A key the schema does not know (prototype-polluting names included). */
const unknownKey = (known: readonly string[]) =>
  fc.oneof(
    fc
      .constantFrom(
        '__proto__',
        'constructor',
        'prototype',
        'tenantId',
        'version',
        'stock',
        'updatedAt',
        'deletedAt',
        'pk',
        'sk',
        'id',
        'currency',
        'status',
        'total',
      )
      .filter((k) => !known.includes(k)),
    fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !known.includes(k)),
  );

interface BodyRoute {
  readonly name: string;
  readonly method: string;
  readonly path: () => string;
  /** A valid body, as [key, JSON text] entries. */
  readonly base: readonly (readonly [string, string])[];
  readonly required: readonly string[];
  /** Per field: JSON texts that make the body invalid. */
  readonly badValues: Readonly<Record<string, fc.Arbitrary<string>>>;
}

const BODY_ROUTES: BodyRoute[] = [
  {
    name: 'CreateProduct',
    method: 'POST',
    path: () => '/api/products',
    base: [
      ['id', jsonText('fuzz-new')],
      ['name', jsonText('Fuzz')],
      ['price', '100'],
      ['category', jsonText('misc')],
    ],
    required: ['name', 'price', 'category'],
    badValues: {
      id: badIdValue,
      name: fc.oneof(notAString, whitespace.map(jsonText), longerThan(200)),
      description: fc.oneof(notAString, longerThan(5000)),
      price: badInteger(0, 100_000_000_000),
      currency: fc.oneof(
        notAString,
        fc
          .string({ maxLength: 6 })
          .filter((s) => !/^[A-Z]{3}$/.test(s))
          .map(jsonText),
      ),
      category: badIdValue,
      listed: notABoolean,
    },
  },
  {
    name: 'UpdateProduct',
    method: 'PUT',
    path: () => '/api/products/fixed',
    base: [['price', '2000']],
    required: [],
    badValues: {
      name: fc.oneof(notAString, whitespace.map(jsonText), longerThan(200)),
      description: fc.oneof(notAString, longerThan(5000)),
      price: badInteger(0, 100_000_000_000),
      category: badIdValue,
      listed: notABoolean,
    },
  },
  {
    name: 'AdjustStock',
    method: 'POST',
    path: () => '/api/products/fixed/stock-adjustments',
    base: [
      ['delta', '-5'],
      ['reason', jsonText('fuzz')],
    ],
    required: ['delta', 'reason'],
    badValues: {
      delta: badInteger(-1_000_000, 1_000_000, [0, -0]),
      reason: fc.oneof(notAString, whitespace.map(jsonText), longerThan(200)),
    },
  },
  {
    name: 'CreateOrder',
    method: 'POST',
    path: () => '/api/orders',
    base: [['lines', jsonText([{ productId: 'fixed', quantity: 2 }])]],
    required: ['lines'],
    badValues: {
      lines: fc.oneof(
        notAString.filter((t) => !t.startsWith('[')),
        fc.constant('[]'),
        // Too many lines, each valid.
        fc.integer({ min: 41, max: 120 }).map((n) => jsonText(Array.from({ length: n }, () => ({ productId: 'fixed', quantity: 1 })))),
        // One bad line among good ones: nothing may be reserved.
        fc
          .tuple(
            fc.oneof(
              badInteger(1, 10_000).map((q) => `{"productId":"fixed","quantity":${q}}`),
              badIdValue.map((p) => `{"productId":${p},"quantity":1}`),
              unknownKey(['productId', 'quantity']).map((k) => `{"productId":"fixed","quantity":1,${JSON.stringify(k)}:1}`),
              fc.constantFrom('{"productId":"fixed"}', '{"quantity":1}', '{}', 'null', '"fixed"', '1', '[]'),
            ),
            fc.nat({ max: 3 }),
            fc.nat({ max: 3 }),
          )
          .map(
            ([bad, before, after]) =>
              `[${[...Array(before).fill('{"productId":"fixed","quantity":1}'), bad, ...Array(after).fill('{"productId":"fixed","quantity":1}')].join(',')}]`,
          ),
      ),
    },
  },
  {
    name: 'UpdateOrder',
    method: 'PATCH',
    path: () => `/api/orders/${orderId}`,
    base: [['status', jsonText('paid')]],
    required: ['status'],
    badValues: {
      status: fc.oneof(
        notAString,
        fc
          .string({ maxLength: 12 })
          .filter((s) => !(ORDER_STATUSES as readonly string[]).includes(s))
          .map(jsonText),
        fc.constantFrom('PAID', 'Paid', ' paid', 'paid ', 'CANCELLED', 'canceled', 'cancelled\u0000').map(jsonText),
      ),
    },
  },
];

const routeNamed = (name: string) => BODY_ROUTES.find((r) => r.name === name) as BodyRoute;

/** Invalid bodies of one route, valid JSON text apart from what is generated. */
function invalidBodies(route: BodyRoute): fc.Arbitrary<{ text: string; label: string }> {
  const fields = Object.keys(route.badValues);
  const known = [...new Set([...fields, ...route.base.map(([k]) => k)])];
  const withField = (key: string, value: string) => [...route.base.filter(([k]) => k !== key), [key, value] as const];
  const arbitraries: fc.Arbitrary<{ text: string; label: string }>[] = [
    // One field with a wrong value (type, range, length, NaN strings, huge numbers...).
    fc.constantFrom(...fields).chain((field) =>
      (route.badValues[field] as fc.Arbitrary<string>).map((value) => ({
        text: objectText(withField(field, value)),
        label: `bad ${field}`,
      })),
    ),
    // An unknown key next to valid fields (__proto__, constructor, tenantId, version...).
    fc
      .tuple(unknownKey(known), fc.oneof(fc.constantFrom('{"admin":true}', 'null', '1', '"x"', '{"tenantId":"victim"}', '[]')))
      .map(([key, value]) => ({ text: objectText([...route.base, [key, value]]), label: `unknown key ${JSON.stringify(key)}` })),
    // A deeply nested value where a scalar belongs (the whole body stays under 64 KiB).
    fc
      .tuple(fc.constantFrom(...fields), fc.integer({ min: 50, max: 30_000 }), fc.constantFrom('[', '{"a":'))
      .map(([field, depth, open]) => {
        const close = open === '[' ? ']' : '}';
        return {
          text: objectText(withField(field, `${open.repeat(depth)}1${close.repeat(depth)}`)),
          label: `nested ${depth} deep in ${field}`,
        };
      }),
  ];
  if (route.required.length > 0) {
    // A required field missing.
    arbitraries.push(
      fc
        .constantFrom(...route.required)
        .map((field) => ({ text: objectText(route.base.filter(([k]) => k !== field)), label: `without ${field}` })),
    );
  } else {
    arbitraries.push(fc.constant({ text: '{}', label: 'empty patch' }));
  }
  return fc.oneof(...arbitraries);
}

/** Bodies that are wrong whatever the route: not JSON, not an object, too large, wrong content type, broken UTF-8. */
function genericBadBodies(route: BodyRoute): fc.Arbitrary<Omit<BadRequest, 'method' | 'path'>> {
  const base = objectText(route.base);
  const json = 'application/json';
  return fc.oneof(
    fc
      .string({ unit: 'binary', maxLength: 200 })
      .filter((s) => {
        try {
          JSON.parse(s);
          return false;
        } catch {
          return true;
        }
      })
      .map((s) => ({ body: Buffer.from(s), contentType: json, expect: 400 as const, label: 'not JSON' })),
    fc
      .jsonValue({ maxDepth: 3 })
      .filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))
      .map((v) => ({ body: Buffer.from(JSON.stringify(v)), contentType: json, expect: 400 as const, label: 'JSON but not an object' })),
    fc.constant({ body: Buffer.alloc(0), contentType: json, expect: 400 as const, label: 'empty body' }),
    fc.integer({ min: 100, max: 30_000 }).map((n) => ({
      body: Buffer.from(`${'['.repeat(n)}${']'.repeat(n)}`),
      contentType: json,
      expect: 400 as const,
      label: `${n} nested arrays`,
    })),
    // Over 64 KiB, up to a bit over 1 MB, otherwise a valid body: 413 whatever it holds.
    fc
      .oneof(fc.integer({ min: MAX_BODY + 1, max: MAX_BODY + 2048 }), fc.integer({ min: 256 * 1024, max: 1024 * 1024 + 4096 }))
      .map((size) => {
        const frame = `${base.slice(0, -1)},"description":""}`;
        const text = `${base.slice(0, -1)},"description":"${'p'.repeat(size - frame.length)}"}`;
        return { body: Buffer.from(text), contentType: json, expect: 413 as const, label: `${text.length} bytes` };
      }),
    // A valid body with a content type that is not JSON.
    fc
      .constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'text/json',
        'application/xml',
        'application/jsonx',
      )
      .map((contentType) => ({ body: Buffer.from(base), contentType, expect: 400 as const, label: `Content-Type ${contentType}` })),
    // Invalid UTF-8 bytes where they break the JSON, or inside an unknown key.
    fc
      .tuple(
        fc.constantFrom([0xff], [0xfe, 0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]),
        fc.boolean(),
      )
      .map(([bytes, asKey]) => {
        const bad = Buffer.from(bytes);
        const body = asKey
          ? Buffer.concat([Buffer.from(`${base.slice(0, -1)},"`), bad, Buffer.from('":1}')])
          : Buffer.concat([Buffer.from('{'), bad, Buffer.from(base.slice(1))]);
        return {
          body,
          contentType: json,
          expect: 400 as const,
          label: `invalid UTF-8 ${Buffer.from(bytes).toString('hex')} ${asKey ? 'in a key' : 'outside strings'}`,
        };
      }),
  );
}

// ---------------------------------------------------------------------------------------------
// Properties

describe('random route params', () => {
  it('an id that is not an id is 400 on every id-taking route', async () => {
    const routes = authenticatedRequests({ productId: '@@ID@@', orderId: '@@ID@@' }).filter((r) => r.path.includes('@@ID@@'));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), badId, async (route, id) =>
        refusedWithoutEffect({
          method: route.method,
          path: route.path.replace('@@ID@@', encodePathSegment(id)),
          ...(route.body !== undefined ? { body: Buffer.from(JSON.stringify(route.body)), contentType: 'application/json' } : {}),
          expect: 400,
          label: `id ${JSON.stringify(id.slice(0, 40))}`,
        }),
      ),
      fcOptions(200),
    );
  });
});

/** Percent-encodes a query key or value completely (so any string survives the URL). */
const q = (s: string) => encodePathSegment(s);
const queryString = (pairs: readonly (readonly [string, string])[]) => pairs.map(([k, v]) => `${q(k)}=${q(v)}`).join('&');

const isValidLimit = (v: string) => {
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 && n <= 100;
};
const badLimit = fc
  .oneof(
    fc.integer({ min: -1_000_000_000, max: 0 }).map(String),
    fc.integer({ min: 101, max: 2_000_000_000 }).map(String),
    nonInteger,
    hugeNumber,
    fc.constantFrom('NaN', 'Infinity', '-Infinity', '', ' ', 'abc', '1.5', '--1', '١٢', '10;DROP', '[1]', 'null', 'true'),
    fc.string({ maxLength: 12 }),
  )
  .filter((v) => !isValidLimit(v));

/**
 * A cursor no server issued: too long, not of the cursor's shape, the unsigned positions cursors
 * used to be, or the signed shape with a MAC made up (2^-128 of guessing right).
 */
const badCursor = (parts: number) =>
  fc
    .oneof(
      fc.string({ minLength: 201, maxLength: 400 }),
      fc.string({ maxLength: 60 }),
      badId.map((id) => Buffer.from(id).toString('base64url')),
      fc.array(validId, { minLength: 1, maxLength: 4 }).map((ids) => Buffer.from(ids.join('/')).toString('base64url')),
      fc
        .tuple(fc.array(validId, { minLength: parts, maxLength: parts }), fc.stringMatching(/^[A-Za-z0-9_-]{22}$/))
        .map(([ids, mac]) => `${Buffer.from(ids.join('/')).toString('base64url')}.${mac}`),
    )
    // An empty cursor means "from the start".
    .filter((cursor) => cursor !== '');

/** Unknown query keys, Object.prototype member names included. */
const parsableKey = (known: readonly string[]) =>
  fc
    .oneof(
      fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'token'),
      fc.string({ minLength: 1, maxLength: 12 }),
    )
    .filter((k) => !known.includes(k));

describe('random query strings', () => {
  it('GET /api/products refuses bad limit, category, q, unknown and repeated parameters with 400', async () => {
    const known = ['limit', 'cursor', 'category', 'q'];
    const bad = fc.oneof(
      badLimit.map((v) => [['limit', v]] as [string, string][]),
      badId.map((v) => [['category', v]] as [string, string][]),
      fc
        .oneof(
          whitespace,
          fc.string({ minLength: 101, maxLength: 300 }).filter((s) => s.trim().length > 100),
        )
        .map((v) => [['q', v]] as [string, string][]),
      fc.tuple(parsableKey(known), fc.string({ maxLength: 20 })).map(([k, v]) => [[k, v]] as [string, string][]),
      fc.tuple(fc.constantFrom(...known), fc.constantFrom('5', 'a', 'misc')).map(
        ([k, v]) =>
          [
            [k, v],
            [k, v],
          ] as [string, string][],
      ),
    );
    const goodExtras = fc.subarray([
      ['limit', '5'],
      ['category', 'misc'],
      ['q', 'lamp'],
    ] as [string, string][]);
    await fc.assert(
      fc.asyncProperty(bad, goodExtras, fc.boolean(), async (badPairs, extras, badFirst) => {
        const used = new Set(badPairs.map(([k]) => k));
        const others = extras.filter(([k]) => !used.has(k));
        const pairs = badFirst ? [...badPairs, ...others] : [...others, ...badPairs];
        await refusedWithoutEffect({
          method: 'GET',
          path: `/api/products?${queryString(pairs)}`,
          expect: 400,
          label: `query ${JSON.stringify(badPairs).slice(0, 120)}`,
        });
      }),
      fcOptions(200),
    );
  });

  it('GET /api/products/{id} refuses an include other than "stock", unknown and repeated parameters with 400', async () => {
    const bad = fc.oneof(
      fc
        .string({ maxLength: 20 })
        .filter((v) => v !== 'stock')
        .map((v) => [['include', v]] as [string, string][]),
      fc.constantFrom('STOCK', 'stock ', 'stock,price', 'Stock').map((v) => [['include', v]] as [string, string][]),
      fc.tuple(parsableKey(['include']), fc.string({ maxLength: 10 })).map(
        ([k, v]) =>
          [
            ['include', 'stock'],
            [k, v],
          ] as [string, string][],
      ),
      fc.constant([
        ['include', 'stock'],
        ['include', 'stock'],
      ] as [string, string][]),
    );
    await fc.assert(
      fc.asyncProperty(bad, async (pairs) =>
        refusedWithoutEffect({
          method: 'GET',
          path: `/api/products/fixed?${queryString(pairs)}`,
          expect: 400,
          label: `query ${JSON.stringify(pairs).slice(0, 120)}`,
        }),
      ),
      fcOptions(100),
    );
  });

  it('GET /api/marketplace/products (public) refuses bad limit, unknown and repeated parameters with 400', async () => {
    const known = ['limit', 'cursor'];
    const bad = fc.oneof(
      badLimit.map((v) => [['limit', v]] as [string, string][]),
      fc.tuple(parsableKey(known), fc.string({ maxLength: 20 })).map(([k, v]) => [[k, v]] as [string, string][]),
      fc.constantFrom(...known).map(
        (k) =>
          [
            [k, '5'],
            [k, '5'],
          ] as [string, string][],
      ),
    );
    await fc.assert(
      fc.asyncProperty(bad, async (pairs) =>
        refusedWithoutEffect({
          method: 'GET',
          path: `/api/marketplace/products?${queryString(pairs)}`,
          anonymous: true,
          expect: 400,
          label: `query ${JSON.stringify(pairs).slice(0, 120)}`,
        }),
      ),
      fcOptions(100),
    );
  });
});

describe('random bodies', () => {
  it.each(BODY_ROUTES.map((r) => r.name))(
    '%s refuses invalid fields, unknown keys, missing fields and deep nesting with 400',
    async (name) => {
      const route = routeNamed(name);
      await fc.assert(
        fc.asyncProperty(invalidBodies(route), async ({ text, label }) =>
          refusedWithoutEffect({
            method: route.method,
            path: route.path(),
            body: Buffer.from(text),
            contentType: 'application/json',
            expect: Buffer.byteLength(text) > MAX_BODY ? 413 : 400,
            label,
          }),
        ),
        fcOptions(150),
      );
    },
  );

  it('every body route refuses non-JSON, non-objects, wrong content types and broken UTF-8 with 400, and bodies over 64 KiB (to 1 MB) with 413', async () => {
    const arbitrary = fc
      .constantFrom(...BODY_ROUTES.map((r) => r.name))
      .chain((name) => genericBadBodies(routeNamed(name)).map((bad) => ({ name, bad })));
    await fc.assert(
      fc.asyncProperty(arbitrary, async ({ name, bad }) => {
        const route = routeNamed(name);
        await refusedWithoutEffect({ method: route.method, path: route.path(), ...bad, label: `${route.name} ${bad.label}` });
      }),
      fcOptions(200),
    );
  });
});

describe('random cursors', () => {
  it('a cursor no server issued is 400 on both list routes, with or without other parameters', async () => {
    const arbitrary = fc.oneof(
      fc.tuple(
        fc.constant('/api/products'),
        badCursor(1),
        fc.subarray([
          ['limit', '5'],
          ['category', 'misc'],
          ['q', 'lamp'],
        ] as [string, string][]),
      ),
      fc.tuple(fc.constant('/api/marketplace/products'), badCursor(2), fc.subarray([['limit', '5']] as [string, string][])),
    );
    await fc.assert(
      fc.asyncProperty(arbitrary, async ([path, cursor, extras]) =>
        refusedWithoutEffect({
          method: 'GET',
          path: `${path}?${queryString([...extras, ['cursor', cursor]])}`,
          anonymous: path.includes('marketplace'),
          expect: 400,
          label: `cursor ${JSON.stringify(cursor).slice(0, 80)}`,
        }),
      ),
      fcOptions(150),
    );
  });
});
