/**
 * Setup of the `as-deployed` jest project, before each test file: the stack under test is the
 * synthesized dev app (test/support/stack-under-test.ts). A stack as deployed starts its own cache
 * cluster and cold function containers, so tests and hooks get 60 s (30 s from source).
 */
process.env.SHOP_EDGE_TEST_MODE = 'as-deployed';
jest.setTimeout(60_000);
