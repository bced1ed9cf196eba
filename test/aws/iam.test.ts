/** IamAuthority on its own: decisions, their wording, managed policies, and refusals of bad input. */
import { SignatureV4 } from '@smithy/signature-v4';
import { assumedRoleArn, IamAuthority, IamEvaluationError } from '../../local/aws/iam';
import { awsManagedPolicy, UnknownManagedPolicyError } from '../../local/aws/managed-policies';
import { NodeSha256 } from '../../local/aws/sigv4';
import { ACCOUNT, principal } from './support';

const TABLE = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/Orders`;

it('names the session as AWS does: the role path is dropped', () => {
  expect(assumedRoleArn(`arn:aws:iam::${ACCOUNT}:role/service-role/shop/Fn-Role`, 'Fn')).toBe(
    `arn:aws:sts::${ACCOUNT}:assumed-role/Fn-Role/Fn`,
  );
  expect(() => assumedRoleArn('arn:aws:iam::123:user/bob', 'x')).toThrow(/not a role ARN/);
});

it('allows what a statement grants, denies the rest implicitly, and an explicit Deny wins', async () => {
  const authority = new IamAuthority();
  const p = principal('Orders', [
    { Effect: 'Allow', Action: 'dynamodb:*Item', Resource: TABLE },
    { Effect: 'Deny', Action: 'dynamodb:DeleteItem', Resource: TABLE },
  ]);
  authority.register(p);
  const ask = (action: string, resource = TABLE) => authority.authorize({ accessKeyId: p.accessKeyId, action, resource });
  expect(await ask('dynamodb:GetItem')).toMatchObject({ allowed: true, reason: 'allowed' });
  expect(await ask('dynamodb:Query')).toEqual({
    allowed: false,
    reason: 'implicit-deny',
    action: 'dynamodb:Query',
    resource: TABLE,
    message: `User: arn:aws:sts::${ACCOUNT}:assumed-role/Orders/Orders-session is not authorized to perform: dynamodb:Query on resource: ${TABLE} because no identity-based policy allows the dynamodb:Query action`,
  });
  expect(await ask('dynamodb:DeleteItem')).toMatchObject({
    allowed: false,
    reason: 'explicit-deny',
  });
  expect((await ask('dynamodb:DeleteItem')).message).toMatch(/with an explicit deny in an identity-based policy$/);
  expect(await ask('dynamodb:GetItem', `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/Other`)).toMatchObject({ allowed: false });
});

it('warmUp loads the evaluator data of the services the endpoints play, and refuses a sample it cannot evaluate', async () => {
  const authority = new IamAuthority();
  await authority.warmUp();
  await expect(authority.warmUp([{ action: 'dynamodb:GetItem', resource: 'arn:aws:s3:::bucket' }])).rejects.toBeInstanceOf(
    IamEvaluationError,
  );
  const p = principal('AfterWarmUp', [{ Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: TABLE }]);
  authority.register(p);
  expect((await authority.authorize({ accessKeyId: p.accessKeyId, action: 'dynamodb:GetItem', resource: TABLE })).allowed).toBe(true);
});

it('a cached decision does not outlive the policies it was made with', async () => {
  const authority = new IamAuthority();
  const p = principal('Changing', [{ Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: TABLE }]);
  authority.register(p);
  const ask = () => authority.authorize({ accessKeyId: p.accessKeyId, action: 'dynamodb:GetItem', resource: TABLE });
  expect((await ask()).allowed).toBe(true);
  expect((await ask()).allowed).toBe(true);
  authority.register({
    ...p,
    policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: TABLE }] }],
  });
  expect((await ask()).allowed).toBe(false);
  authority.unregister(p.accessKeyId);
  expect(await ask()).toMatchObject({ allowed: false, reason: 'unknown-key' });
});

it('takes the AWS managed policies the stacks attach, with their real statements, and refuses an unknown one', async () => {
  const basic = awsManagedPolicy('arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole');
  const vpc = awsManagedPolicy('arn:aws-cn:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole');
  const authority = new IamAuthority();
  const p = principal('Fn', [], [basic, vpc]);
  authority.register(p);
  const logGroup = `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:/aws/lambda/fn`;
  expect((await authority.authorize({ accessKeyId: p.accessKeyId, action: 'logs:CreateLogGroup', resource: logGroup })).allowed).toBe(true);
  expect((await authority.authorize({ accessKeyId: p.accessKeyId, action: 'ec2:CreateNetworkInterface', resource: '*' })).allowed).toBe(
    true,
  );
  expect((await authority.authorize({ accessKeyId: p.accessKeyId, action: 'dynamodb:GetItem', resource: TABLE })).allowed).toBe(false);
  expect(() => awsManagedPolicy('arn:aws:iam::aws:policy/AdministratorAccess')).toThrow(UnknownManagedPolicyError);
});

it('refuses a policy IAM would reject, and throws (never decides) for an action or ARN the evaluator does not know', async () => {
  const authority = new IamAuthority();
  expect(() => authority.register(principal('Bad', [{ Effect: 'Permit' as 'Allow', Action: 'dynamodb:GetItem', Resource: '*' }]))).toThrow(
    /not valid/,
  );
  const p = principal('Ok', [{ Effect: 'Allow', Action: '*', Resource: '*' }]);
  authority.register(p);
  await expect(
    authority.authorize({ accessKeyId: p.accessKeyId, action: 'dynamodb:NoSuchAction', resource: TABLE }),
  ).rejects.toBeInstanceOf(IamEvaluationError);
  await expect(
    authority.authorize({ accessKeyId: p.accessKeyId, action: 'dynamodb:GetItem', resource: 'arn:aws:s3:::bucket' }),
  ).rejects.toBeInstanceOf(IamEvaluationError);
});

describe('authenticate', () => {
  async function signed(
    p: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
    signingDate: Date,
    applyChecksum = true,
  ) {
    const body = '{}';
    const signer = new SignatureV4({ credentials: p, region: 'us-east-1', service: 'dynamodb', sha256: NodeSha256, applyChecksum });
    const request = await signer.sign(
      {
        method: 'POST',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: 8000,
        path: '/',
        headers: { host: '127.0.0.1:8000', 'x-amz-target': 'DynamoDB_20120810.ListTables' },
        body,
      },
      { signingDate },
    );
    return { method: 'POST', url: '/', headers: request.headers, body: Buffer.from(body) };
  }

  it.each([
    ['with', true],
    ['without', false],
  ])(
    'accepts a request signed with the registered secret, refuses one whose body was changed after signing (%s x-amz-content-sha256)',
    async (_, checksum) => {
      const authority = new IamAuthority();
      const p = principal('Signer', []);
      authority.register(p);
      const request = await signed(p, new Date(), checksum);
      expect('x-amz-content-sha256' in request.headers).toBe(checksum);
      expect(await authority.authenticate(request, { service: 'dynamodb', region: 'us-east-1' })).toMatchObject({
        ok: true,
        principal: { roleArn: p.roleArn },
      });
      expect(await authority.authenticate({ ...request, body: Buffer.from('{"Limit":1}') }, { service: 'dynamodb' })).toMatchObject({
        ok: false,
        failure: { kind: 'invalid-signature' },
      });
    },
  );

  it('refuses a signature more than 5 minutes from now, as AWS does', async () => {
    const authority = new IamAuthority();
    const p = principal('Late', []);
    authority.register(p);
    const old = await signed(p, new Date(Date.now() - 6 * 60_000));
    const result = await authority.authenticate(old, { service: 'dynamodb' });
    expect(result).toMatchObject({ ok: false, failure: { kind: 'invalid-signature' } });
    expect(result.ok ? '' : result.failure.message).toMatch(/^Signature expired: \d{8}T\d{6}Z is now earlier than/);
    expect((await authority.authenticate(await signed(p, new Date(Date.now() - 4 * 60_000)), { service: 'dynamodb' })).ok).toBe(true);
  });

  it('with verifySignatures off, knows the caller by key and session token only', async () => {
    const authority = new IamAuthority({ verifySignatures: false });
    const p = principal('Trusting', []);
    authority.register(p);
    expect((await authority.authenticate(await signed({ ...p, secretAccessKey: 'other' }, new Date()), { service: 'dynamodb' })).ok).toBe(
      true,
    );
    expect(await authority.authenticate(await signed({ ...p, sessionToken: 'other' }, new Date()), { service: 'dynamodb' })).toMatchObject({
      ok: false,
      failure: { kind: 'unknown-key' },
    });
  });
});
