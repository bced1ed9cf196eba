/**
 * A Lambda-like runtime for one invocation: the `context` object handlers receive, and `invoke`,
 * which runs a handler with that context and a timeout, the way the Lambda runtime does.
 *
 * Every function of the local stack runs in this one process, sharing modules, so the Powertools
 * Logger of functions/shared/observability.ts is one instance for all of them. Invocations are
 * therefore run the way Lambda runs concurrent invocations in one execution environment: each in
 * its own InvokeStore context (AWS_LAMBDA_MAX_CONCURRENCY set), where Powertools keeps the Lambda
 * context, keys and log level of that invocation only; so every log line names the function and
 * request that wrote it, however invocations interleave.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store';
import type { Context } from 'aws-lambda';
import { DEFAULT_REGION, LOCAL_ACCOUNT_ID } from './dev-defaults';

/** Any Lambda handler: async (event, context) or callback-style (event, context, callback). */
export type LambdaHandler<TEvent = unknown, TResult = unknown> = (
  event: TEvent,
  context: Context,
  callback: (error?: Error | string | null, result?: TResult) => void,
  // eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- as aws-lambda's Handler: a callback-style handler returns void
) => Promise<TResult> | TResult | void;

export interface FunctionSettings {
  /** Logical function name (the route's `name`), prefixed with `shop-edge-local-` in the ARN. */
  readonly functionName: string;
  /** @default 10_000 (ms), like a short API function */
  readonly timeoutMs?: number;
  /** @default 256 */
  readonly memoryLimitInMB?: number;
}

export function createLambdaContext(settings: FunctionSettings, deadline = Date.now() + (settings.timeoutMs ?? 10_000)): Context {
  const region = process.env.AWS_REGION || DEFAULT_REGION;
  const functionName = `shop-edge-local-${settings.functionName}`;
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const fail = (): never => {
    throw new Error('context.done/succeed/fail are not supported: return a value or a promise');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${LOCAL_ACCOUNT_ID}:function:${functionName}`,
    memoryLimitInMB: String(settings.memoryLimitInMB ?? 256),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${day}/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    /* eslint-disable @typescript-eslint/no-deprecated -- Context still declares them; they throw */
    done: fail,
    fail,
    succeed: fail,
    /* eslint-enable @typescript-eslint/no-deprecated */
  };
}

type InvocationData = Record<string | symbol, unknown>;

/**
 * The store the Lambda runtime installs as `awslambda.InvokeStore` when invocations may run
 * concurrently: one context per invocation, on AsyncLocalStorage. Not the package's own: that one
 * is created asynchronously, and only when no store is installed yet, while an AWS SDK call made
 * before the first invocation installs the single-context store.
 */
class ConcurrentInvokeStore extends InvokeStoreBase {
  private readonly storage = new AsyncLocalStorage<InvocationData>();

  getContext(): InvocationData | undefined {
    return this.storage.getStore();
  }

  hasContext(): boolean {
    return this.storage.getStore() !== undefined;
  }

  // The signature of InvokeStoreBase.get: the caller names the type it stored.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  get<T = unknown>(key: string | symbol): T | undefined {
    return this.storage.getStore()?.[key] as T | undefined;
  }

  set(key: string | symbol, value: unknown): void {
    if (this.isProtectedKey(key)) throw new Error(`Cannot modify protected Lambda context field: ${String(key)}`);
    const data = this.storage.getStore();
    if (data === undefined) throw new Error('No context available');
    data[key] = value;
  }

  run<T>(data: InvocationData, fn: () => T): T {
    return this.storage.run(data, fn);
  }
}

let installed: ConcurrentInvokeStore | undefined;

/** Installs the concurrent store, once per process, and returns it. */
function invokeStore(): ConcurrentInvokeStore {
  const runtime = ((globalThis as { awslambda?: { InvokeStore?: unknown } }).awslambda ??= {});
  if (installed === undefined || runtime.InvokeStore !== installed) {
    installed = new ConcurrentInvokeStore();
    runtime.InvokeStore = installed;
    // Whoever asks the package for a store from now on (the AWS SDK, on every request) gets this
    // one. Left to itself once AWS_LAMBDA_MAX_CONCURRENCY is set, it would create its own with a
    // dynamic import of node:async_hooks, which Jest refuses: every SDK call would then fail.
    InvokeStore.getInstanceAsync().catch(() => undefined);
  }
  // What tells Powertools that invocations share the environment; any value will do.
  process.env.AWS_LAMBDA_MAX_CONCURRENCY ||= '64';
  return installed;
}

/** The invocation ran past its timeout (Lambda: "Task timed out after N seconds"). */
export class LambdaTimeoutError extends Error {
  constructor(functionName: string, timeoutMs: number) {
    super(`${functionName}: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`);
    this.name = 'LambdaTimeoutError';
  }
}

/**
 * Runs one invocation: a fresh context, the handler's promise or callback, and the timeout.
 * Rejects with the handler's error (or a LambdaTimeoutError); a thrown non-Error is wrapped.
 */
export async function invoke<TEvent, TResult>(
  handler: LambdaHandler<TEvent, TResult>,
  event: TEvent,
  settings: FunctionSettings,
): Promise<TResult> {
  const timeoutMs = settings.timeoutMs ?? 10_000;
  const context = createLambdaContext(settings, Date.now() + timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  const invocation = { [InvokeStoreBase.PROTECTED_KEYS.REQUEST_ID]: context.awsRequestId };
  const run = new Promise<TResult>((resolve, reject) => {
    const callback = (error?: Error | string | null, result?: TResult): void => {
      if (error) reject(toError(error));
      else resolve(result as TResult);
    };
    try {
      const returned = invokeStore().run(invocation, () => handler(event, context, callback));
      // A handler of arity 3 may answer through the callback; anything else answers by its return.
      if (returned !== undefined || handler.length < 3) Promise.resolve(returned as TResult).then(resolve, reject);
    } catch (error) {
      reject(toError(error));
    }
  });
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LambdaTimeoutError(context.functionName, timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([run, timeout]);
  } catch (error) {
    throw toError(error); // a promise the handler returned may reject with anything
  } finally {
    clearTimeout(timer);
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(typeof error === 'string' ? error : JSON.stringify(error));
}
