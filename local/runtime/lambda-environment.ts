/**
 * The environment variables of one Lambda execution environment: what the Lambda service sets,
 * then exactly the function's `Environment.Variables`, then the network-level endpoints the
 * caller adds. Nothing comes from the parent process.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';

/** Keys Lambda sets itself; a function configuration setting one is refused at deploy time. */
export const RESERVED_VARIABLES: ReadonlySet<string> = new Set([
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_DEFAULT_REGION',
  'AWS_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
  'TZ',
]);

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** The function's LoggingConfig (AWS::Lambda::Function LoggingConfig). */
export interface LoggingConfig {
  /** @default 'Text' */
  readonly format?: 'Text' | 'JSON';
  /** JSON format only: the level below which console.* calls are dropped. @default 'INFO' */
  readonly applicationLogLevel?: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';
}

/** Where the sandbox of a function lives on disk (see sandbox.ts). */
export interface SandboxPaths {
  readonly root: string;
  readonly taskRoot: string;
  readonly runtimeDir: string;
}

export interface EnvironmentInput {
  readonly functionName: string;
  readonly handler: string;
  /** e.g. 'nodejs24.x' */
  readonly runtime: string;
  readonly memoryMb: number;
  readonly region: string;
  readonly credentials: AwsCredentials;
  readonly environment: Readonly<Record<string, string>>;
  readonly serviceEndpoints: Readonly<Record<string, string>>;
  readonly logging: LoggingConfig;
  readonly sandbox: SandboxPaths;
}

/** Throws as a deploy would, for a configuration Lambda refuses. */
export function validateEnvironment(
  environment: Readonly<Record<string, string>>,
  serviceEndpoints: Readonly<Record<string, string>>,
): void {
  const reserved = Object.keys(environment).filter((key) => RESERVED_VARIABLES.has(key));
  if (reserved.length > 0) {
    throw new Error(`the environment sets reserved keys Lambda refuses to configure: ${reserved.join(', ')}`);
  }
  for (const key of Object.keys(serviceEndpoints)) {
    if (RESERVED_VARIABLES.has(key)) throw new Error(`serviceEndpoints: ${key} is a reserved Lambda variable`);
    if (key in environment) throw new Error(`serviceEndpoints: ${key} is also in the function's own environment`);
  }
}

/**
 * The complete environment of one container. Each container has its own log stream, as each
 * Lambda execution environment has.
 */
export function lambdaEnvironment(input: EnvironmentInput): Record<string, string> {
  validateEnvironment(input.environment, input.serviceEndpoints);
  const { sandbox } = input;
  const nodeMajor = /^nodejs(\d+)\.x$/.exec(input.runtime)?.[1] ?? '24';
  const opt = path.join(sandbox.root, 'opt');
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const logging: Record<string, string> =
    input.logging.format === 'JSON'
      ? { AWS_LAMBDA_LOG_FORMAT: 'JSON', AWS_LAMBDA_LOG_LEVEL: input.logging.applicationLogLevel ?? 'INFO' }
      : {};
  const credentials: Record<string, string> = {
    AWS_ACCESS_KEY_ID: input.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: input.credentials.secretAccessKey,
  };
  if (input.credentials.sessionToken !== undefined) credentials.AWS_SESSION_TOKEN = input.credentials.sessionToken;
  return {
    // Unreserved: the function's configuration may override them.
    PATH: '/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin',
    LANG: 'en_US.UTF-8',
    NODE_PATH: [
      path.join(opt, 'nodejs', `node${nodeMajor}`, 'node_modules'),
      path.join(opt, 'nodejs', 'node_modules'),
      path.join(sandbox.runtimeDir, 'node_modules'),
      sandbox.runtimeDir,
      sandbox.taskRoot,
    ].join(':'),
    ...input.environment,
    ...logging,
    // Reserved: Lambda's, whatever the configuration says (validateEnvironment refused overrides).
    _HANDLER: input.handler,
    AWS_REGION: input.region,
    AWS_DEFAULT_REGION: input.region,
    AWS_EXECUTION_ENV: `AWS_Lambda_${input.runtime}`,
    AWS_LAMBDA_FUNCTION_NAME: input.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(input.memoryMb),
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${input.functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    LAMBDA_TASK_ROOT: sandbox.taskRoot,
    LAMBDA_RUNTIME_DIR: sandbox.runtimeDir,
    TZ: ':UTC',
    ...credentials,
    // What DNS would resolve for the real service endpoints: the network's, not the function's.
    ...input.serviceEndpoints,
  };
}
