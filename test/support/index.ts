export { dynamoDbEndpoint, redisClusterNodes, redisSingleUrl } from './env';
export { uniqueId } from './ids';
export { testDocumentClient, testDynamoDbClient, testTables } from './tables';
export { frameText } from './ws';
