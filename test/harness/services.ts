/**
 * The handles global setup keeps for global teardown, and the environment it hands the workers.
 * Jest runs globalSetup and globalTeardown in the same (parent) process, so globalThis carries
 * the handles between them; workers only see process.env.
 */
import type { DynamoDbLocal } from '../../local/services/dynamodb-local';
import type { RedisCluster, RedisServer } from '../../local/services/redis-server';

export interface HarnessServices {
  dynamo?: DynamoDbLocal;
  redis?: RedisServer;
  cluster?: RedisCluster;
}

const KEY = '__SHOP_EDGE_TEST_SERVICES__';

export function setHarnessServices(services: HarnessServices | undefined): void {
  (globalThis as Record<string, unknown>)[KEY] = services;
}

export function getHarnessServices(): HarnessServices | undefined {
  return (globalThis as Record<string, unknown>)[KEY] as HarnessServices | undefined;
}

/** A fixed HS256 test secret (44 characters; config requires 32+). Never used outside tests. */
export const TEST_JWT_SECRET = 'shop-edge-local-test-secret-not-for-prod-0001';
export const TEST_JWT_ISSUER = 'shop-edge-local';
export const TEST_JWT_AUDIENCE = 'shop-edge';
/** The page cursors' signing key of the tests (CURSOR_KEY; 32+ characters). Never used outside tests. */
export const TEST_CURSOR_KEY = 'shop-edge-local-test-cursor-key-not-for-prod-0001';

export async function stopHarnessServices(services: HarnessServices): Promise<void> {
  const results = await Promise.allSettled([services.dynamo?.stop(), services.redis?.stop(), services.cluster?.stop()]);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length > 0)
    throw new AggregateError(
      failures.map((f) => f.reason),
      'stopping the test services failed',
    );
}
