/**
 * A function runs as on Lambda: its exact environment, a container per concurrent request with its
 * own module state, the lifecycle after errors, timeouts, crashes and failed inits, the payload as
 * JSON, Lambda's error types and log lines.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MAX_PAYLOAD_BYTES } from '../../local/runtime/function-pool';
import { lambdaEnvironment } from '../../local/runtime/lambda-environment';
import { REPO_ROOT } from '../../local/handlers';
import { closePools, payloadOf, ROLE_CREDENTIALS, startPool } from './helpers';

afterEach(closePools);

/** What Lambda sets in every environment of a Node.js function with a session token. */
const LAMBDA_VARIABLES = [
  '_HANDLER',
  'AWS_ACCESS_KEY_ID',
  'AWS_DEFAULT_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_REGION',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'LAMBDA_RUNTIME_DIR',
  'LAMBDA_TASK_ROOT',
  'LANG',
  'NODE_PATH',
  'PATH',
  'TZ',
];

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('environment', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it("is Lambda's variables, the template's and the network's, and nothing of the parent process", async () => {
    process.env.AWS_PROFILE = 'developer';
    process.env.SHOP_EDGE_RUNTIME_CANARY = 'must not leak';
    const { pool } = await startPool('basic', {
      environment: { SHOP_TABLE_NAME: 'shop-edge-dev-shop', NODE_OPTIONS: '--enable-source-maps' },
      serviceEndpoints: { AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:4566' },
    });
    const { env } = payloadOf(await pool.invoke({ action: 'env' })) as { env: Record<string, string> };

    expect(Object.keys(env).sort()).toEqual([...LAMBDA_VARIABLES, 'AWS_ENDPOINT_URL_DYNAMODB', 'NODE_OPTIONS', 'SHOP_TABLE_NAME'].sort());
    expect(env).toMatchObject({
      SHOP_TABLE_NAME: 'shop-edge-dev-shop',
      NODE_OPTIONS: '--enable-source-maps',
      AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:4566',
      AWS_ACCESS_KEY_ID: ROLE_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ROLE_CREDENTIALS.secretAccessKey,
      AWS_SESSION_TOKEN: ROLE_CREDENTIALS.sessionToken,
      AWS_REGION: 'eu-central-1',
      AWS_DEFAULT_REGION: 'eu-central-1',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      AWS_LAMBDA_FUNCTION_NAME: 'shop-edge-test-fn',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
      AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/shop-edge-test-fn',
      _HANDLER: 'index.handler',
      TZ: ':UTC',
      LANG: 'en_US.UTF-8',
      PATH: '/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin',
    });
    expect(env.AWS_LAMBDA_LOG_STREAM_NAME).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    expect(env.LAMBDA_TASK_ROOT).toBe(path.join(pool.sandboxDir, 'var', 'task'));
    expect(env.NODE_PATH?.split(':')).toEqual(
      expect.arrayContaining([path.join(pool.sandboxDir, 'var', 'runtime', 'node_modules'), env.LAMBDA_TASK_ROOT]),
    );
  });

  it('sets AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL for the JSON log format only', () => {
    const input = {
      functionName: 'f',
      handler: 'index.handler',
      runtime: 'nodejs24.x',
      memoryMb: 128,
      region: 'eu-central-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 's' },
      environment: {},
      serviceEndpoints: {},
      sandbox: { root: '/sandbox', taskRoot: '/sandbox/var/task', runtimeDir: '/sandbox/var/runtime' },
    };
    const text = lambdaEnvironment({ ...input, logging: {} });
    expect(text.AWS_LAMBDA_LOG_FORMAT).toBeUndefined();
    expect(text.AWS_SESSION_TOKEN).toBeUndefined();
    expect(lambdaEnvironment({ ...input, logging: { format: 'JSON', applicationLogLevel: 'WARN' } })).toMatchObject({
      AWS_LAMBDA_LOG_FORMAT: 'JSON',
      AWS_LAMBDA_LOG_LEVEL: 'WARN',
    });
  });

  it('refuses reserved keys in the template, as a deploy does, and an endpoint that is also a template variable', async () => {
    await expect(startPool('basic', { environment: { AWS_REGION: 'us-west-2' } })).rejects.toThrow(/reserved keys.*AWS_REGION/);
    await expect(startPool('basic', { environment: { TZ: 'Europe/Berlin' } })).rejects.toThrow(/TZ/);
    await expect(
      startPool('basic', { environment: { AWS_ENDPOINT_URL_DYNAMODB: 'x' }, serviceEndpoints: { AWS_ENDPOINT_URL_DYNAMODB: 'y' } }),
    ).rejects.toThrow(/also in the function's own environment/);
  });

  it('gives the handler a context like Lambda, in UTC, from the task root, with the heap bounded by the memory size', async () => {
    const { pool } = await startPool('basic', { timeoutMs: 10_000 });
    const context = payloadOf(await pool.invoke({ action: 'context' }, { requestId: 'request-1' })) as {
      remaining: number;
      execArgv: string[];
    };
    const { env } = payloadOf(await pool.invoke({ action: 'env' })) as { env: Record<string, string> };
    expect(context).toMatchObject({
      functionName: 'shop-edge-test-fn',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:eu-central-1:123456789012:function:shop-edge-test-fn',
      memoryLimitInMB: '256',
      awsRequestId: 'request-1',
      logGroupName: '/aws/lambda/shop-edge-test-fn',
      logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
      cwd: env.LAMBDA_TASK_ROOT,
      timezoneOffset: 0,
    });
    expect(context.remaining).toBeGreaterThan(5000);
    expect(context.remaining).toBeLessThanOrEqual(10_000);
    expect(context.execArgv).toContain('--max-old-space-size=230');
  });

  it('runs a read-only copy of the code from outside the project tree', async () => {
    const { pool } = await startPool('basic');
    const taskRoot = path.join(pool.sandboxDir, 'var', 'task');
    expect(path.relative(REPO_ROOT, taskRoot).startsWith('..')).toBe(true);
    expect((await stat(taskRoot)).mode & 0o777).toBe(0o555);
    expect((await stat(path.join(taskRoot, 'index.js'))).mode & 0o777).toBe(0o444);
    const sandbox = pool.sandboxDir;
    await pool.close();
    expect(existsSync(sandbox)).toBe(false);
  });
});

describe('containers', () => {
  it('reuses one warm container for sequential invocations, its module state kept', async () => {
    const { pool, logs } = await startPool('basic');
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await pool.invoke({ action: 'state' }));
    const states = results.map((result) => payloadOf(result) as { pid: number; invocations: number });
    expect(new Set(states.map((s) => s.pid)).size).toBe(1);
    expect(states.map((s) => s.invocations)).toEqual([1, 2, 3]);
    expect(results.map((r) => r.report?.coldStart)).toEqual([true, false, false]);
    expect(pool.stats()).toMatchObject({ containers: 1, idle: 1, busy: 0, coldStarts: 1, invocations: 3 });
    // Lambda's REPORT: Init Duration on the cold start only.
    const reports = logs.filter((entry) => entry.stream === 'platform' && entry.line.startsWith('REPORT'));
    expect(reports).toHaveLength(3);
    expect(reports[0]?.line).toMatch(
      /Duration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB\tMax Memory Used: \d+ MB\tInit Duration: [\d.]+ ms/,
    );
    expect(reports[1]?.line).not.toContain('Init Duration');
    expect(results[0]?.report?.initDurationMs).toBeGreaterThan(0);
  });

  it('starts one container per overlapping invocation, each with its own module state', async () => {
    const { pool } = await startPool('basic');
    const overlapping = await Promise.all([1, 2, 3].map(() => pool.invoke({ action: 'sleep', ms: 300 })));
    const states = overlapping.map((result) => payloadOf(result) as { pid: number; invocations: number });
    expect(new Set(states.map((s) => s.pid)).size).toBe(3);
    expect(states.map((s) => s.invocations)).toEqual([1, 1, 1]);
    expect(pool.stats()).toMatchObject({ containers: 3, idle: 3, coldStarts: 3 });
    const next = payloadOf(await pool.invoke({ action: 'state' })) as { pid: number; invocations: number };
    expect(states.map((s) => s.pid)).toContain(next.pid);
    expect(next.invocations).toBe(2);
  });

  it('recycle(), as a configuration update: no container of before takes another invocation, one in flight ends normally', async () => {
    const { pool } = await startPool('basic');
    const idleBefore = payloadOf(await pool.invoke({ action: 'state' })) as { pid: number };
    const inFlight = pool.invoke({ action: 'sleep', ms: 500 }); // a second container, busy during the update
    await new Promise((resolve) => setTimeout(resolve, 100));
    pool.recycle();
    const flown = await inFlight;
    expect(flown).toMatchObject({ ok: true });
    const busyBefore = payloadOf(flown) as { pid: number };
    const after = await Promise.all([1, 2].map(() => pool.invoke({ action: 'sleep', ms: 200 })));
    expect(after.map((r) => r.report?.coldStart)).toEqual([true, true]);
    const pids = after.map((r) => (payloadOf(r) as { pid: number }).pid);
    expect(pids).not.toContain(idleBefore.pid);
    expect(pids).not.toContain(busyBefore.pid);
    expect(pool.stats()).toMatchObject({ containers: 2, idle: 2 });
  });

  it('throttles an invocation beyond the concurrency instead of queueing it', async () => {
    const { pool } = await startPool('basic', { maxContainers: 2 });
    const results = await Promise.all([1, 2, 3].map(() => pool.invoke({ action: 'sleep', ms: 300 })));
    expect(results.filter((r) => r.ok)).toHaveLength(2);
    expect(results.filter((r) => !r.ok)).toEqual([
      expect.objectContaining({ kind: 'throttled', errorType: 'TooManyRequestsException', errorMessage: 'Rate Exceeded.' }),
    ]);
    expect(pool.stats()).toMatchObject({ containers: 2, throttled: 1 });
  });

  it.each([
    [true, 'freezes', 'stops'],
    [false, 'does not freeze', 'goes on'],
  ])(
    'with freezeWhenIdle: %s, %s an idle container: the work its handler left running %s until the next invocation',
    async (freezeWhenIdle) => {
      const { pool } = await startPool('basic', { freezeWhenIdle });
      payloadOf(await pool.invoke({ action: 'tick-start' }));
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const { longestPauseMs, ticks } = payloadOf(await pool.invoke({ action: 'tick-read' })) as { longestPauseMs: number; ticks: number };
      expect(ticks).toBeGreaterThan(0);
      // A 10 ms interval: frozen, it pauses for the whole idle second; thawed or never frozen, it ticks on.
      if (freezeWhenIdle) expect(longestPauseMs).toBeGreaterThanOrEqual(900);
      else expect(longestPauseMs).toBeLessThan(900);
    },
  );

  it('stops idle containers after the idle timeout, frozen or not', async () => {
    const { pool } = await startPool('basic', { idleTimeoutMs: 200, freezeWhenIdle: true });
    const { pid } = payloadOf(await pool.invoke({ action: 'state' })) as { pid: number };
    await waitUntil(() => !isAlive(pid));
    expect(pool.stats().containers).toBe(0);
    const next = payloadOf(await pool.invoke({ action: 'state' })) as { pid: number; invocations: number };
    expect(next.invocations).toBe(1);
  });
});

describe('failures', () => {
  it('keeps the container after a handler error, reported with its type, message and stack', async () => {
    const { pool, logs } = await startPool('basic');
    const before = payloadOf(await pool.invoke({ action: 'state' })) as { pid: number };
    const error = await pool.invoke({ action: 'throw' });
    expect(error).toMatchObject({ ok: false, kind: 'error', errorType: 'TypeError', errorMessage: 'the event is bad' });
    expect(!error.ok && error.stack?.[0]).toBe('TypeError: the event is bad');
    expect(await pool.invoke({ action: 'throw-string' })).toMatchObject({ kind: 'error', errorType: 'string', errorMessage: 'plain text' });
    const after = payloadOf(await pool.invoke({ action: 'state' })) as { pid: number; invocations: number };
    expect(after).toEqual({ pid: before.pid, invocations: 4 });
    // The runtime logs every invocation error, as Lambda's does.
    expect(logs.some((entry) => entry.stream === 'stdout' && /\tERROR\tInvoke Error \t\{"errorType":"TypeError"/.test(entry.line))).toBe(
      true,
    );
  });

  it('kills a container that times out and serves the next invocation from a fresh one', async () => {
    const { pool, logs } = await startPool('basic', { timeoutMs: 1000 });
    const first = payloadOf(await pool.invoke({ action: 'state' })) as { pid: number };
    const started = Date.now();
    const timedOut = await pool.invoke({ action: 'hang' }, { requestId: 'slow-request' });
    // Not before its timeout (a timer may fire a millisecond before Date.now() has moved on: Node
    // keeps timers on a monotonic clock that rounds differently).
    expect(Date.now() - started).toBeGreaterThanOrEqual(995);
    expect(timedOut).toMatchObject({
      ok: false,
      kind: 'timeout',
      errorType: 'Sandbox.Timedout',
      errorMessage: 'RequestId: slow-request Error: Task timed out after 1.00 seconds',
    });
    await waitUntil(() => !isAlive(first.pid));
    const next = payloadOf(await pool.invoke({ action: 'state' })) as { pid: number; invocations: number };
    expect(next.pid).not.toBe(first.pid);
    expect(next.invocations).toBe(1);
    expect(logs.some((entry) => entry.stream === 'platform' && entry.line.endsWith('slow-request Task timed out after 1.00 seconds'))).toBe(
      true,
    );
    expect(logs.some((entry) => entry.line.startsWith('REPORT RequestId: slow-request') && entry.line.endsWith('Status: timeout'))).toBe(
      true,
    );
  });

  it.each([
    ['exit', { code: 3 }, 'Runtime.ExitError', 'RequestId: crash-request Error: Runtime exited with error: exit status 3'],
    ['uncaught', {}, 'RangeError', 'thrown from a timer'],
    ['unhandled-rejection', {}, 'Runtime.UnhandledPromiseRejection', 'Error: nobody awaited me'],
  ])('replaces a container that crashes (%s)', async (action, extra, errorType, errorMessage) => {
    const { pool } = await startPool('basic');
    const first = payloadOf(await pool.invoke({ action: 'state' })) as { pid: number };
    const crash = await pool.invoke({ action, ...extra }, { requestId: 'crash-request' });
    expect(crash).toMatchObject({ ok: false, kind: 'crash', errorType, errorMessage });
    const next = payloadOf(await pool.invoke({ action: 'state' })) as { pid: number; invocations: number };
    expect(next.pid).not.toBe(first.pid);
    expect(next.invocations).toBe(1);
  });

  it('reports a failed init for that invocation and retries the init on the next one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'shop-edge-runtime-flag-'));
    try {
      const flag = path.join(dir, 'ready');
      const { pool, logs } = await startPool('init-fails', { environment: { INIT_FLAG_FILE: flag } });
      expect(await pool.invoke({})).toMatchObject({
        ok: false,
        kind: 'init-error',
        errorType: 'Error',
        errorMessage: 'the configuration is not there yet',
      });
      expect(
        logs.some((entry) => /^INIT_REPORT Init Duration: [\d.]+ ms\tPhase: init\tStatus: error\tError Type: Error$/.test(entry.line)),
      ).toBe(true);
      expect(pool.stats().containers).toBe(0);
      await writeFile(flag, '');
      const retried = await pool.invoke({});
      expect(payloadOf(retried)).toEqual({ initialised: true });
      expect(retried.report?.coldStart).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives up an init that runs past the init limit, and discards its container', async () => {
    const { pool, logs } = await startPool('slow-init', { initTimeoutMs: 500 });
    expect(await pool.invoke({})).toMatchObject({ ok: false, kind: 'timeout', errorType: 'Sandbox.Timedout' });
    expect(logs.some((entry) => entry.line.startsWith('INIT_REPORT') && entry.line.endsWith('Status: timeout'))).toBe(true);
    expect(pool.stats().containers).toBe(0);
  });

  it('names a handler that is not there as Lambda does', async () => {
    const notExported = await startPool('basic', { handler: 'index.nope' });
    expect(await notExported.pool.invoke({})).toMatchObject({
      kind: 'init-error',
      errorType: 'Runtime.HandlerNotFound',
      errorMessage: 'index.nope is undefined or not exported',
    });
    const noModule = await startPool('basic', { handler: 'missing.handler' });
    const result = await noModule.pool.invoke({});
    expect(result).toMatchObject({ kind: 'init-error', errorType: 'Runtime.ImportModuleError' });
    expect(!result.ok && result.errorMessage).toMatch(/^Error: Cannot find module 'missing'/);
    const malformed = await startPool('basic', { handler: '../index.handler' });
    expect(await malformed.pool.invoke({})).toMatchObject({ kind: 'init-error', errorType: 'Runtime.MalformedHandlerName' });
  });

  it('refuses a callback-style handler on nodejs24.x and calls it on nodejs22.x', async () => {
    const node24 = await startPool('callback');
    const refused = await node24.pool.invoke({});
    expect(refused).toMatchObject({ kind: 'init-error', errorType: 'Runtime.CallbackHandlerDeprecated' });
    expect(!refused.ok && refused.errorMessage).toContain('removed support for callback-based function handlers starting with Node.js 24');
    const node22 = await startPool('callback', { runtime: 'nodejs22.x' });
    expect(payloadOf(await node22.pool.invoke({ hello: 'world' }))).toEqual({ via: 'callback', echo: { hello: 'world' } });
  });
});

describe('payloads', () => {
  it('returns the JSON of the result, as Lambda serialises it', async () => {
    const { pool } = await startPool('basic');
    expect(payloadOf(await pool.invoke({ action: 'not-json' }))).toEqual({ when: '1970-01-01T00:00:00.000Z', kept: 1 });
    const nothing = await pool.invoke({ action: 'undefined' });
    expect(nothing).toMatchObject({ ok: true, payload: null, payloadJson: 'null' });
    expect(await pool.invoke({ action: 'bigint' })).toMatchObject({
      kind: 'error',
      errorType: 'Runtime.JSONStringifyError',
      errorMessage: 'Unable to stringify response body',
    });
    expect(await pool.invoke({ action: 'big-response' })).toMatchObject({ kind: 'error', errorType: 'Function.ResponseSizeTooLarge' });
    expect(pool.stats().containers).toBe(1);
  });

  it("refuses an event over Lambda's 6 MB limit before it reaches a container", async () => {
    const { pool } = await startPool('basic');
    expect(await pool.invoke({ body: 'x'.repeat(MAX_PAYLOAD_BYTES) })).toMatchObject({
      kind: 'request-too-large',
      errorType: 'RequestEntityTooLargeException',
    });
    expect(pool.stats().coldStarts).toBe(0);
  });
});

describe('logs', () => {
  it("tags each line with the function and container, in Lambda's text format, with START, END and REPORT", async () => {
    const { pool, logs } = await startPool('basic');
    await pool.invoke({ action: 'log' }, { requestId: 'log-request' });
    const lines = logs.filter((entry) => entry.stream !== 'platform').map((entry) => entry.line);
    expect(logs.every((entry) => entry.functionName === 'shop-edge-test-fn' && entry.containerId === 1)).toBe(true);
    expect(lines).toEqual([
      expect.stringMatching(/^\d{4}-\d{2}-\d{2}T[\d:.]+Z\tlog-request\tINFO\tfirst line\rsecond line$/),
      expect.stringMatching(/\tlog-request\tERROR\tan error Error: logged\r {4}at /),
      expect.stringMatching(/\tlog-request\tDEBUG\tdebug detail$/),
    ]);
    const platform = logs.filter((entry) => entry.stream === 'platform').map((entry) => entry.line);
    expect(platform[0]).toBe('START RequestId: log-request Version: $LATEST');
    expect(platform[1]).toBe('END RequestId: log-request');
    expect(platform[2]).toMatch(/^REPORT RequestId: log-request\t/);
  });

  it('writes JSON lines and drops what is below the application log level in the JSON format', async () => {
    const { pool, logs } = await startPool('basic', { logging: { format: 'JSON', applicationLogLevel: 'INFO' } });
    await pool.invoke({ action: 'log' }, { requestId: 'json-request' });
    const records = logs.filter((entry) => entry.stream === 'stdout').map((entry) => JSON.parse(entry.line) as Record<string, unknown>);
    expect(records).toEqual([
      expect.objectContaining({ level: 'INFO', requestId: 'json-request', message: 'first line\nsecond line' }),
      expect.objectContaining({ level: 'ERROR', requestId: 'json-request', errorType: 'Error', errorMessage: 'logged' }),
    ]);
  });
});
