import { CloudFrontClient, CreateInvalidationCommand, GetInvalidationCommand } from '@aws-sdk/client-cloudfront';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudFrontPurger } from '../../functions/cdn/cdn-purger';
import { purgeCdnFromStream } from '../../functions/cache/stream-invalidation';

// CloudFront is the one part nothing local plays: a recorded client stands in for it.
const cloudFront = mockClient(CloudFrontClient);

let sequence = 0;
function record(sk: string, before: Record<string, unknown> | undefined, after: Record<string, unknown> | undefined): DynamoDBRecord {
  sequence++;
  return {
    eventName: before ? (after ? 'MODIFY' : 'REMOVE') : 'INSERT',
    dynamodb: {
      SequenceNumber: String(sequence),
      ApproximateCreationDateTime: Date.now() / 1000,
      Keys: marshall({ pk: 'T#acme', sk }) as never,
      ...(before ? { OldImage: marshall(before) as never } : {}),
      ...(after ? { NewImage: marshall(after) as never } : {}),
    },
  };
}

const pathsOf = (call: number) => cloudFront.commandCalls(CreateInvalidationCommand)[call]?.args[0].input.InvalidationBatch?.Paths?.Items;

beforeEach(() => {
  cloudFront.reset();
  cloudFront
    .on(CreateInvalidationCommand)
    .resolves({ Invalidation: { Id: 'I1', Status: 'InProgress', CreateTime: new Date(), InvalidationBatch: undefined as never } });
});

it('purges the tenant product paths once per batch, however many products changed', async () => {
  const purger = new CloudFrontPurger(new CloudFrontClient({}), 'DIST');
  const records = [1, 2, 3].map((n) => record(`P#p${n}`, { version: 1, listed: false }, { version: 2, listed: false }));
  await purgeCdnFromStream(records, purger);
  expect(cloudFront.commandCalls(CreateInvalidationCommand)).toHaveLength(1);
  expect(pathsOf(0)).toEqual(['/api/products*']);
});

it('adds the marketplace path when a listed product changes (or stops being listed)', async () => {
  const purger = new CloudFrontPurger(new CloudFrontClient({}), 'DIST');
  await purgeCdnFromStream([record('P#p1', { version: 1, listed: true }, { version: 2, listed: false })], purger);
  expect(pathsOf(0)).toEqual(['/api/products*', '/api/marketplace/*']);
});

it('purges nothing for stock, order or dashboard changes', async () => {
  const purger = new CloudFrontPurger(new CloudFrontClient({}), 'DIST');
  await purgeCdnFromStream(
    [
      record('S#p1', { version: 1, stock: 3 }, { version: 2, stock: 2 }),
      record('O#o1', undefined, { version: 1 }),
      record('M#2026-11-25', undefined, { ordersToday: 1 }),
    ],
    purger,
  );
  expect(cloudFront.commandCalls(CreateInvalidationCommand)).toHaveLength(0);
});

it('sends no new invalidation while one created after the change is still in flight', async () => {
  cloudFront
    .on(GetInvalidationCommand)
    .resolves({ Invalidation: { Id: 'I1', Status: 'InProgress', CreateTime: new Date(), InvalidationBatch: undefined as never } });
  let clock = 1_000_000;
  const purger = new CloudFrontPurger(new CloudFrontClient({}), 'DIST', { now: () => clock });
  await purger.purge(['/api/products*'], clock - 10);
  clock += 100;
  await purger.purge(['/api/products*'], clock - 200); // committed before the first purge was created
  expect(cloudFront.commandCalls(CreateInvalidationCommand)).toHaveLength(1);
  await purger.purge(['/api/products*'], clock + 1); // committed after it: must purge again
  expect(cloudFront.commandCalls(CreateInvalidationCommand)).toHaveLength(2);
});

it('retries when CloudFront throttles, and gives up after bounded attempts', async () => {
  const throttled = Object.assign(new Error('slow down'), { name: 'TooManyInvalidationsInProgress' });
  cloudFront
    .on(CreateInvalidationCommand)
    .rejectsOnce(throttled)
    .resolves({ Invalidation: { Id: 'I2', Status: 'InProgress', CreateTime: new Date(), InvalidationBatch: undefined as never } });
  const purger = new CloudFrontPurger(new CloudFrontClient({}), 'DIST', { baseDelayMs: 1 });
  await purger.purge(['/api/products*'], Date.now());
  expect(cloudFront.commandCalls(CreateInvalidationCommand)).toHaveLength(2);

  cloudFront.reset();
  cloudFront.on(CreateInvalidationCommand).rejects(throttled);
  const stubborn = new CloudFrontPurger(new CloudFrontClient({}), 'DIST', { baseDelayMs: 1, maxAttempts: 3 });
  await expect(stubborn.purge(['/api/products*'], Date.now())).rejects.toThrow('slow down');
  expect(cloudFront.commandCalls(CreateInvalidationCommand)).toHaveLength(3);
});
