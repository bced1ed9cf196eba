/**
 * The layering of the Lambda code (functions/), checked by `npm run lint` (depcruise). From the
 * bottom up:
 *
 *   contract     routes.ts, shared/{tables,errors,ids,gateway-errors,cors,requests,cache-headers,
 *                permissions}.ts, cdn/behaviours.ts: what the CDK app, the local stack and the
 *                clients share with the functions; no I/O.
 *   support      shared/{config,observability,metrics,retry,zod}.ts.
 *   cache        cache/: the two-tier cache, knows no feature.
 *   domain       catalog/{catalog-service,model,orders,stock,ports}.ts,
 *                realtime/{realtime-service,channels,messages,message-order,ports}.ts: the rules,
 *                behind ports.
 *   adapters     catalog/dynamodb/, realtime/{connection-store,connection-table,tenant-connections,
 *                user-slots,notifier}.ts, cdn/cdn-purger.ts, shared/clients/: DynamoDB, Redis, API
 *                Gateway, CloudFront.
 *   streams      streams/: what the table's stream brings (changes, invalidation, CDN purge,
 *                fan-out), over the domain, the cache and the adapters.
 *   gateway      http/, realtime/ws-route.ts, auth/: events in, responses out.
 *   composition  composition/: builds the adapters and services a function uses.
 *   handlers     handlers/: one module per Lambda function (the CDK app names them by path).
 *
 * The CDK app (lib/, bin/) and the local stack (local/) sit above functions/ and import it, never
 * the other way round. A rule's name is what `npm run lint` prints for a violation.
 *
 * Known violations (.dependency-cruiser-known-violations.json, read by `--ignore-known`): the
 * violations tolerated while a restructure is under way, listed there instead of reported; any
 * other violation fails lint. Empty when the code keeps every rule. To record the current ones:
 *   npx depcruise functions --output-type baseline --output-to .dependency-cruiser-known-violations.json
 */

const AREAS_ABOVE_FUNCTIONS = '^(lib|bin|local|test|bench|scripts|web|client|openapi|asyncapi)/';
const CDK = '(^|/)node_modules/(aws-cdk-lib|constructs|cdk-nag)/';
/** The AWS SDK: its clients (@aws-sdk/*) and the runtime they are built on (@smithy/*). */
const AWS_SDK = '(^|/)node_modules/(@aws-sdk|@smithy)/';
const IOREDIS = '(^|/)node_modules/ioredis/';

const HANDLERS = '^functions/handlers/';
const COMPOSITION = '^functions/composition/';
const GATEWAY = '^functions/(http/|realtime/ws-route[.]ts$|auth/)';
const DOMAIN =
  '^functions/(catalog/(catalog-service|model|orders|stock|ports)|realtime/(realtime-service|channels|messages|message-order|ports))[.]ts$';
const ADAPTERS =
  '^functions/(catalog/dynamodb/|realtime/(connection-store|connection-table|tenant-connections|user-slots|notifier)[.]ts$|cdn/cdn-purger[.]ts$|shared/clients/)';
const STREAMS = '^functions/streams/';
const CACHE = '^functions/cache/';
const FEATURES = '^functions/(realtime|streams|catalog)/';
const SUPPORT = '^functions/shared/(config|observability|metrics|retry|zod)[.]ts$';
/** The cache and everything above it: the features, the adapters, the gateway, the composition. */
const CACHE_AND_ABOVE = '^functions/(cache/|catalog/|realtime/|streams/|cdn/|shared/clients/|http/|auth/|composition/|handlers/)';
const CONTRACT =
  '^functions/(routes|shared/(tables|errors|ids|gateway-errors|cors|requests|cache-headers|permissions)|cdn/behaviours)[.]ts$';
/** What the contract may import: the contract itself and zod (its schemas), nothing that does or decides anything. */
const ABOVE_CONTRACT =
  '^functions/(cache/|catalog/|realtime/|streams/|cdn/cdn-purger|shared/(clients/|config|observability|metrics|retry)|http/|auth/|composition/|handlers/)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'functions-not-to-cdk-or-tools',
      comment:
        'The Lambda code is bundled on its own: it must not import the CDK (aws-cdk-lib, constructs, cdk-nag) ' +
        'nor the CDK app, the local stack, the tests, tools, page or client SDK, which sit above it.',
      severity: 'error',
      from: { path: '^functions/' },
      to: { path: [CDK, AREAS_ABOVE_FUNCTIONS] },
    },
    {
      name: 'handlers-are-entry-points',
      comment: 'functions/handlers/ holds the Lambda entry points: nothing inside functions/ imports them.',
      severity: 'error',
      from: { path: '^functions/' },
      to: { path: HANDLERS },
    },
    {
      name: 'gateway-not-to-composition',
      comment:
        'The gateway (http/, realtime/ws-route.ts, auth/) is given what it needs; it does not reach into ' +
        'the composition (composition/), which builds it.',
      severity: 'error',
      from: { path: GATEWAY },
      to: { path: COMPOSITION },
    },
    {
      name: 'domain-not-to-adapters',
      comment:
        'The domain talks to storage and the network through its ports: it never imports an adapter ' +
        '(catalog/dynamodb/, connection-store, notifier, cdn/cdn-purger, shared/clients/).',
      severity: 'error',
      from: { path: DOMAIN },
      to: { path: ADAPTERS },
    },
    {
      name: 'domain-not-to-gateway',
      comment: 'The domain knows nothing of HTTP or WebSocket events (http/, realtime/ws-route.ts, auth/).',
      severity: 'error',
      from: { path: DOMAIN },
      to: { path: GATEWAY },
    },
    {
      name: 'domain-not-to-sdk',
      comment: 'The domain does no I/O of its own: no AWS SDK, no ioredis (the adapters use them).',
      severity: 'error',
      from: { path: DOMAIN },
      to: { path: [AWS_SDK, IOREDIS] },
    },
    {
      name: 'cache-not-to-features',
      comment: 'The cache serves every feature and knows none of them (realtime/, streams/, catalog/).',
      severity: 'error',
      from: { path: CACHE },
      to: { path: FEATURES },
    },
    {
      name: 'support-not-to-cache-or-above',
      comment:
        'Configuration and observability sit below everything but the contract: they import neither the ' +
        'cache nor anything above it (features, adapters, gateway, composition, handlers).',
      severity: 'error',
      from: { path: SUPPORT },
      to: { path: CACHE_AND_ABOVE },
    },
    {
      name: 'contract-no-io',
      comment:
        'The contract (routes, tables, errors, ids, gateway errors, CORS) is read by the CDK app and the local ' +
        'stack too: it imports no adapter, no AWS SDK, no ioredis.',
      severity: 'error',
      from: { path: CONTRACT },
      to: { path: [ADAPTERS, AWS_SDK, IOREDIS] },
    },
    {
      name: 'contract-at-the-bottom',
      comment:
        'The contract is the ground floor: it imports nothing of the functions above it (cache, domain, streams, ' +
        'adapters, gateway, composition, support but zod), so the CDK app and the local stack can read it alone.',
      severity: 'error',
      from: { path: CONTRACT },
      to: { path: ABOVE_CONTRACT },
    },
    {
      name: 'domain-not-to-streams',
      comment: 'The domain does not know where changes come from: the streams module uses it, never the other way round.',
      severity: 'error',
      from: { path: DOMAIN },
      to: { path: STREAMS },
    },
    {
      name: 'streams-not-to-gateway-or-composition',
      comment: 'The stream consumers are handed their services (composition/streams.ts) and know no HTTP or WebSocket event.',
      severity: 'error',
      from: { path: STREAMS },
      to: { path: [GATEWAY, COMPOSITION] },
    },
    {
      name: 'functions-no-circular',
      comment: 'No import cycle inside functions/: a cycle makes module initialisation order matter.',
      severity: 'error',
      from: { path: '^functions/' },
      to: { path: '^functions/', circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to no file (a typo, a moved module, a package not installed).',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'functions-no-orphans',
      comment: 'A module of functions/ that imports nothing and is imported by nothing is dead code.',
      severity: 'error',
      from: { orphan: true, path: '^functions/', pathNot: '[.]d[.]ts$' },
      to: {},
    },
  ],
  options: {
    // Only the Lambda code is cruised; the areas above it are listed as targets, not followed.
    doNotFollow: { path: ['node_modules', AREAS_ABOVE_FUNCTIONS] },
    // `import type` counts: a type from an adapter ties the domain to it as much as a value does.
    tsPreCompilationDeps: true,
    // Module resolution as tsc does it (the root program: every area's files, the same options).
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
