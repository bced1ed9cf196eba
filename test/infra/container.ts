/**
 * Runs a function's code with the environment its template gives it, as a fresh Lambda container
 * would: process.env is exactly the function's Environment.Variables (values the template computes,
 * such as table names or the cache endpoint, replaced by local ones, named by variable), plus what
 * the Lambda runtime sets (region, role credentials) and the routes to local endpoints that stand
 * for AWS's (AWS_ENDPOINT_URL_<SERVICE>, read by the SDK itself, never by our code). Modules are
 * loaded afresh, so every per-container singleton (config, clients, services) starts empty.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { resourceNamed } from './support';

/** A template's Environment.Variables of one function: literal strings, or intrinsics (Ref, Fn::Join, Fn::ImportValue...). */
export function templateVariables(template: Template, functionName: string): Record<string, unknown> {
  const props = resourceNamed(template, 'AWS::Lambda::Function', functionName).Properties;
  return (props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
}

/**
 * The variables with every computed value replaced by `local[name]`; a local value of a variable
 * the template does not set is not used (a test cannot add what the function would not get).
 * Throws when a computed value has no local stand-in.
 */
export function resolveVariables(variables: Record<string, unknown>, local: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(variables)) {
    if (typeof value === 'string') {
      out[name] = local[name] ?? value;
      continue;
    }
    const replacement = local[name];
    if (replacement === undefined) throw new Error(`${name} is computed by the template (${JSON.stringify(value)}): give it a local value`);
    out[name] = replacement;
  }
  return out;
}

/** What Lambda's runtime adds to a function's environment (the role session's credentials among them). */
export interface LambdaRuntime {
  readonly functionName: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** AWS_ENDPOINT_URL_<SERVICE> → local endpoint (the network's route to the service). */
  readonly endpoints?: Readonly<Record<string, string>>;
}

export function runtimeVariables(runtime: LambdaRuntime): Record<string, string> {
  return {
    AWS_REGION: runtime.region,
    AWS_DEFAULT_REGION: runtime.region,
    AWS_LAMBDA_FUNCTION_NAME: runtime.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_ACCESS_KEY_ID: runtime.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: runtime.credentials.secretAccessKey,
    ...(runtime.credentials.sessionToken === undefined ? {} : { AWS_SESSION_TOKEN: runtime.credentials.sessionToken }),
    ...Object.fromEntries(Object.entries(runtime.endpoints ?? {}).map(([service, url]) => [`AWS_ENDPOINT_URL_${service}`, url])),
  };
}

export interface Container {
  /** Imports a module (path relative to the repository root) inside this container. */
  readonly load: <T>(modulePath: string) => Promise<T>;
  /** Everything written to stdout and stderr so far (the function's logs, one line each). */
  readonly logs: () => string[];
}

/**
 * Runs `body` in a fresh module registry with process.env replaced by exactly `env`; restores the
 * test's environment afterwards. stdout and stderr are captured (the function's logs) instead of printed.
 */
export async function inContainer<T>(env: Record<string, string>, body: (container: Container) => Promise<T>): Promise<T> {
  const saved = process.env;
  const lines: string[] = [];
  const capture = (chunk: string | Uint8Array): boolean => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  };
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  process.env = { ...env };
  let result: T | undefined;
  try {
    await jest.isolateModulesAsync(async () => {
      result = await body({
        load: async <M>(modulePath: string) => (await import(`../../${modulePath}`)) as M,
        logs: () => [...lines],
      });
    });
  } finally {
    process.env = saved;
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return result as T;
}
