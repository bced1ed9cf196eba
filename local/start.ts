/**
 * `npm start`: the whole API on one machine, behaving like API Gateway, with the real handlers.
 *   npm start [-- --port 3000 --ws-port 3001 --persist DIR --no-seed --quiet --as-deployed]
 * The source mode (default) runs every handler from its source in this process; --as-deployed runs
 * the synthesized cloud assembly: each function's bundle, environment, IAM role and network.
 * Environment: PORT, WS_PORT, DYNAMODB_ENDPOINT (no DynamoDB Local started), REDIS_URL,
 * JWT_SECRET / JWT_ISSUER / JWT_AUDIENCE (dev defaults when unset). Prints one line containing
 * "ready" when both fronts accept connections. Ctrl-C (SIGINT) or SIGTERM stops everything and this
 * process exits 0; npm itself ends by the signal (a shell shows status 130).
 *
 * `npm start` runs this file with `node --import tsx`, not the tsx CLI: the CLI's parent process
 * relays signals to its child and SIGKILLs it when the child does not acknowledge within 30 ms,
 * which cut a Ctrl-C shutdown short (no $disconnect, no "[stack] stopped") about one time in three.
 */
import { parseArgs } from 'node:util';
import { REST_ROUTES, WEBSOCKET_ROUTES } from '../functions/routes';
import { DEFAULT_REST_PORT, DEFAULT_WS_PORT, jwtSettings } from './dev-defaults';
import { startDeployedStack, type DeployedStack } from './deployed/stack';
import { consoleLogger, describeError } from './log';
import { startLocalStack, type LocalStack } from './stack';

const USAGE = `usage: npm start [-- --port N] [--ws-port N] [--persist DIR] [--no-seed] [--quiet] [--as-deployed]
  --as-deployed   run the synthesized dev app as deployed (bundles, environment, IAM, network)
  --port N        REST port (env PORT, default ${DEFAULT_REST_PORT})
  --ws-port N     WebSocket port (env WS_PORT, default ${DEFAULT_WS_PORT})
  --persist DIR   keep DynamoDB Local's data in DIR (default: in memory)
  --no-seed       do not create the demo data
  --quiet         no line per request`;

function port(value: string | undefined, fallback: number, what: string): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${what} must be a port number (got ${value})`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      'ws-port': { type: 'string' },
      persist: { type: 'string' },
      'no-seed': { type: 'boolean' },
      quiet: { type: 'boolean' },
      'as-deployed': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const restPort = port(values.port ?? process.env.PORT, DEFAULT_REST_PORT, '--port / PORT');
  const wsPort = port(values['ws-port'] ?? process.env.WS_PORT, DEFAULT_WS_PORT, '--ws-port / WS_PORT');
  const usesDevSecret = !process.env.JWT_SECRET;

  process.stdout.write('shop-edge local stack: starting (Ctrl-C to stop)\n');
  const running: { stack?: LocalStack | DeployedStack } = {};
  let stopping = false;
  let firstSignalAt = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      // Ctrl-C can reach us twice at once (from the terminal, and relayed by npm): only a second
      // Ctrl-C a moment later means "stop waiting".
      if (Date.now() - firstSignalAt < 1000) return;
      process.stderr.write(`[stack] ${signal} again: exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    firstSignalAt = Date.now();
    process.stdout.write(`\n[stack] ${signal}: stopping\n`);
    const stop = running.stack ? running.stack.stop() : Promise.resolve();
    stop.then(
      () => {
        process.stdout.write('[stack] stopped\n');
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`[stack] error while stopping: ${describeError(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);

  const started = Date.now();
  const common = {
    port: restPort,
    wsPort,
    ...(values.persist !== undefined ? { persistDir: values.persist } : {}),
    seed: !values['no-seed'],
    logRequests: !values.quiet,
    logger: consoleLogger,
  };
  const stack = values['as-deployed'] ? await startDeployedStack(common) : await startLocalStack(common);
  running.stack = stack;
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the signal handler sets it during the await
  if (stopping) {
    // Ctrl-C arrived while starting: the handler above found no stack yet.
    await stack.stop();
    process.exit(0);
  }
  if ('mode' in stack) printDeployedBanner(stack, Date.now() - started);
  else printBanner(stack, usesDevSecret);
}

function printBanner(stack: LocalStack, usesDevSecret: boolean): void {
  const jwt = jwtSettings();
  const [first] = Object.keys(stack.tokens);
  const variable = (tenant: string) => `${tenant.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_TOKEN`;
  const lines = [
    '',
    `REST       ${stack.restUrl}   (${REST_ROUTES.length} routes of functions/routes.ts)`,
    `WebSocket  ${stack.wsUrl}   (${WEBSOCKET_ROUTES.length} routes; @connections at ${stack.managementEndpoint})`,
    `Redis      ${stack.redisUrl ?? 'none (L1 cache only)'}`,
    `Page       ${stack.restUrl}/   (live dashboard, dev tokens from /dev/tokens; OpenAPI at ${stack.restUrl}/openapi.json)`,
    '',
    `Dev tokens, every permission, valid 12 h (HS256, ${usesDevSecret ? 'the dev secret of local/dev-defaults.ts' : 'JWT_SECRET'}, iss ${jwt.issuer}, aud ${jwt.audience}):`,
    ...Object.entries(stack.tokens).map(([tenant, token]) => `  export ${variable(tenant)}=${token}`),
    '  more: npm run token -- --tenant T --perm products:read [--perm ...]',
    '',
    'Try:',
    `  curl -i -H "Authorization: Bearer $${variable(first ?? 'acme')}" ${stack.restUrl}/api/products`,
    `  curl -i ${stack.restUrl}/api/marketplace/products`,
    `  npx wscat -c "${stack.wsUrl}/?token=$${variable(first ?? 'acme')}"   then send {"action":"subscribe","channel":"product:espresso-beans"}`,
    '',
    `shop-edge local stack ready: REST ${stack.restUrl}, WebSocket ${stack.wsUrl}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function printDeployedBanner(stack: DeployedStack, startedInMs: number): void {
  const [first] = Object.keys(stack.tokens);
  const variable = (tenant: string) => `${tenant.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_TOKEN`;
  const provider = stack.identityProvider;
  const cache = stack.caches[0]?.cache;
  const lines = [
    '',
    `Assembly   ${stack.assemblyDir}   (${stack.deployment.functions.size} functions, each in containers of its own)`,
    `REST       ${stack.restUrl}   (${stack.deployment.restApis[0]?.methods.length ?? 0} methods of the template's REST API)`,
    `WebSocket  ${stack.wsUrl}   (${stack.deployment.webSocketApis[0]?.routes.size ?? 0} routes; @connections over HTTPS, IAM checked)`,
    `Cache      ${cache === undefined ? 'none' : `${cache.endpoint.host}:${cache.endpoint.port} (${cache.clusterMode ? 'cluster' : 'primary'}, ${cache.shards} shard(s))`}`,
    `Page       ${stack.restUrl}/   (live dashboard)`,
    '',
    `Dev tokens, every permission, valid 12 h (RS256 from the local identity provider at ${provider?.jwksUrl ?? '-'}):`,
    ...Object.entries(stack.tokens).map(([tenant, token]) => `  export ${variable(tenant)}=${token}`),
    '',
    'Try:',
    `  curl -i -H "Authorization: Bearer $${variable(first ?? 'acme')}" ${stack.restUrl}/api/products`,
    `  npx wscat -c "${stack.wsUrl}/?token=$${variable(first ?? 'acme')}"`,
    '',
    `Started in ${(startedInMs / 1000).toFixed(1)} s (${Object.entries(stack.startup)
      .map(([step, ms]) => `${step} ${(ms / 1000).toFixed(1)} s`)
      .join(', ')})`,
    '',
    `shop-edge local stack ready (as deployed): REST ${stack.restUrl}, WebSocket ${stack.wsUrl}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  const hint = /EADDRINUSE/.test(message) ? ' (a port is taken: set PORT / WS_PORT or --port / --ws-port)' : '';
  process.stderr.write(`[stack] could not start: ${message}${hint}\n`);
  if (process.env.DEBUG) process.stderr.write(`${describeError(error)}\n`);
  process.exit(1);
});
