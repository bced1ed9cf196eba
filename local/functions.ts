/**
 * A function as the local fronts and pollers call it: by name, one invocation at a time per call,
 * with its timeout. In the source mode it runs in this process from its entry (local/handlers.ts);
 * in the as-deployed mode, in a container of its own from the synthesized bundle.
 */
import type { LoadedHandler } from './handlers';
import { invoke } from './lambda-context';

export interface LocalFunction {
  /** What logs and errors call it (the route's name, or the deployed function name). */
  readonly name: string;
  readonly timeoutMs: number;
  /**
   * One invocation. Resolves with what the handler returned; rejects with a LambdaTimeoutError
   * past the timeout, or with the handler's (or its runtime's) error.
   */
  invoke(event: unknown): Promise<unknown>;
}

/** A function loaded in this process from its handler module (the source mode). */
export function inProcessFunction(name: string, load: () => Promise<LoadedHandler>, timeoutMs: number): LocalFunction {
  return {
    name,
    timeoutMs,
    invoke: async (event): Promise<unknown> => invoke<unknown, unknown>(await load(), event, { functionName: name, timeoutMs }),
  };
}
