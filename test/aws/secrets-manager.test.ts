/**
 * The local Secrets Manager through the real SecretsManagerClient: values and versions with
 * their staging labels, IAM on the secret's ARN, AWS's errors, and the faults a test of a
 * failing read at init needs.
 */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { IamAuthority, type PrincipalRegistration } from '../../local/aws/iam';
import { startSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { ACCOUNT, REGION, credentialsOf, failure, principal, sessionArn } from './support';

let authority: IamAuthority;
let sm: LocalSecretsManager;
let reader: PrincipalRegistration;
let rotator: PrincipalRegistration;
const clients: SecretsManagerClient[] = [];

function client(p: PrincipalRegistration, maxAttempts = 1, requestTimeout?: number): SecretsManagerClient {
  const c = new SecretsManagerClient({
    endpoint: sm.url,
    region: REGION,
    credentials: credentialsOf(p),
    maxAttempts,
    ...(requestTimeout === undefined ? {} : { requestHandler: new NodeHttpHandler({ requestTimeout, throwOnRequestTimeout: true }) }),
  });
  clients.push(c);
  return c;
}

const REDIS_AUTH = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:shop-edge/redis-auth-AbCdEf`;

beforeAll(async () => {
  authority = new IamAuthority();
  sm = await startSecretsManager({
    authority,
    region: REGION,
    accountId: ACCOUNT,
    secrets: [
      { name: 'shop-edge/redis-auth', arn: REDIS_AUTH, value: 'first-password' },
      { name: 'binary', value: new Uint8Array([1, 2, 3]) },
    ],
  });
  // What CDK's secret.grantRead gives: GetSecretValue and DescribeSecret on the secret's ARN.
  reader = principal('Reader', [
    { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: REDIS_AUTH },
  ]);
  rotator = principal('Rotator', [{ Effect: 'Allow', Action: 'secretsmanager:*', Resource: '*' }]);
  authority.register(reader);
  authority.register(rotator);
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await sm.close();
});

afterEach(() => {
  sm.clearFaults();
});

describe('values and versions', () => {
  it('GetSecretValue answers the AWSCURRENT value by name, full ARN and partial ARN', async () => {
    for (const id of ['shop-edge/redis-auth', REDIS_AUTH, REDIS_AUTH.slice(0, -7)]) {
      const out = await client(reader).send(new GetSecretValueCommand({ SecretId: id }));
      expect(out).toMatchObject({
        ARN: REDIS_AUTH,
        Name: 'shop-edge/redis-auth',
        SecretString: 'first-password',
        VersionStages: ['AWSCURRENT'],
      });
      expect(out.CreatedDate).toBeInstanceOf(Date);
    }
  });

  it('answers SecretBinary as bytes', async () => {
    const out = await client(rotator).send(new GetSecretValueCommand({ SecretId: 'binary' }));
    expect(out.SecretBinary).toEqual(new Uint8Array([1, 2, 3]));
    expect(out.SecretString).toBeUndefined();
  });

  it('a rotation: PutSecretValue moves AWSCURRENT, the old version keeps AWSPREVIOUS, a pending version can be promoted', async () => {
    await client(rotator).send(new CreateSecretCommand({ Name: 'rotating', SecretString: 'v1' }));
    const v1 = (await client(rotator).send(new GetSecretValueCommand({ SecretId: 'rotating' }))).VersionId as string;
    const put = await client(rotator).send(new PutSecretValueCommand({ SecretId: 'rotating', SecretString: 'v2' }));
    expect(put.VersionStages).toEqual(['AWSCURRENT']);
    expect((await client(rotator).send(new GetSecretValueCommand({ SecretId: 'rotating' }))).SecretString).toBe('v2');
    const previous = await client(rotator).send(new GetSecretValueCommand({ SecretId: 'rotating', VersionStage: 'AWSPREVIOUS' }));
    expect(previous).toMatchObject({ SecretString: 'v1', VersionId: v1, VersionStages: ['AWSPREVIOUS'] });

    // Rotation's createSecret / finishSecret steps.
    const pending = await client(rotator).send(
      new PutSecretValueCommand({
        SecretId: 'rotating',
        SecretString: 'v3',
        VersionStages: ['AWSPENDING'],
        ClientRequestToken: 'token-3-aaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      }),
    );
    expect((await client(rotator).send(new GetSecretValueCommand({ SecretId: 'rotating' }))).SecretString).toBe('v2');
    await client(rotator).send(
      new UpdateSecretVersionStageCommand({
        SecretId: 'rotating',
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: pending.VersionId,
        RemoveFromVersionId: put.VersionId,
      }),
    );
    expect((await client(rotator).send(new GetSecretValueCommand({ SecretId: 'rotating' }))).SecretString).toBe('v3');
    const described = await client(rotator).send(new DescribeSecretCommand({ SecretId: 'rotating' }));
    expect(described.VersionIdsToStages).toEqual({
      [pending.VersionId as string]: ['AWSPENDING', 'AWSCURRENT'],
      [put.VersionId as string]: ['AWSPREVIOUS'],
    });
  });

  it('PutSecretValue is idempotent by ClientRequestToken and refuses a different value under the same token', async () => {
    await client(rotator).send(new CreateSecretCommand({ Name: 'idempotent', SecretString: 'a' }));
    const token = 'same-token-aaaaaaaaaaaaaaaaaaaaaaaaaa';
    const first = await client(rotator).send(
      new PutSecretValueCommand({ SecretId: 'idempotent', SecretString: 'b', ClientRequestToken: token }),
    );
    const again = await client(rotator).send(
      new PutSecretValueCommand({ SecretId: 'idempotent', SecretString: 'b', ClientRequestToken: token }),
    );
    expect(again.VersionId).toBe(first.VersionId);
    expect(sm.secret('idempotent')?.versions).toHaveLength(2);
    expect(
      (
        await failure(
          client(rotator).send(new PutSecretValueCommand({ SecretId: 'idempotent', SecretString: 'c', ClientRequestToken: token })),
        )
      ).name,
    ).toBe('ResourceExistsException');
  });

  it('UpdateSecret with a value makes a new AWSCURRENT version', async () => {
    await client(rotator).send(new CreateSecretCommand({ Name: 'updated', SecretString: 'old' }));
    const out = await client(rotator).send(new UpdateSecretCommand({ SecretId: 'updated', SecretString: 'new', Description: 'd' }));
    const got = await client(rotator).send(new GetSecretValueCommand({ SecretId: 'updated' }));
    expect(got).toMatchObject({ SecretString: 'new', VersionId: out.VersionId });
    expect((await client(rotator).send(new DescribeSecretCommand({ SecretId: 'updated' }))).Description).toBe('d');
  });

  it("answers ResourceNotFoundException for a secret or version that isn't there", async () => {
    expect(await failure(client(rotator).send(new GetSecretValueCommand({ SecretId: 'nope' })))).toEqual({
      name: 'ResourceNotFoundException',
      status: 400,
      message: "Secrets Manager can't find the specified secret.",
    });
    expect(
      (await failure(client(rotator).send(new GetSecretValueCommand({ SecretId: 'binary', VersionStage: 'AWSPENDING' })))).message,
    ).toBe("Secrets Manager can't find the specified secret value for staging label: AWSPENDING");
    expect((await failure(client(rotator).send(new CreateSecretCommand({ Name: 'binary', SecretString: 'x' })))).name).toBe(
      'ResourceExistsException',
    );
  });
});

describe('IAM', () => {
  it('refuses what the role is not granted with AccessDeniedException, naming the SecretId as given', async () => {
    const denied = await failure(client(reader).send(new PutSecretValueCommand({ SecretId: 'shop-edge/redis-auth', SecretString: 'x' })));
    expect(denied).toEqual({
      name: 'AccessDeniedException',
      status: 400,
      message: `User: ${sessionArn(reader)} is not authorized to perform: secretsmanager:PutSecretValue on resource: shop-edge/redis-auth because no identity-based policy allows the secretsmanager:PutSecretValue action`,
    });
    expect((await failure(client(reader).send(new GetSecretValueCommand({ SecretId: 'binary' })))).name).toBe('AccessDeniedException');
  });

  it('checks IAM before existence: a missing secret the caller may not read is AccessDenied', async () => {
    expect((await failure(client(reader).send(new GetSecretValueCommand({ SecretId: 'missing' })))).name).toBe('AccessDeniedException');
  });

  it('refuses an unknown access key with UnrecognizedClientException', async () => {
    const stranger = principal('Stranger', [{ Effect: 'Allow', Action: '*', Resource: '*' }]);
    expect(await failure(client(stranger).send(new GetSecretValueCommand({ SecretId: 'binary' })))).toEqual({
      name: 'UnrecognizedClientException',
      status: 400,
      message: 'The security token included in the request is invalid.',
    });
  });
});

describe('faults', () => {
  it('the next N calls answer ThrottlingException, then calls succeed again', async () => {
    sm.failNext(2, 'throttle', ['GetSecretValue']);
    const c = client(reader);
    const read = () => c.send(new GetSecretValueCommand({ SecretId: REDIS_AUTH }));
    expect(await failure(read())).toEqual({ name: 'ThrottlingException', status: 400, message: 'Rate exceeded' });
    expect((await failure(read())).name).toBe('ThrottlingException');
    expect((await read()).SecretString).toBe('first-password');
  });

  it("the SDK's own retries absorb fewer throttles than its attempts", async () => {
    sm.failNext(2, 'throttle');
    const before = sm.calls().length;
    const out = await client(reader, 3).send(new GetSecretValueCommand({ SecretId: REDIS_AUTH }));
    expect(out.SecretString).toBe('first-password');
    expect(
      sm
        .calls()
        .slice(before)
        .map((c) => c.outcome),
    ).toEqual(['ThrottlingException', 'ThrottlingException', 'ok']);
  });

  it('a hanging call gets no answer: the caller times out, the next call is answered', async () => {
    sm.failNext(1, 'hang');
    const c = client(reader, 1, 300);
    const started = Date.now();
    const hung = await failure(c.send(new GetSecretValueCommand({ SecretId: REDIS_AUTH })));
    expect(hung.name).toBe('TimeoutError');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect((await c.send(new GetSecretValueCommand({ SecretId: REDIS_AUTH }))).SecretString).toBe('first-password');
  });

  it('any other error, e.g. InternalServiceError 500', async () => {
    sm.failNext(1, { status: 500, type: 'InternalServiceError', message: 'boom' });
    expect(await failure(client(reader).send(new GetSecretValueCommand({ SecretId: REDIS_AUTH })))).toEqual({
      name: 'InternalServiceError',
      status: 500,
      message: 'boom',
    });
  });

  it('records each call with its principal and outcome', async () => {
    const before = sm.calls().length;
    await client(reader).send(new DescribeSecretCommand({ SecretId: REDIS_AUTH }));
    const [call] = sm.calls().slice(before);
    expect(call).toMatchObject({
      operation: 'DescribeSecret',
      secretId: REDIS_AUTH,
      outcome: 'ok',
      principal: { roleArn: reader.roleArn },
    });
  });
});
