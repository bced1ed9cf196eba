/**
 * The cursor key in AWS: a Secrets Manager secret (CURSOR_KEY_SECRET_ARN), read by the list
 * functions only, once per container, on the first list request; a failed read is a 503 the client
 * retries and the next request reads again (not a cached failure). Against the local Secrets
 * Manager through the real SDK client, with the credentials of a role that may read the secret.
 */
import { resetConfig } from '../../functions/shared/config';
import { IamAuthority } from '../../local/aws/iam';
import { startSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { json, startApi, tenantId, type Api } from '../api/api-fixtures';
import { ACCOUNT, REGION, principal } from '../aws/support';
import { expectContractError } from './security-fixtures';

const KEY_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:shop-edge/cursor-key-AbCdEf`;

let api: Api;
let sm: LocalSecretsManager;
const saved = { ...process.env };

beforeAll(async () => {
  const authority = new IamAuthority();
  // What the CDK's grantRead gives a list function.
  const role = principal('ListProductsRole', [
    { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: KEY_ARN },
  ]);
  authority.register(role);
  sm = await startSecretsManager({
    authority,
    region: REGION,
    accountId: ACCOUNT,
    secrets: [{ name: 'shop-edge/cursor-key', arn: KEY_ARN, value: 'q'.repeat(64) }],
  });
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url,
    AWS_ACCESS_KEY_ID: role.accessKeyId,
    AWS_SECRET_ACCESS_KEY: role.secretAccessKey,
    AWS_SESSION_TOKEN: role.sessionToken,
    CURSOR_KEY_SECRET_ARN: KEY_ARN,
  });
  delete process.env.CURSOR_KEY;
  resetConfig();
  api = await startApi();
  api.rewire({ rateLimitPerMinute: 1_000_000 });
});

afterAll(async () => {
  await api.close();
  await sm.close();
  process.env = saved;
  resetConfig();
});

const reads = () => sm.calls().filter((c) => c.operation === 'GetSecretValue' && c.outcome === 'ok').length;

describe('the cursor key from Secrets Manager', () => {
  it('is read on the first list request only, once; a failed read is 503 and the next request reads it', async () => {
    const tenant = tenantId('key');
    const token = await api.token(tenant);
    for (const id of ['k1', 'k2']) {
      const created = await api.call('POST', '/api/products', { token, body: { id, name: id, price: 1, category: 'misc' } });
      expect(created.status).toBe(201);
    }
    expect((await api.call('GET', '/api/products/k1', { token })).status).toBe(200);
    expect(sm.calls()).toEqual([]);

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
    expect(reads()).toBe(1);
  });
});
