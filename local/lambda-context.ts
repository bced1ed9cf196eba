/**
 * A Lambda-like runtime for one invocation: the `context` object handlers receive, and `invoke`,
 * which runs a handler with that context and a timeout, the way the Lambda runtime does.
 */
import { randomUUID } from 'node:crypto';
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
  const run = new Promise<TResult>((resolve, reject) => {
    const callback = (error?: Error | string | null, result?: TResult): void => {
      if (error) reject(toError(error));
      else resolve(result as TResult);
    };
    try {
      const returned = handler(event, context, callback);
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
