/**
 * Runs one Lambda function the way the Lambda service does, from plain data: its bundled code,
 * handler, timeout, memory, exact environment, credentials and network. Each container (execution
 * environment) is a Node.js child process running bootstrap.js in a sandbox outside the project
 * (sandbox.ts), with network-guard.js preloaded; it serves one invocation at a time and keeps its
 * module state between invocations. Overlapping invocations start more containers, up to
 * `maxContainers` (the function's concurrency); beyond it an invocation is throttled, as Lambda
 * throttles (TooManyRequestsException), never queued.
 *
 * Lifecycle, as on Lambda: a container that times out, crashes (exit, uncaught exception,
 * unhandled rejection) or fails its init is discarded, and the next invocation starts a fresh one
 * (a failed init is retried, never cached); a handler error keeps the container. Idle containers
 * are reused, most recently used first, and stopped after `idleTimeoutMs`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { LOCAL_ACCOUNT_ID } from '../dev-defaults';
import { lambdaEnvironment, validateEnvironment, type AwsCredentials, type LoggingConfig } from './lambda-environment';
import { createSandbox, type RuntimePackages, type Sandbox } from './sandbox';

export type { AwsCredentials, LoggingConfig } from './lambda-environment';
export type { RuntimePackages } from './sandbox';

/** A destination a function may reach: a host as its configuration names it, and a port (any if omitted). */
export interface AllowedDestination {
  readonly host: string;
  readonly port?: number;
}

/** A destination pattern; an omitted field matches anything. */
export interface BlackholedDestination {
  readonly host?: string;
  readonly port?: number;
}

/**
 * What the function's network reaches. A connection proceeds when `allow` is 'any' or lists it
 * and no `blackhole` entry matches; anything else is black-holed (a dropped SYN: the client's own
 * connect timeout fires, never ECONNREFUSED). Hosts are compared as written, before DNS.
 * Outside a VPC: `{ allow: 'any', blackhole: [redis] }`. In a VPC without NAT: `{ allow: [redis, endpoints...] }`.
 */
export interface NetworkPolicy {
  readonly allow: 'any' | readonly AllowedDestination[];
  readonly blackhole?: readonly BlackholedDestination[];
  /**
   * Names the network resolves to somewhere else, as DNS and routing would: a connection to
   * `host` (on `port`, or any port when omitted) goes to `to` instead, and is always allowed. TLS
   * still verifies the certificate against `host`, the name the function asked for.
   */
  readonly routes?: readonly NetworkRoute[];
}

export interface NetworkRoute {
  readonly host: string;
  readonly port?: number;
  readonly to: { readonly host: string; readonly port: number };
}

export interface LogEntry {
  readonly functionName: string;
  /** 1, 2, ... in the order the pool started its containers. */
  readonly containerId: number;
  /** 'platform': the START / END / REPORT / INIT_REPORT lines and the pool's own notes. */
  readonly stream: 'stdout' | 'stderr' | 'platform';
  /**
   * One line, without its newline. In Lambda's text log format a multi-line message is one line
   * with \r where the newlines were (CloudWatch keeps it one event).
   */
  readonly line: string;
}

export type LogSink = (entry: LogEntry) => void;

export interface FunctionSpec {
  /** The function name (AWS_LAMBDA_FUNCTION_NAME), e.g. shop-edge-dev-get-product. */
  readonly name: string;
  /** The bundle's directory, e.g. cdk.out/asset.<hash>; copied, never run in place. */
  readonly codeDir: string;
  /** Lambda's Handler property: '<module path>.<export>', e.g. 'index.handler'. */
  readonly handler: string;
  /** Lambda's Runtime property. nodejs24.x refuses callback handlers (arity 3) at init; 22 and older call them. @default 'nodejs24.x' */
  readonly runtime?: string;
  readonly timeoutMs: number;
  readonly memoryMb: number;
  /** Exactly the function's Environment.Variables, resolved (NODE_OPTIONS among them applies to the container). */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * Variables the network provides rather than the function: what DNS would resolve for a real
   * service endpoint, e.g. { AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:8000' }. Kept apart from
   * `environment` so the difference stays visible; a key in both is refused.
   */
  readonly serviceEndpoints?: Readonly<Record<string, string>>;
  /** The execution role's credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). */
  readonly credentials: AwsCredentials;
  readonly region: string;
  /** For the invoked function ARN. @default LOCAL_ACCOUNT_ID of dev-defaults.ts */
  readonly accountId?: string;
  readonly network: NetworkPolicy;
  /** The function's concurrency: containers at most; an invocation beyond is throttled (or waits, see overflow). @default 10 */
  readonly maxContainers?: number;
  /**
   * What an invocation finds when every one of maxContainers containers is busy: 'throttle'
   * (TooManyRequestsException, as Lambda at a function's reserved concurrency), or 'wait' for a
   * container to be free (maxContainers is then a local bound on processes, not a concurrency
   * Lambda would enforce: a function without reserved concurrency scales to the account's limit).
   * At most MAX_WAITING invocations wait; beyond, they are throttled. @default 'throttle'
   */
  readonly overflow?: 'throttle' | 'wait';
  /** An idle container is stopped after this long (0: never). @default 300_000 */
  readonly idleTimeoutMs?: number;
  /**
   * Freeze an idle container (SIGSTOP) and thaw it for its next invocation (SIGCONT), as Lambda
   * freezes an environment once it has answered: timers, retries and any work the handler left
   * running stop until the next invocation. @default false
   */
  readonly freezeWhenIdle?: boolean;
  /** Lambda's limit on the init phase of an on-demand environment. @default 10_000 */
  readonly initTimeoutMs?: number;
  /** LoggingConfig: Text (default) or JSON log lines, and the JSON application log level. */
  readonly logging?: LoggingConfig;
  /** Where each container's lines go. @default written to process.stderr as "[name#id] line" */
  readonly logSink?: LogSink;
  /** The packages the runtime provides (what the bundles leave external). @default every @aws-sdk/* of the project's node_modules */
  readonly runtimePackages?: RuntimePackages;
  /** Parent directory of the sandbox. @default <os tmpdir>/shop-edge-lambda */
  readonly sandboxBaseDir?: string;
  /** @default process.execPath (Node 24 under the npm scripts, as nodejs24.x) */
  readonly nodeExecutable?: string;
}

export interface InvokeOptions {
  /** @default a random UUID */
  readonly requestId?: string;
  readonly clientContext?: Readonly<Record<string, unknown>>;
  readonly identity?: Readonly<Record<string, unknown>>;
}

/** What Lambda's REPORT line says about one invocation. */
export interface InvocationReport {
  readonly requestId: string;
  readonly containerId: number;
  /** This invocation started its container. */
  readonly coldStart: boolean;
  /** Cold start only: the container's init, from its process start to the handler loaded (Lambda's Init Duration). */
  readonly initDurationMs?: number;
  /** Cold start only: from spawning the process to the handler loaded, as the caller waited for it. */
  readonly startupMs?: number;
  /** The handler's run, from sending the event to receiving the answer. */
  readonly durationMs: number;
  /** Peak resident memory of the container so far (Max Memory Used). */
  readonly maxMemoryUsedMb?: number;
}

export interface InvokeSuccess {
  readonly ok: true;
  /** The handler's result after JSON serialisation (undefined becomes null), as Lambda returns it. */
  readonly payload: unknown;
  /** The same, as JSON text. */
  readonly payloadJson: string;
  readonly report: InvocationReport;
}

export type FailureKind =
  /** The handler threw or rejected (the container is kept). */
  | 'error'
  /** The invocation, or the init, ran past its limit (the container is killed). */
  | 'timeout'
  /** The handler could not be loaded (Runtime.ImportModuleError, HandlerNotFound, a throw at module level...). */
  | 'init-error'
  /** The process died: exit, uncaught exception, unhandled rejection, out of memory. */
  | 'crash'
  /** Every container is busy and the concurrency is reached (TooManyRequestsException). */
  | 'throttled'
  /** The event is over Lambda's 6 MB synchronous payload limit (RequestEntityTooLargeException). */
  | 'request-too-large';

export interface InvokeFailure {
  readonly ok: false;
  readonly kind: FailureKind;
  readonly errorType: string;
  readonly errorMessage: string;
  /** The error's stack, line by line (Lambda's `trace`). */
  readonly stack?: readonly string[];
  /** Absent when the invocation never reached a container (throttled, request-too-large). */
  readonly report?: InvocationReport;
}

export type InvokeResult = InvokeSuccess | InvokeFailure;

export interface PoolStats {
  /** Containers alive: starting, idle or busy. */
  readonly containers: number;
  readonly idle: number;
  readonly busy: number;
  readonly coldStarts: number;
  readonly invocations: number;
  readonly throttled: number;
}

export interface FunctionPool {
  readonly name: string;
  /** The sandbox of the function (see sandbox.ts): where its code runs from. */
  readonly sandboxDir: string;
  /** Runs one invocation. Resolves with the outcome, whatever the handler did; rejects only once closed or for an event JSON cannot encode. */
  invoke(event: unknown, options?: InvokeOptions): Promise<InvokeResult>;
  stats(): PoolStats;
  /**
   * Starts containers (up to `count`, within maxContainers) and waits for their init, so the next
   * invocations find them warm (as provisioned concurrency would): tests that measure a function,
   * not its cold start. Resolves with the number of containers that became ready.
   */
  prewarm(count?: number): Promise<number>;
  /**
   * What a configuration update does to a function (`UpdateFunctionConfiguration`): the containers
   * of now are not used again (an idle one ends now, a busy one after its invocation), and the
   * invocations that follow start new ones. A new container reads its secrets afresh.
   */
  recycle(): void;
  /** Kills every container (an invocation in flight ends as a crash) and removes the sandbox. */
  close(): Promise<void>;
}

/**
 * Every container process alive, killed when this process exits however it exits (short of
 * SIGKILL): a frozen container would otherwise never see its channel close.
 */
const liveProcesses = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const live of liveProcesses) live.kill('SIGKILL');
    });
  }
  liveProcesses.add(child);
  child.once('exit', () => liveProcesses.delete(child));
}

/** Lambda's synchronous invocation payload limit, request and response. */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
const NETWORK_POLICY_VARIABLE = '_SHOP_EDGE_NETWORK_POLICY';
/** A line longer than this is cut (CloudWatch's event limit is 256 KB). */
const MAX_LOG_LINE = 256 * 1024;
/** Invocations that may wait for a container at once (overflow: wait); beyond, they are throttled. */
const MAX_WAITING = 1000;

export async function createFunctionPool(spec: FunctionSpec): Promise<FunctionPool> {
  validateSpec(spec);
  const sandbox = await createSandbox({
    functionName: spec.name,
    codeDir: spec.codeDir,
    baseDir: spec.sandboxBaseDir,
    runtimePackages: spec.runtimePackages,
  });
  return new Pool(spec, sandbox);
}

function validateSpec(spec: FunctionSpec): void {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(spec.name)) throw new Error(`invalid function name ${JSON.stringify(spec.name)}`);
  for (const [field, value] of [
    ['timeoutMs', spec.timeoutMs],
    ['memoryMb', spec.memoryMb],
  ] as const) {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${spec.name}: ${field} must be a positive number`);
  }
  if (spec.maxContainers !== undefined && (!Number.isInteger(spec.maxContainers) || spec.maxContainers < 1)) {
    throw new Error(`${spec.name}: maxContainers must be a positive integer`);
  }
  validateEnvironment(spec.environment, spec.serviceEndpoints ?? {});
}

interface ErrorBody {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace: readonly string[];
}

type ChildMessage =
  | { readonly type: 'ready'; readonly initDurationMs: number }
  | { readonly type: 'init-error'; readonly error: ErrorBody }
  | { readonly type: 'result'; readonly requestId: string; readonly payload: string; readonly maxRssKb: number }
  | { readonly type: 'error'; readonly requestId: string; readonly error: ErrorBody; readonly maxRssKb: number }
  | { readonly type: 'crash'; readonly requestId?: string; readonly error: ErrorBody }
  | { readonly type: 'blackholed'; readonly host: string; readonly port: number };

interface InitFailure {
  readonly kind: 'init-error' | 'timeout';
  readonly errorType: string;
  readonly errorMessage: string;
  readonly stack?: readonly string[];
}

interface Invocation {
  readonly requestId: string;
  readonly coldStart: boolean;
  readonly sentAt: number;
  readonly timer: NodeJS.Timeout;
  readonly resolve: (result: InvokeResult) => void;
}

interface Container {
  readonly id: number;
  readonly child: ChildProcess;
  readonly spawnedAt: number;
  readonly exited: Promise<void>;
  state: 'starting' | 'idle' | 'busy' | 'dead';
  /** The pool's configuration generation it was started in (see recycle()). */
  readonly generation: number;
  /** Settled once: undefined when the handler is loaded. */
  readonly ready: Promise<InitFailure | undefined>;
  readonly settleInit: (failure: InitFailure | undefined) => void;
  initDurationMs?: number;
  startupMs?: number;
  maxRssKb?: number;
  invocation?: Invocation;
  idleTimer?: NodeJS.Timeout;
  frozen: boolean;
}

class Pool implements FunctionPool {
  public readonly name: string;
  public readonly sandboxDir: string;
  private readonly containers = new Set<Container>();
  /** Idle containers, the most recently used last. */
  private readonly idle: Container[] = [];
  private readonly maxContainers: number;
  private readonly idleTimeoutMs: number;
  private readonly initTimeoutMs: number;
  private readonly log: LogSink;
  private readonly invokedFunctionArn: string;
  private nextContainerId = 1;
  private generation = 0;
  private closed = false;
  private coldStarts = 0;
  private invocations = 0;
  private throttled = 0;
  /** Invocations waiting for a container (overflow 'wait'), oldest first. */
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly spec: FunctionSpec,
    private readonly sandbox: Sandbox,
  ) {
    this.name = spec.name;
    this.sandboxDir = sandbox.root;
    this.maxContainers = spec.maxContainers ?? 10;
    this.idleTimeoutMs = spec.idleTimeoutMs ?? 300_000;
    this.initTimeoutMs = spec.initTimeoutMs ?? 10_000;
    this.log = spec.logSink ?? defaultLogSink;
    this.invokedFunctionArn = `arn:aws:lambda:${spec.region}:${spec.accountId ?? LOCAL_ACCOUNT_ID}:function:${spec.name}`;
  }

  public async invoke(event: unknown, options: InvokeOptions = {}): Promise<InvokeResult> {
    if (this.closed) throw new Error(`${this.name}: the function pool is closed`);
    const requestId = options.requestId ?? randomUUID();
    const eventJson = JSON.stringify(event) as string | undefined;
    if (eventJson === undefined) throw new TypeError(`${this.name}: the event is not JSON-serialisable`);
    if (Buffer.byteLength(eventJson) > MAX_PAYLOAD_BYTES) {
      return failure('request-too-large', {
        errorType: 'RequestEntityTooLargeException',
        errorMessage: `Request must be smaller than ${String(MAX_PAYLOAD_BYTES)} bytes for the InvokeFunction operation`,
      });
    }

    let container = this.idle.pop();
    while (
      container === undefined &&
      this.containers.size >= this.maxContainers &&
      this.spec.overflow === 'wait' &&
      this.waiting.length < MAX_WAITING &&
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may run while an invocation waits
      !this.closed
    ) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
      container = this.idle.pop();
    }
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have run while it waited
    if (this.closed) throw new Error(`${this.name}: the function pool is closed`);
    const coldStart = container === undefined;
    if (container === undefined) {
      if (this.containers.size >= this.maxContainers) {
        this.throttled += 1;
        return failure('throttled', { errorType: 'TooManyRequestsException', errorMessage: 'Rate Exceeded.' });
      }
      container = this.startContainer();
    } else {
      clearTimeout(container.idleTimer);
      if (container.frozen) {
        container.frozen = false;
        container.child.kill('SIGCONT');
      }
    }
    container.state = 'busy';
    this.invocations += 1;

    if (coldStart) {
      const initFailure = await container.ready;
      if (initFailure !== undefined) {
        return failure(initFailure.kind, initFailure, {
          requestId,
          containerId: container.id,
          coldStart,
          initDurationMs: container.initDurationMs,
          durationMs: 0,
        });
      }
      // close() ran between the container's ready message and now.
      if (!this.containers.has(container)) return crashed(requestId, container, coldStart, 'the function pool was closed');
    }
    return this.run(container, requestId, eventJson, coldStart, options);
  }

  public stats(): PoolStats {
    let busy = 0;
    for (const container of this.containers) if (container.state !== 'idle') busy += 1;
    return {
      containers: this.containers.size,
      idle: this.idle.length,
      busy,
      coldStarts: this.coldStarts,
      invocations: this.invocations,
      throttled: this.throttled,
    };
  }

  public async prewarm(count = 1): Promise<number> {
    if (this.closed) throw new Error(`${this.name}: the function pool is closed`);
    const wanted = Math.min(count, this.maxContainers) - this.containers.size;
    const started = Array.from({ length: Math.max(0, wanted) }, () => this.startContainer());
    const ready = await Promise.all(
      started.map(async (container) => {
        const failure = await container.ready;
        if (failure !== undefined || container.state !== 'starting' || !this.containers.has(container)) return false;
        container.state = 'busy';
        this.keepForNext(container);
        return true;
      }),
    );
    return ready.filter(Boolean).length;
  }

  public recycle(): void {
    this.generation += 1;
    for (const container of [...this.idle]) this.discard(container, 'the function configuration was updated');
  }

  public async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const wake of this.waiting.splice(0)) wake();
    const exits = [...this.containers].map((container) => {
      this.discard(container, 'the function pool was closed');
      return container.exited;
    });
    await Promise.all(exits);
    await this.sandbox.remove();
  }

  private startContainer(): Container {
    const id = this.nextContainerId++;
    this.coldStarts += 1;
    const env = {
      ...lambdaEnvironment({
        functionName: this.spec.name,
        handler: this.spec.handler,
        runtime: this.spec.runtime ?? 'nodejs24.x',
        memoryMb: this.spec.memoryMb,
        region: this.spec.region,
        credentials: this.spec.credentials,
        environment: this.spec.environment,
        serviceEndpoints: this.spec.serviceEndpoints ?? {},
        logging: this.spec.logging ?? {},
        sandbox: this.sandbox,
      }),
      [NETWORK_POLICY_VARIABLE]: JSON.stringify({
        allow: this.spec.network.allow,
        blackhole: this.spec.network.blackhole ?? [],
        routes: this.spec.network.routes ?? [],
      }),
    };
    // Flags on the command line, not in NODE_OPTIONS: the function's NODE_OPTIONS applies too and
    // reads exactly as configured. The heap is bounded by the memory size, as Lambda's bootstrap does.
    const args = [
      `--max-old-space-size=${String(Math.max(16, Math.floor(this.spec.memoryMb * 0.9)))}`,
      '--require',
      this.sandbox.networkGuardFile,
      this.sandbox.bootstrapFile,
    ];
    const spawnedAt = performance.now();
    const child = spawn(this.spec.nodeExecutable ?? process.execPath, args, {
      cwd: this.sandbox.taskRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    track(child);
    let settleInit: (failure: InitFailure | undefined) => void = () => undefined;
    const ready = new Promise<InitFailure | undefined>((resolve) => {
      settleInit = resolve;
    });
    let markExited: () => void = () => undefined;
    const exited = new Promise<void>((resolve) => {
      markExited = resolve;
    });
    const initTimer = setTimeout(() => {
      const seconds = (this.initTimeoutMs / 1000).toFixed(2);
      this.platform(container, `INIT_REPORT Init Duration: ${this.initTimeoutMs.toFixed(2)} ms\tPhase: init\tStatus: timeout`);
      container.settleInit({ kind: 'timeout', errorType: 'Sandbox.Timedout', errorMessage: `Init timed out after ${seconds} seconds` });
      this.discard(container, 'init timed out');
    }, this.initTimeoutMs);
    let initSettled = false;
    const container: Container = {
      id,
      child,
      spawnedAt,
      exited,
      state: 'starting',
      generation: this.generation,
      frozen: false,
      ready,
      // Settles once: later calls (an exit after an init error, say) are no-ops.
      settleInit: (initFailure) => {
        if (initSettled) return;
        initSettled = true;
        clearTimeout(initTimer);
        settleInit(initFailure);
      },
    };
    this.containers.add(container);

    this.pipeLines(container, 'stdout', child.stdout);
    this.pipeLines(container, 'stderr', child.stderr);
    child.on('message', (message) => {
      this.onMessage(container, message as ChildMessage);
    });
    child.on('error', (error) => {
      // The process could not be spawned (or signalled); 'exit' may never come.
      this.platform(container, `process error: ${error.message}`);
      container.settleInit({ kind: 'init-error', errorType: 'Runtime.ExitError', errorMessage: error.message });
      this.discard(container, error.message);
      markExited();
    });
    child.on('exit', (code, signal) => {
      this.onExit(container, code, signal);
      markExited();
    });
    return container;
  }

  private onMessage(container: Container, message: ChildMessage): void {
    switch (message.type) {
      case 'ready': {
        container.initDurationMs = message.initDurationMs;
        container.startupMs = performance.now() - container.spawnedAt;
        container.settleInit(undefined);
        return;
      }
      case 'init-error': {
        const duration = performance.now() - container.spawnedAt;
        this.platform(
          container,
          `INIT_REPORT Init Duration: ${duration.toFixed(2)} ms\tPhase: init\tStatus: error\tError Type: ${message.error.errorType}`,
        );
        container.settleInit({ kind: 'init-error', ...errorFields(message.error) });
        this.discard(container, 'init failed');
        return;
      }
      case 'result':
      case 'error': {
        const invocation = container.invocation;
        if (invocation?.requestId !== message.requestId) return;
        container.maxRssKb = message.maxRssKb;
        this.complete(container, invocation, (report) => resultOf(message, report), undefined);
        // After the result is handed over: a container of a previous configuration ends here.
        this.keepForNext(container);
        return;
      }
      case 'crash': {
        const invocation = container.invocation;
        if (container.state === 'starting') {
          container.settleInit({ kind: 'init-error', ...errorFields(message.error) });
        } else if (invocation !== undefined) {
          this.complete(container, invocation, (report) => failure('crash', errorFields(message.error), report), 'error');
        }
        this.discard(container, `${message.error.errorType}: ${message.error.errorMessage}`);
        return;
      }
      case 'blackholed': {
        this.platform(
          container,
          `network: connection to ${message.host}:${String(message.port)} dropped (not reachable from this function's network); it waits for the client's connect timeout`,
        );
        return;
      }
    }
  }

  private onExit(container: Container, code: number | null, signal: NodeJS.Signals | null): void {
    const reason =
      code === 0
        ? 'Runtime exited without providing a reason'
        : `Runtime exited with error: ${signal !== null ? `signal: ${signal}` : `exit status ${String(code)}`}`;
    if (container.state === 'dead') return;
    container.settleInit({ kind: 'init-error', errorType: 'Runtime.ExitError', errorMessage: reason });
    const invocation = container.invocation;
    if (invocation !== undefined) {
      const errorMessage = `RequestId: ${invocation.requestId} Error: ${reason}`;
      this.complete(container, invocation, (report) => failure('crash', { errorType: 'Runtime.ExitError', errorMessage }, report), 'error');
    }
    this.discard(container, reason);
  }

  private run(
    container: Container,
    requestId: string,
    eventJson: string,
    coldStart: boolean,
    options: InvokeOptions,
  ): Promise<InvokeResult> {
    const timeoutMs = this.spec.timeoutMs;
    return new Promise<InvokeResult>((resolve) => {
      const timer = setTimeout(() => {
        const invocation = container.invocation;
        if (invocation?.requestId !== requestId) return;
        const seconds = (timeoutMs / 1000).toFixed(2);
        this.platform(container, `${new Date().toISOString()} ${requestId} Task timed out after ${seconds} seconds`);
        const errorMessage = `RequestId: ${requestId} Error: Task timed out after ${seconds} seconds`;
        this.complete(
          container,
          invocation,
          (report) => failure('timeout', { errorType: 'Sandbox.Timedout', errorMessage }, report),
          'timeout',
        );
        this.discard(container, 'timed out');
      }, timeoutMs);
      const invocation: Invocation = { requestId, coldStart, sentAt: performance.now(), timer, resolve };
      container.invocation = invocation;
      this.platform(container, `START RequestId: ${requestId} Version: $LATEST`);
      container.child.send(
        {
          type: 'invoke',
          requestId,
          event: eventJson,
          deadlineMs: Date.now() + timeoutMs,
          invokedFunctionArn: this.invokedFunctionArn,
          clientContext: options.clientContext,
          identity: options.identity,
        },
        (error) => {
          // The channel closed under us: the exit handler reports the crash.
          if (error !== null) this.platform(container, `could not send the invocation: ${error.message}`);
        },
      );
    });
  }

  /** After an answer (a result or a handler error), the container serves the next invocation. */
  private keepForNext(container: Container): void {
    if (container.state !== 'busy') return;
    if (container.generation !== this.generation) {
      this.discard(container, 'the function configuration was updated');
      return;
    }
    container.state = 'idle';
    this.idle.push(container);
    this.waiting.shift()?.();
    if (this.spec.freezeWhenIdle === true) {
      container.frozen = true;
      container.child.kill('SIGSTOP');
    }
    if (this.idleTimeoutMs > 0) {
      container.idleTimer = setTimeout(() => {
        if (container.state === 'idle') this.discard(container, 'idle');
      }, this.idleTimeoutMs);
      container.idleTimer.unref();
    }
  }

  /** Ends the invocation in flight: its END and REPORT lines, then its result. */
  private complete(
    container: Container,
    invocation: Invocation,
    outcome: (report: InvocationReport) => InvokeResult,
    status: 'timeout' | 'error' | undefined,
  ): void {
    container.invocation = undefined;
    clearTimeout(invocation.timer);
    const report = this.report(container, invocation);
    this.platformEnd(container, report, status);
    invocation.resolve(outcome(report));
  }

  /** Takes a container out of service and kills its process (idempotent). */
  private discard(container: Container, reason: string): void {
    if (container.state === 'dead') return;
    container.state = 'dead';
    this.containers.delete(container);
    // A place for a new container: the oldest waiting invocation starts one.
    this.waiting.shift()?.();
    const index = this.idle.indexOf(container);
    if (index >= 0) this.idle.splice(index, 1);
    if (container.idleTimer !== undefined) clearTimeout(container.idleTimer);
    container.settleInit({ kind: 'init-error', errorType: 'Runtime.ExitError', errorMessage: reason });
    const invocation = container.invocation;
    if (invocation !== undefined) {
      container.invocation = undefined;
      clearTimeout(invocation.timer);
      invocation.resolve(crashed(invocation.requestId, container, invocation.coldStart, reason));
    }
    if (container.child.exitCode === null && container.child.signalCode === null) container.child.kill('SIGKILL');
  }

  private report(container: Container, invocation: Invocation): InvocationReport {
    return {
      requestId: invocation.requestId,
      containerId: container.id,
      coldStart: invocation.coldStart,
      initDurationMs: invocation.coldStart ? container.initDurationMs : undefined,
      startupMs: invocation.coldStart ? container.startupMs : undefined,
      durationMs: performance.now() - invocation.sentAt,
      maxMemoryUsedMb: container.maxRssKb !== undefined ? Math.ceil(container.maxRssKb / 1024) : undefined,
    };
  }

  private platformEnd(container: Container, report: InvocationReport, status: 'timeout' | 'error' | undefined): void {
    const fields = [
      `REPORT RequestId: ${report.requestId}`,
      `Duration: ${report.durationMs.toFixed(2)} ms`,
      `Billed Duration: ${String(Math.ceil(report.durationMs))} ms`,
      `Memory Size: ${String(this.spec.memoryMb)} MB`,
    ];
    if (report.maxMemoryUsedMb !== undefined) fields.push(`Max Memory Used: ${String(report.maxMemoryUsedMb)} MB`);
    if (report.initDurationMs !== undefined) fields.push(`Init Duration: ${report.initDurationMs.toFixed(2)} ms`);
    if (status !== undefined) fields.push(`Status: ${status}`);
    this.platform(container, `END RequestId: ${report.requestId}`);
    this.platform(container, fields.join('\t'));
  }

  private platform(container: Container, line: string): void {
    this.emit(container, 'platform', line);
  }

  private emit(container: Container, stream: LogEntry['stream'], line: string): void {
    try {
      this.log({ functionName: this.name, containerId: container.id, stream, line });
    } catch {
      // A failing sink must not take the pool down.
    }
  }

  private pipeLines(container: Container, stream: 'stdout' | 'stderr', readable: Readable | null): void {
    if (readable === null) return;
    let rest = '';
    readable.setEncoding('utf8');
    readable.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) this.emit(container, stream, line);
      if (rest.length > MAX_LOG_LINE) {
        this.emit(container, stream, rest);
        rest = '';
      }
    });
    readable.on('end', () => {
      if (rest !== '') this.emit(container, stream, rest);
    });
  }
}

/** The answer of a container, as the invoker sees it: a response over 6 MB is the function's error. */
function resultOf(message: Extract<ChildMessage, { readonly type: 'result' | 'error' }>, report: InvocationReport): InvokeResult {
  if (message.type === 'error') return failure('error', errorFields(message.error), report);
  if (Buffer.byteLength(message.payload) > MAX_PAYLOAD_BYTES) {
    return failure(
      'error',
      {
        errorType: 'Function.ResponseSizeTooLarge',
        errorMessage: `Response payload size exceeded maximum allowed payload size (${String(MAX_PAYLOAD_BYTES)} bytes).`,
      },
      report,
    );
  }
  return { ok: true, payload: JSON.parse(message.payload) as unknown, payloadJson: message.payload, report };
}

function errorFields(error: ErrorBody): { errorType: string; errorMessage: string; stack: readonly string[] } {
  return { errorType: error.errorType, errorMessage: error.errorMessage, stack: error.trace };
}

function failure(
  kind: FailureKind,
  error: { readonly errorType: string; readonly errorMessage: string; readonly stack?: readonly string[] },
  report?: InvocationReport,
): InvokeFailure {
  const result: InvokeFailure = { ok: false, kind, errorType: error.errorType, errorMessage: error.errorMessage, report };
  return error.stack !== undefined && error.stack.length > 0 ? { ...result, stack: error.stack } : result;
}

function crashed(requestId: string, container: Container, coldStart: boolean, reason: string): InvokeFailure {
  return failure(
    'crash',
    { errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${requestId} Error: ${reason}` },
    { requestId, containerId: container.id, coldStart, durationMs: 0 },
  );
}

function defaultLogSink(entry: LogEntry): void {
  process.stderr.write(`[${entry.functionName}#${String(entry.containerId)}] ${entry.line.replaceAll('\r', '\n  ')}\n`);
}
