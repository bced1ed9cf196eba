export { freePort, freePorts } from './free-port';
export { startDynamoDbLocal, localDynamoDbClient, dynamoDbLocalDir, type DynamoDbLocal, type DynamoDbLocalOptions } from './dynamodb-local';
export {
  startRedisServer,
  startRedisCluster,
  type RedisServer,
  type RedisServerOptions,
  type RedisCluster,
  type RedisClusterOptions,
} from './redis-server';
export { createTables, deleteTables, createTableInput, type TableNames } from './tables';
