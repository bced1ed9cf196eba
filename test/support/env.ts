/** The services global setup started (test/harness/global-setup.ts), as the workers see them. */

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set: run the tests through jest (jest.config.js's globalSetup starts the local services)`);
  }
  return value;
}

/** DynamoDB Local's endpoint, http://127.0.0.1:<port>. */
export function dynamoDbEndpoint(): string {
  return required('DYNAMODB_ENDPOINT');
}

/** redis://127.0.0.1:<port> of the shared single-node redis-server. */
export function redisSingleUrl(): string {
  return required('TEST_REDIS_URL');
}

/** The shared 3-master cluster's nodes, as ioredis' Cluster takes them. */
export function redisClusterNodes(): { host: string; port: number }[] {
  return required('TEST_REDIS_CLUSTER_NODES')
    .split(',')
    .map((entry) => {
      const i = entry.lastIndexOf(':');
      return { host: entry.slice(0, i), port: Number(entry.slice(i + 1)) };
    });
}
