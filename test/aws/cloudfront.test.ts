/**
 * The local CloudFront through the real CloudFrontClient: invalidations, their progression,
 * CloudFront's in-progress limits, CallerReference idempotency, IAM on the distribution ARN.
 */
import { CloudFrontClient, CreateInvalidationCommand, GetInvalidationCommand, ListInvalidationsCommand } from '@aws-sdk/client-cloudfront';
import { startCloudFront, type LocalCloudFront } from '../../local/aws/cloudfront';
import { IamAuthority, type PrincipalRegistration } from '../../local/aws/iam';
import { ACCOUNT, credentialsOf, failure, principal, sessionArn } from './support';

const DIST = 'E1SHOPEDGE0001';
const OTHER = 'E2OTHERDIST002';
const distributionArn = (id: string): string => `arn:aws:cloudfront::${ACCOUNT}:distribution/${id}`;

let authority: IamAuthority;
let cf: LocalCloudFront;
let purger: PrincipalRegistration;
let clock = Date.now();
const clients: CloudFrontClient[] = [];

function client(p: PrincipalRegistration): CloudFrontClient {
  // A function's client is in the function's region (CloudFront itself is global).
  const c = new CloudFrontClient({ endpoint: cf.url, region: 'eu-west-1', credentials: credentialsOf(p), maxAttempts: 1 });
  clients.push(c);
  return c;
}

const invalidate = (p: PrincipalRegistration, paths: string[], ref = `ref-${String(Math.random())}`, distributionId = DIST) =>
  client(p).send(
    new CreateInvalidationCommand({
      DistributionId: distributionId,
      InvalidationBatch: { CallerReference: ref, Paths: { Quantity: paths.length, Items: paths } },
    }),
  );

beforeAll(async () => {
  authority = new IamAuthority();
  // The clock drives status; signatures are checked against real time, so it only moves forward.
  cf = await startCloudFront({ authority, accountId: ACCOUNT, distributions: [DIST, OTHER], completionDelayMs: 60_000, now: () => clock });
  // What the CDK's distribution.grantCreateInvalidation and a GetInvalidation grant give.
  purger = principal('Purger', [
    {
      Effect: 'Allow',
      Action: ['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation', 'cloudfront:ListInvalidations'],
      Resource: distributionArn(DIST),
    },
  ]);
  authority.register(purger);
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await cf.close();
});

beforeEach(() => {
  cf.clear();
  clock = Date.now();
});

it('CreateInvalidation answers 201, a Location and the Invalidation, InProgress until the delay has passed', async () => {
  const created = await invalidate(purger, ['/api/products/a', '/api/marketplace/*'], 'ref-1');
  expect(created.Location).toBe(`${cf.url}/2020-05-31/distribution/${DIST}/invalidation/${created.Invalidation?.Id ?? ''}`);
  expect(created.Invalidation?.Id).toMatch(/^I[A-Z0-9]{13}$/);
  expect(created.Invalidation).toMatchObject({
    Status: 'InProgress',
    InvalidationBatch: { CallerReference: 'ref-1', Paths: { Quantity: 2, Items: ['/api/products/a', '/api/marketplace/*'] } },
  });
  expect(created.Invalidation?.CreateTime).toBeInstanceOf(Date);

  const id = created.Invalidation?.Id as string;
  const get = () => client(purger).send(new GetInvalidationCommand({ DistributionId: DIST, Id: id }));
  expect((await get()).Invalidation?.Status).toBe('InProgress');
  clock += 60_000;
  expect((await get()).Invalidation?.Status).toBe('Completed');

  expect(cf.purgedPaths()).toEqual(['/api/products/a', '/api/marketplace/*']);
  const recorded = cf.invalidations(DIST);
  expect(recorded).toHaveLength(1);
  expect(recorded[0]).toMatchObject({ id, callerReference: 'ref-1', status: 'Completed', principal: { roleArn: purger.roleArn } });
});

it('the same CallerReference is the same invalidation; with other paths it is InvalidationBatchAlreadyExists', async () => {
  const first = await invalidate(purger, ['/a', '/b'], 'same');
  const again = await invalidate(purger, ['/b', '/a'], 'same');
  expect(again.Invalidation?.Id).toBe(first.Invalidation?.Id);
  expect(cf.invalidations()).toHaveLength(1);
  expect(await failure(invalidate(purger, ['/c'], 'same'))).toMatchObject({ name: 'InvalidationBatchAlreadyExists', status: 409 });
});

it('at most 3,000 file paths in progress per distribution, then TooManyInvalidationsInProgress until some complete', async () => {
  const paths = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `/${prefix}/${String(i)}`);
  await invalidate(purger, paths(2000, 'a'));
  await invalidate(purger, paths(1000, 'b'));
  const over = await failure(invalidate(purger, ['/one-more']));
  expect(over).toEqual({
    name: 'TooManyInvalidationsInProgress',
    status: 400,
    message: 'You have exceeded the maximum number of allowable InProgress Invalidation batch requests, or invalidation objects.',
  });
  clock += 60_000;
  await invalidate(purger, ['/one-more']);
});

it('at most 15 wildcard paths in progress, counted apart from file paths', async () => {
  const wild = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `/${prefix}${String(i)}/*`);
  await invalidate(purger, wild(15, 'w'));
  await invalidate(purger, ['/file']);
  expect((await failure(invalidate(purger, ['/x*']))).name).toBe('TooManyInvalidationsInProgress');
  cf.completeAll();
  await invalidate(purger, ['/x*']);
});

it('ListInvalidations pages newest first', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    ids.push((await invalidate(purger, [`/p${String(i)}`])).Invalidation?.Id as string);
    clock += 1000;
  }
  const page1 = await client(purger).send(new ListInvalidationsCommand({ DistributionId: DIST, MaxItems: 2 }));
  expect(page1.InvalidationList).toMatchObject({ IsTruncated: true, Quantity: 2, MaxItems: 2 });
  expect(page1.InvalidationList?.Items?.map((i) => i.Id)).toEqual([ids[2], ids[1]]);
  const page2 = await client(purger).send(
    new ListInvalidationsCommand({ DistributionId: DIST, MaxItems: 2, Marker: page1.InvalidationList?.NextMarker }),
  );
  expect(page2.InvalidationList?.Items?.map((i) => [i.Id, i.Status])).toEqual([[ids[0], 'InProgress']]);
  expect(page2.InvalidationList?.IsTruncated).toBe(false);
});

it('answers NoSuchDistribution and NoSuchInvalidation', async () => {
  const admin = principal('Admin', [{ Effect: 'Allow', Action: 'cloudfront:*', Resource: '*' }]);
  authority.register(admin);
  expect(await failure(invalidate(admin, ['/a'], 'r', 'EUNKNOWN'))).toMatchObject({
    name: 'NoSuchDistribution',
    status: 404,
    message: 'The specified distribution does not exist.',
  });
  expect((await failure(client(admin).send(new GetInvalidationCommand({ DistributionId: DIST, Id: 'INOPE' })))).name).toBe(
    'NoSuchInvalidation',
  );
});

it('refuses bad batches: a path without a leading slash, a misplaced wildcard, a wrong Quantity', async () => {
  expect((await failure(invalidate(purger, ['no-slash']))).name).toBe('InvalidArgument');
  expect((await failure(invalidate(purger, ['/a*/b']))).name).toBe('InvalidArgument');
  const wrongQuantity = client(purger).send(
    new CreateInvalidationCommand({
      DistributionId: DIST,
      InvalidationBatch: { CallerReference: 'q', Paths: { Quantity: 3, Items: ['/a'] } },
    }),
  );
  expect((await failure(wrongQuantity)).name).toBe('InconsistentQuantities');
  expect(cf.invalidations()).toEqual([]);
});

describe('IAM', () => {
  it('refuses another distribution, or an action not granted, with 403 AccessDenied in CloudFront words', async () => {
    expect(await failure(invalidate(purger, ['/a'], 'r', OTHER))).toEqual({
      name: 'AccessDenied',
      status: 403,
      message: `User: ${sessionArn(purger)} is not authorized to perform: cloudfront:CreateInvalidation on resource: ${distributionArn(OTHER)} because no identity-based policy allows the cloudfront:CreateInvalidation action`,
    });
    const createOnly = principal('CreateOnly', [
      { Effect: 'Allow', Action: 'cloudfront:CreateInvalidation', Resource: distributionArn(DIST) },
    ]);
    authority.register(createOnly);
    const id = (await invalidate(createOnly, ['/a'])).Invalidation?.Id as string;
    expect((await failure(client(createOnly).send(new GetInvalidationCommand({ DistributionId: DIST, Id: id })))).message).toContain(
      'cloudfront:GetInvalidation on resource',
    );
    expect(cf.purgedPaths(OTHER)).toEqual([]);
  });

  it('refuses an unknown access key with 403 InvalidClientTokenId', async () => {
    expect(await failure(invalidate(principal('Stranger', []), ['/a']))).toEqual({
      name: 'InvalidClientTokenId',
      status: 403,
      message: 'The security token included in the request is invalid.',
    });
  });

  it('refuses a bad signature with SignatureDoesNotMatch and an unsigned call with MissingAuthenticationToken', async () => {
    expect((await failure(invalidate({ ...purger, secretAccessKey: 'nope' }, ['/a']))).name).toBe('SignatureDoesNotMatch');
    const res = await fetch(`${cf.url}/2020-05-31/distribution/${DIST}/invalidation`);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('<Code>MissingAuthenticationToken</Code>');
  });
});
