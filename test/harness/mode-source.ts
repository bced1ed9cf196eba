/** Setup file of the `source` jest project: the stack under test runs from source (test/support/stack-under-test.ts). */
process.env.SHOP_EDGE_TEST_MODE = 'source';
