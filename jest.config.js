/**
 * Jest: TypeScript through SWC (no type checking here; `npm run lint` runs tsc).
 * ESM-only dependencies (@middy/*, jose, the OpenAPI validators) are transformed to CommonJS too, and resolved with the
 * "import" export condition (see test/harness/resolver.js).
 * One DynamoDB Local, one redis-server and one 3-master Redis cluster serve the whole run
 * (test/harness/global-setup.ts); test files reach them through test/support.
 *
 * Two projects: `source` runs every suite against the local stack from source (the handlers in the
 * test's process); `as-deployed` runs the end-to-end suites again against the synthesized dev app
 * (local/deployed: each function's bundle, environment, IAM role and network), plus the suites
 * that only make sense there (test/deployed). The mode reaches the tests as SHOP_EDGE_TEST_MODE
 * (test/harness/mode-*.ts) and test/support/stack-under-test.ts starts the stack of that mode. The
 * as-deployed project's global setup synthesizes the dev app once per run, before any worker starts
 * (test/harness/as-deployed-setup.ts); it only runs when that project has tests to run.
 * One project: `npx jest --selectProjects as-deployed` (or `source`).
 */

/** The end-to-end suites: REST, WebSocket, real-time and security, through the stack's fronts. */
const END_TO_END = [
  '<rootDir>/test/api/catalog-api.test.ts',
  '<rootDir>/test/api/cors.test.ts',
  '<rootDir>/test/realtime/realtime.test.ts',
  '<rootDir>/test/realtime/ordering.test.ts',
  '<rootDir>/test/realtime/sessions.test.ts',
  '<rootDir>/test/realtime/tenant-limit.test.ts',
  '<rootDir>/test/realtime/stream-invalidation.test.ts',
  '<rootDir>/test/realtime/throttled-fan-out.test.ts',
  '<rootDir>/test/realtime/tenant-fairness.test.ts',
  '<rootDir>/test/realtime/ws-input.property.test.ts',
  '<rootDir>/test/security/authentication.test.ts',
  '<rootDir>/test/security/tenancy.test.ts',
  '<rootDir>/test/security/public-rate-limit.test.ts',
  '<rootDir>/test/security/bad-input.property.test.ts',
  '<rootDir>/test/security/bad-input.test.ts',
  '<rootDir>/test/security/cursors.test.ts',
  '<rootDir>/test/security/cursor-key.test.ts',
];

const common = {
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  // ESM-only packages, transformed to CommonJS; zod's English locale among them (functions/shared/zod.ts).
  transformIgnorePatterns: [
    '/node_modules/(?!(@middy|jose|@seriousme/openapi-schema-validator|@redocly|jsonpath-rfc9535|zod/v4/(?:locales|core))/)',
  ],
  resolver: '<rootDir>/test/harness/resolver.js',
  testEnvironment: 'node',
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      ...common,
      displayName: 'source',
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/deployed/'],
      setupFilesAfterEnv: ['<rootDir>/test/harness/mode-source.ts'],
    },
    {
      ...common,
      displayName: 'as-deployed',
      testMatch: [...END_TO_END, '<rootDir>/test/deployed/**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/harness/mode-as-deployed.ts'],
      globalSetup: '<rootDir>/test/harness/as-deployed-setup.ts',
    },
  ],
  globalSetup: '<rootDir>/test/harness/global-setup.ts',
  globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
  testTimeout: 30000,
  maxWorkers: 2,
};
