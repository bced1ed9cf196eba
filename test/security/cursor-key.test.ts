/**
 * The cursor key in AWS: a Secrets Manager secret (CURSOR_KEY_SECRET_ARN), read by the list
 * functions only, once per container, on the first list request; a failed read is a 503 the client
 * retries and the next request reads again (not a cached failure). A cursor is the deployment's
 * signature with that secret's current value: no other key (the public development one included)
 * makes one the API takes. Rotating the secret (a new AWSCURRENT) changes the key of every
 * container started after it; a warm container keeps the key it read.
 *
 * Through the stack under test of this project's mode:
 * - from source, a local Secrets Manager of this test (the real SDK client, with the credentials
 *   of a role that may read the secret) and the handlers in this process, given its ARN;
 * - as deployed, the synthesized dev app: the secret the template generates (64 characters), the
 *   ARN its template environment gives the list functions, their roles' grants, the deployment's
 *   Secrets Manager (IAM-checked) that their containers read from.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { randomBytes } from 'node:crypto';
import { closeServices } from '../../functions/composition/lifecycle';
import { CursorSigner } from '../../functions/http/cursors';
import { REST_ROUTES } from '../../functions/routes';
import { resetConfig } from '../../functions/shared/config';
import { IamAuthority } from '../../local/aws/iam';
import { startSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { DEV_CURSOR_KEY } from '../../local/dev-defaults';
import { json, tenantId } from '../api/api-fixtures';
import { ACCOUNT, REGION, principal } from '../aws/support';
import { itAsDeployed, itInSource, startStackUnderTest, testMode, type StackUnderTest } from '../support/stack-under-test';
import { expectContractError, routeFunction } from './security-fixtures';

const SOURCE_KEY_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:shop-edge/cursor-key-AbCdEf`;

let api: StackUnderTest;
let sm: LocalSecretsManager;
let keyArn: string;
let ownSecretsManager: LocalSecretsManager | undefined;
let listRole: ReturnType<typeof principal> | undefined;
const saved = { ...process.env };

beforeAll(async () => {
  if (testMode() === 'source') {
    const authority = new IamAuthority();
    // What the CDK's grantRead gives a list function.
    const role = principal('ListProductsRole', [
      { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: SOURCE_KEY_ARN },
    ]);
    authority.register(role);
    ownSecretsManager = await startSecretsManager({
      authority,
      region: REGION,
      accountId: ACCOUNT,
      secrets: [{ name: 'shop-edge/cursor-key', arn: SOURCE_KEY_ARN, value: 'q'.repeat(64) }],
    });
    listRole = role;
  }
  api = await startStackUnderTest({ name: 'cursorkey' });
  if (listRole !== undefined && ownSecretsManager !== undefined) {
    // After the stack's start, which gives the handlers fake credentials: the list function's role.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: ownSecretsManager.url,
      AWS_ACCESS_KEY_ID: listRole.accessKeyId,
      AWS_SECRET_ACCESS_KEY: listRole.secretAccessKey,
      AWS_SESSION_TOKEN: listRole.sessionToken,
      CURSOR_KEY_SECRET_ARN: SOURCE_KEY_ARN,
    });
    delete process.env.CURSOR_KEY;
    resetConfig();
  }
  if (api.deployed === undefined) {
    sm = ownSecretsManager as LocalSecretsManager;
    keyArn = SOURCE_KEY_ARN;
  } else {
    sm = api.deployed.secretsManager;
    const arn = routeFunction(api.deployed, 'ListProducts').environment.CURSOR_KEY_SECRET_ARN;
    if (arn === undefined) throw new Error('the deployed ListProducts function has no CURSOR_KEY_SECRET_ARN');
    keyArn = arn;
  }
});

afterAll(async () => {
  await api.stop();
  await ownSecretsManager?.close();
  process.env = saved;
  resetConfig();
});

afterEach(() => {
  sm.clearFaults();
});

const keyReads = () => sm.calls().filter((c) => c.operation === 'GetSecretValue' && c.secretId === keyArn && c.outcome === 'ok');

/** The secret's AWSCURRENT value: the key a container reads now. */
function currentKey(): string {
  const version = sm.secret(keyArn)?.versions.find((v) => v.stages.includes('AWSCURRENT'));
  if (typeof version?.value !== 'string') throw new Error(`${keyArn}: no AWSCURRENT SecretString`);
  return version.value;
}

/** The position a cursor names (its ids), as the signer seals it. */
const positionOf = (cursor: string) =>
  Buffer.from(cursor.split('.')[0] as string, 'base64url')
    .toString('utf8')
    .split('/');

async function products(tenant: string, ids: readonly string[]): Promise<string> {
  const token = await api.mint({ tenantId: tenant, userId: `key-${tenant}` });
  for (const id of ids) {
    const created = await api.call('POST', '/api/products', { token, body: { id, name: id, price: 1, category: 'misc' } });
    expect(created.status).toBe(201);
  }
  return token;
}

describe('the cursor key from Secrets Manager', () => {
  it('is read on the first list request only, once; a failed read is 503 and the next request reads it', async () => {
    const tenant = tenantId('key');
    const token = await products(tenant, ['k1', 'k2']);
    expect((await api.call('GET', '/api/products/k1', { token })).status).toBe(200);
    expect(sm.calls().filter((c) => c.secretId === keyArn)).toEqual([]);

    // Secrets Manager throttles every attempt of the SDK's retries: the page cannot be signed.
    sm.failNext(10, 'throttle', ['GetSecretValue']);
    const refused = await api.call('GET', '/api/products?limit=1', { token });
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    await expectContractError(refused, 503);
    sm.clearFaults();

    const first = await api.call('GET', '/api/products?limit=1', { token });
    expect(first.status).toBe(200);
    const { nextCursor } = await json(first);
    const second = await json(await api.call('GET', `/api/products?limit=1&cursor=${nextCursor}`, { token }));
    expect(second.data).toEqual([expect.objectContaining({ id: 'k2' })]);
    expect((await api.call('GET', '/api/marketplace/products')).status).toBe(200);
    // Once per container of a list function (these sequential requests kept one container each).
    const byReader = new Map<string, number>();
    for (const read of keyReads()) {
      const reader = read.principal?.sessionName ?? '?';
      byReader.set(reader, (byReader.get(reader) ?? 0) + 1);
    }
    expect([...byReader.values()].every((n) => n === 1)).toBe(true);
    if (api.deployed !== undefined) {
      const listFunctions = ['ListProducts', 'ListMarketplace'].map(
        (r) => routeFunction(api.deployed as NonNullable<typeof api.deployed>, r).name,
      );
      expect([...byReader.keys()].sort()).toEqual(listFunctions.sort());
    } else {
      expect(keyReads()).toHaveLength(1);
    }
  });

  itAsDeployed(
    "is the deployment's generated secret: only the list functions get its ARN and a grant to read it, no function carries a key",
    () => {
      const deployed = api.deployed as NonNullable<typeof api.deployed>;
      const functions = [...deployed.deployment.functions.values()];
      const listRoutes = REST_ROUTES.filter((r) => r.needs.cursorKey === true).map((r) => r.name);
      expect(listRoutes.length).toBeGreaterThan(0);
      const given = functions.filter((f) => f.environment.CURSOR_KEY_SECRET_ARN !== undefined);
      expect(given.map((f) => f.name).sort()).toEqual(listRoutes.map((r) => routeFunction(deployed, r).name).sort());
      expect(new Set(given.map((f) => f.environment.CURSOR_KEY_SECRET_ARN))).toEqual(new Set([keyArn]));
      expect(functions.filter((f) => f.environment.CURSOR_KEY !== undefined).map((f) => f.logicalId)).toEqual([]);
      // Granted to the list functions' roles, and to no other function's.
      const grants = (f: (typeof functions)[number]) => JSON.stringify(f.role.policies).includes(keyArn);
      expect(
        functions
          .filter(grants)
          .map((f) => f.name)
          .sort(),
      ).toEqual(given.map((f) => f.name).sort());
      // CloudFormation's GenerateSecretString of the template: 64 characters, no punctuation.
      expect(currentKey()).toMatch(/^[A-Za-z0-9]{64}$/);
    },
  );

  it("a cursor is the deployment's signature with the secret's current value; one sealed with another key is 400", async () => {
    const tenant = tenantId('sig');
    const token = await products(tenant, ['s1', 's2', 's3']);
    const { nextCursor } = await json(await api.call('GET', '/api/products?limit=1', { token }));
    expect(typeof nextCursor).toBe('string');
    const position = positionOf(nextCursor as string);
    const scope = { route: 'ListProducts', owner: tenant, parts: position.length };
    // The functions sign with exactly the secret's value: re-sealed with it, the same cursor.
    expect(new CursorSigner(currentKey()).seal(scope, position)).toBe(nextCursor);
    // A forger's keys: the public development key, a random one, the key with a character changed.
    const key = currentKey();
    const forgers = [DEV_CURSOR_KEY, randomBytes(48).toString('base64url'), `${key.slice(0, -1)}${key.endsWith('a') ? 'b' : 'a'}`];
    for (const [i, forger] of forgers.entries()) {
      const forged = new CursorSigner(forger).seal(scope, position);
      await expectContractError(await api.call('GET', `/api/products?limit=1&cursor=${forged}`, { token }), 400, `forger ${i}`);
    }
    // The real one continues.
    expect((await json(await api.call('GET', `/api/products?limit=1&cursor=${nextCursor}`, { token }))).data).toEqual([
      expect.objectContaining({ id: 's2' }),
    ]);
  });
});

interface Answer {
  readonly status: number;
  readonly nextCursor: string | null;
}

/** A list request as the REST API hands it to the function once the authorizer allowed the caller. */
function listEvent(tenant: string, query: Record<string, string>): APIGatewayProxyEvent {
  return {
    resource: '/api/products',
    path: '/api/products',
    httpMethod: 'GET',
    headers: {},
    multiValueHeaders: {},
    queryStringParameters: query,
    multiValueQueryStringParameters: Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]])),
    pathParameters: null,
    stageVariables: null,
    body: null,
    isBase64Encoded: false,
    requestContext: {
      authorizer: { tenantId: tenant, userId: `rot-${tenant}`, permissions: 'products:read products:write', principalId: 'p' },
    } as unknown as APIGatewayProxyEvent['requestContext'],
  };
}

describe('rotating the cursor key (a new AWSCURRENT)', () => {
  const rotated = 'r'.repeat(20) + randomBytes(33).toString('base64url');

  // From source the handlers share this process: "a new container" is its services dropped, and
  // built again by the next request from the environment (a fresh cursor signer, which reads the secret).
  itInSource('a container started after it signs with the new key and refuses the old cursors; before it, the old key', async () => {
    const tenant = tenantId('rot');
    const token = await products(tenant, ['r1', 'r2', 'r3']);
    const oldKey = currentKey();
    const before = await json(await api.call('GET', '/api/products?limit=1', { token }));
    sm.putValue(keyArn, rotated);
    // The container that read the key before keeps it.
    expect((await api.call('GET', `/api/products?limit=1&cursor=${before.nextCursor}`, { token })).status).toBe(200);
    await closeServices();
    const after = await json(await api.call('GET', '/api/products?limit=1', { token }));
    const position = positionOf(before.nextCursor as string);
    const scope = { route: 'ListProducts', owner: tenant, parts: position.length };
    expect([before.nextCursor, after.nextCursor]).toEqual([
      new CursorSigner(oldKey).seal(scope, position),
      new CursorSigner(rotated).seal(scope, position),
    ]);
    await expectContractError(await api.call('GET', `/api/products?limit=1&cursor=${before.nextCursor}`, { token }), 400, 'old cursor');
  });

  // As deployed: the same function invoked twice at once runs in two containers, the warm one and
  // one started for the second invocation (after the rotation), as Lambda scales out.
  itAsDeployed(
    'a container started after it signs with the new key and refuses the old cursors; the warm one keeps the old key',
    async () => {
      const deployed = api.deployed as NonNullable<typeof api.deployed>;
      const pool = deployed.pools.get(routeFunction(deployed, 'ListProducts').name);
      if (pool === undefined) throw new Error('no ListProducts containers');
      const tenant = tenantId('rot');
      await products(tenant, ['r1', 'r2', 'r3']);
      const invoke = async (query: Record<string, string>) => {
        const result = await pool.invoke(listEvent(tenant, query));
        if (!result.ok) throw new Error(`ListProducts: ${result.kind}`);
        const payload = result.payload as APIGatewayProxyResult;
        const body = JSON.parse(payload.body) as { nextCursor?: string | null };
        return {
          container: result.report.containerId,
          coldStart: result.report.coldStart,
          status: payload.statusCode,
          nextCursor: body.nextCursor ?? null,
        };
      };
      const oldKey = currentKey();
      const before = await invoke({ limit: '1' });
      expect(before.status).toBe(200);
      sm.putValue(keyArn, rotated);
      /** One answer from the warm container, one from a container started now. */
      const onBoth = async (query: Record<string, string>): Promise<{ warm: Answer; fresh: Answer }> => {
        const answers = await Promise.all([invoke(query), invoke(query)]);
        const warm = answers.find((a) => a.container === before.container);
        const fresh = answers.find((a) => a.container !== before.container);
        if (warm === undefined || fresh === undefined) throw new Error(`expected the warm and a new container: ${JSON.stringify(answers)}`);
        return { warm, fresh };
      };
      const first = await onBoth({ limit: '1' });
      const position = positionOf(before.nextCursor as string);
      const scope = { route: 'ListProducts', owner: tenant, parts: position.length };
      expect({ warm: first.warm.nextCursor, fresh: first.fresh.nextCursor }).toEqual({
        warm: new CursorSigner(oldKey).seal(scope, position),
        fresh: new CursorSigner(rotated).seal(scope, position),
      });
      // The old cursor: still taken by the warm container, refused by the new one.
      const old = await onBoth({ limit: '1', cursor: before.nextCursor as string });
      expect({ warm: old.warm.status, fresh: old.fresh.status }).toEqual({ warm: 200, fresh: 400 });
      // The new container read the secret once, its new value.
      expect(keyReads().filter((r) => r.principal?.sessionName === pool.name).length).toBeGreaterThanOrEqual(2);
    },
  );
});
