export { dynamoDbEndpoint, redisClusterNodes, redisSingleUrl } from './env';
export { uniqueId } from './ids';
export { testDynamoDbClient, testTables } from './tables';
export { frameText } from './ws';
