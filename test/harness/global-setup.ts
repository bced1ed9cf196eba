/**
 * Jest global setup: one DynamoDB Local, one single-node redis-server and one 3-master Redis
 * cluster for the whole run, started in parallel. Workers are started after this and inherit
 * process.env, which is how tests find the services (see test/support).
 */
import { LOCAL_DYNAMODB_TIMEOUT_MS, startDynamoDbLocal } from '../../local/services/dynamodb-local';
import { startRedisCluster, startRedisServer } from '../../local/services/redis-server';
import {
  setHarnessServices,
  stopHarnessServices,
  TEST_CURSOR_KEY,
  TEST_JWT_AUDIENCE,
  TEST_JWT_ISSUER,
  TEST_JWT_SECRET,
  type HarnessServices,
} from './services';

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const took: Record<string, number> = {};
  const timed = async <T>(name: string, start: () => Promise<T>): Promise<T> => {
    try {
      return await start();
    } finally {
      took[name] = Date.now() - started;
    }
  };
  const [dynamo, redis, cluster] = await Promise.allSettled([
    timed('dynamodb', () => startDynamoDbLocal()),
    timed('redis', () => startRedisServer()),
    timed('cluster', () => startRedisCluster({ masters: 3 })),
  ]);
  const services: HarnessServices = {
    dynamo: dynamo.status === 'fulfilled' ? dynamo.value : undefined,
    redis: redis.status === 'fulfilled' ? redis.value : undefined,
    cluster: cluster.status === 'fulfilled' ? cluster.value : undefined,
  };
  if (dynamo.status === 'rejected' || redis.status === 'rejected' || cluster.status === 'rejected') {
    await stopHarnessServices(services).catch(() => undefined);
    const detail = [dynamo, redis, cluster]
      .flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []))
      .join('\n\n');
    throw new Error(`test services failed to start:\n${detail}`);
  }
  setHarnessServices(services);

  const env = process.env;
  env.DYNAMODB_ENDPOINT = dynamo.value.endpoint;
  // Safety net: an SDK client built without an explicit endpoint still reaches DynamoDB Local, never AWS.
  env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.value.endpoint;
  env.AWS_ENDPOINT_URL_DYNAMODB_STREAMS = dynamo.value.endpoint;
  // The functions under test talk to DynamoDB Local, slower than DynamoDB by far when the machine is loaded.
  env.DYNAMODB_TIMEOUT_MS = String(LOCAL_DYNAMODB_TIMEOUT_MS);
  env.DYNAMODB_CONNECT_TIMEOUT_MS = String(LOCAL_DYNAMODB_TIMEOUT_MS);
  env.AWS_REGION = 'us-east-1';
  env.AWS_DEFAULT_REGION = 'us-east-1';
  env.AWS_ACCESS_KEY_ID = 'local';
  env.AWS_SECRET_ACCESS_KEY = 'local';
  // A real session token or profile from the developer's shell must not leak into signed requests.
  delete env.AWS_SESSION_TOKEN;
  delete env.AWS_PROFILE;
  env.TEST_REDIS_URL = redis.value.url;
  env.TEST_REDIS_CLUSTER_NODES = cluster.value.startupNodes.map((n) => `${n.host}:${n.port}`).join(',');
  env.JWT_SECRET = TEST_JWT_SECRET;
  env.JWT_ISSUER = TEST_JWT_ISSUER;
  env.JWT_AUDIENCE = TEST_JWT_AUDIENCE;
  env.CURSOR_KEY = TEST_CURSOR_KEY;
  // Powertools v2: no EMF metrics on stdout (POWERTOOLS_METRICS_DISABLED), no log lines (SILENT is a
  // Logger level). Set either before running jest to see the output (POWERTOOLS_LOG_LEVEL=DEBUG).
  env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';

  if (env.SHOP_EDGE_TEST_VERBOSE === '1' || env.CI === 'true') {
    process.stderr.write(
      `\n[test services] ready in ${Date.now() - started} ms (${Object.entries(took)
        .map(([k, v]) => `${k} ${v} ms`)
        .join(', ')}): DynamoDB Local ${env.DYNAMODB_ENDPOINT}, redis ${env.TEST_REDIS_URL}, cluster ${env.TEST_REDIS_CLUSTER_NODES}\n`,
    );
  }
}
