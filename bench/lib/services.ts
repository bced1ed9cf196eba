/**
 * The services a benchmark run uses, all its own: one DynamoDB Local for the run, a fresh
 * redis-server per case (on free ports; the machine's 127.0.0.1:6379 is never touched).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Redis } from 'ioredis';
import { localDynamoDbClient, startDynamoDbLocal, type DynamoDbLocal } from '../../local/services/dynamodb-local';
import { startRedisServer, type RedisServer } from '../../local/services/redis-server';
import { createTables, type TableNames } from '../../local/services/tables';

let redisMajor: number | undefined;

/** A redis-server for one case; DEBUG is allowed (local connections only) so keyspaces fill fast. */
export function startBenchRedis(): Promise<RedisServer> {
  if (redisMajor === undefined) {
    const version = /v=(\d+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1];
    redisMajor = Number(version ?? 0);
  }
  // Redis 7 refuses DEBUG unless enabled; older servers allow it and do not know the option.
  const debug = redisMajor >= 7 ? ['--enable-debug-command', 'local'] : [];
  return startRedisServer({ args: [...debug, '--maxmemory-policy', 'noeviction'] });
}

/** A plain ioredis connection with default options (the baselines' client, and admin work). */
export function plainRedis(server: RedisServer): Redis {
  return new Redis({ host: server.host, port: server.port, lazyConnect: false, maxRetriesPerRequest: 1 });
}

export interface Dynamo {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  /** Fresh, uniquely named tables (the run shares one DynamoDB Local). */
  tables(prefix: string): Promise<TableNames>;
  stop(): Promise<void>;
}

export async function startDynamo(endpoint?: string): Promise<Dynamo> {
  let local: DynamoDbLocal | undefined;
  if (!endpoint) {
    local = await startDynamoDbLocal();
    endpoint = local.endpoint;
  }
  const client = localDynamoDbClient(endpoint, { timeoutMs: 10_000 });
  return {
    endpoint,
    client,
    async tables(prefix) {
      const id = randomUUID().slice(0, 8);
      const names: TableNames = { shop: `bench-${prefix}-shop-${id}`, connections: `bench-${prefix}-connections-${id}` };
      await createTables(client, names);
      return names;
    },
    async stop() {
      client.destroy();
      await local?.stop();
    },
  };
}

/** Fake credentials and a region for every AWS SDK client the benchmarks build (nothing reaches AWS). */
export function setLocalAwsEnvironment(): void {
  process.env.AWS_REGION ||= 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
}

/**
 * Resolves once an ioredis client is connected (the production client's 50 ms command timeout must
 * not count the connect). Errors on the way (a ready check that timed out on a loaded machine) are
 * retried by ioredis itself; only a client that is not ready within 15 s fails.
 */
export async function ready(client: {
  status: string;
  once(event: 'ready', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
}): Promise<void> {
  if (client.status === 'ready') return;
  let last: Error | undefined;
  const onError = (error: Error) => void (last = error);
  client.on('error', onError);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Redis not ready within 15 s${last ? ` (last error: ${last.message})` : ''}`)),
        15_000,
      );
      client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    client.off('error', onError);
  }
}
