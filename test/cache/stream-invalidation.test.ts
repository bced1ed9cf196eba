/**
 * The stream consumer's invalidation rides out a short cache outage (a cold start's first connect,
 * a failover) inside one batch, instead of handing the records back at the first refusal: Lambda
 * retries a stream batch at once and only MaximumRetryAttempts times, so a hiccup of a second or
 * two would otherwise land the invalidation in the failure queue, and the stale entry would stay.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import { invalidateCacheFromStream } from '../../functions/streams/invalidation';
import { generationKeys } from '../../functions/cache/keys';
import { createRedisClient } from '../../functions/shared/clients/redis';
import { startRedisServer, type RedisServer } from '../../local/services/redis-server';
import { CountingObserver } from '../../functions/cache/observer';
import { RedisL2Store } from '../../functions/cache/l2-store';
import { TwoTierCache } from '../../functions/cache/two-tier-cache';
import { cacheOn, quit, testSettings } from './cache-fixtures';

/** A product change as the table stream carries it. */
function productChange(tenantId: string, id: string, sequenceNumber: string): DynamoDBRecord {
  const image = { pk: { S: `T#${tenantId}` }, sk: { S: `P#${id}` }, id: { S: id }, tenantId: { S: tenantId }, version: { N: '2' } };
  return {
    eventName: 'MODIFY',
    dynamodb: {
      Keys: { pk: image.pk, sk: image.sk },
      NewImage: image,
      OldImage: { ...image, version: { N: '1' } },
      SequenceNumber: sequenceNumber,
    },
  };
}

let server: RedisServer;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(() => server.stop());

/** Connected before the test starts: the short command timeout is for the outage, not the handshake. */
async function connected(url: string) {
  const redis = createRedisClient({ url, commandTimeoutMs: 100, connectTimeoutMs: 2000 });
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  return redis;
}

it('waits out a cache that stops answering for a moment, and bumps the generations within the batch', async () => {
  const redis = await connected(server.url);
  const { cache } = cacheOn(redis, {}, { failureRatio: 0.5, minCalls: 1, windowMs: 1000, cooldownMs: 200 });
  try {
    const before = await redis.get(generationKeys.product('tenant-a', 'beans'));
    server.pause();
    setTimeout(() => server.resume(), 1500);
    const started = Date.now();
    const result = await invalidateCacheFromStream([productChange('tenant-a', 'beans', '100')], cache, 8000);
    expect(result).toEqual({ batchItemFailures: [] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(await redis.get(generationKeys.product('tenant-a', 'beans'))).not.toBe(before);
  } finally {
    server.resume();
    await quit(redis);
  }
});

it('hands the batch back from its first product change once its patience is spent', async () => {
  const redis = await connected(server.url);
  const { cache } = cacheOn(redis);
  server.pause();
  try {
    const result = await invalidateCacheFromStream(
      [productChange('tenant-b', 'tea', '7'), productChange('tenant-b', 'mug', '8')],
      cache,
      500,
    );
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: '7' }] });
  } finally {
    server.resume();
    await quit(redis);
  }
});

it('takes a bump on a master that no replica acknowledges as done once its patience is spent (a shard without a replica)', async () => {
  const redis = await connected(server.url);
  // WAIT 1 on a server with no replica: never acknowledged, the bump is on the server all the same.
  const observer = new CountingObserver();
  const cache = new TwoTierCache({ settings: testSettings, l2: new RedisL2Store(redis, { replicaAckMs: 20 }), observer });
  try {
    const before = await redis.get(generationKeys.product('tenant-c', 'kettle'));
    const result = await invalidateCacheFromStream([productChange('tenant-c', 'kettle', '9')], cache, 500);
    expect(result).toEqual({ batchItemFailures: [] });
    expect(await redis.get(generationKeys.product('tenant-c', 'kettle'))).not.toBe(before);
    // It did try for a replica, more than once.
    expect(observer.get('InvalidationNotReplicated')).toBeGreaterThan(1);
  } finally {
    await quit(redis);
  }
});
