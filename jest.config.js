/**
 * Jest: TypeScript through SWC (no type checking here; `npm run lint` runs tsc).
 * ESM-only dependencies (@middy/*, jose, the OpenAPI validators) are transformed to CommonJS too, and resolved with the
 * "import" export condition (see test/harness/resolver.js).
 * One DynamoDB Local, one redis-server and one 3-master Redis cluster serve the whole run
 * (test/harness/global-setup.ts); test files reach them through test/support.
 */
/** @type {import('jest').Config} */
module.exports = {
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(@middy|jose|@seriousme/openapi-schema-validator|@redocly|jsonpath-rfc9535)/)'],
  resolver: '<rootDir>/test/harness/resolver.js',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  globalSetup: '<rootDir>/test/harness/global-setup.ts',
  globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
  testTimeout: 30000,
  maxWorkers: 2,
};
