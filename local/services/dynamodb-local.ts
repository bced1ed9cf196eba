/**
 * DynamoDB Local (the jar shipped in the amplify-dynamodb-simulator package) as a child process,
 * for tests and the local stack. Runs with -sharedDb, so every region and every credential sees
 * the same tables (without it DynamoDB Local keeps one database per access key and region).
 * Needs a Java runtime (17+) on PATH or in JAVA_HOME.
 */
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep } from '../../functions/shared/retry';
import { findExecutable, releaseOnExit, removeOnExit, spawnManaged, tail, type ManagedChild } from './child';
import { freePort } from './free-port';

const JAVA_INSTALL_HINT = 'Install a Java runtime with: apt-get install -y openjdk-17-jre-headless (Debian/Ubuntu)';
const DEFAULT_START_TIMEOUT_MS = 60_000;

export interface DynamoDbLocal {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly port: number;
  /** SIGTERM, SIGKILL after a grace period; resolves once the process has exited. */
  stop(): Promise<void>;
}

export interface DynamoDbLocalOptions {
  /** Default: a free port. */
  port?: number;
  /** Persist the database in this directory (created if missing). Default: in memory. */
  dbPath?: string;
  /** Default 60 s (a cold JVM on a loaded 2-core machine can be slow). */
  startTimeoutMs?: number;
}

/** The directory holding DynamoDBLocal.jar and DynamoDBLocal_lib. */
export function dynamoDbLocalDir(): string {
  return path.join(path.dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
}

/** A client for DynamoDB Local: fake credentials (letters and digits only, as DynamoDB Local requires). */
/**
 * The DynamoDB request timeout of anything that talks to DynamoDB Local (the local stack's
 * functions, the tests). The functions' default, 1 s, is for DynamoDB; DynamoDB Local is a JVM on
 * the same CPU that runs transactions one at a time: on a loaded 2-core machine (load 24), 21 of 50
 * concurrent order transactions took longer than 1 s and came back 503 though nothing was wrong.
 */
export const LOCAL_DYNAMODB_TIMEOUT_MS = 5000;

export function localDynamoDbClient(endpoint: string, options: { maxAttempts?: number; timeoutMs?: number } = {}): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: options.maxAttempts ?? 3,
    requestHandler: {
      requestTimeout: options.timeoutMs ?? LOCAL_DYNAMODB_TIMEOUT_MS,
      connectionTimeout: options.timeoutMs ?? LOCAL_DYNAMODB_TIMEOUT_MS,
    },
  });
}

function findJava(): string {
  const javaHome = process.env.JAVA_HOME;
  if (javaHome) {
    const candidate = findExecutable(path.join(javaHome, 'bin', 'java'));
    if (candidate) return candidate;
  }
  const java = findExecutable('java');
  if (java === undefined) throw new Error(`java not found on PATH: DynamoDB Local needs a Java runtime (17+). ${JAVA_INSTALL_HINT}`);
  return java;
}

class AddressInUseError extends Error {}

async function launch(
  java: string,
  dir: string,
  port: number,
  dbPath: string | undefined,
  cwd: string,
  timeoutMs: number,
): Promise<ManagedChild> {
  const args = [
    // Faster JVM start; the emulator's throughput is not what tests measure.
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    `-Djava.library.path=${path.join(dir, 'DynamoDBLocal_lib')}`,
    '-jar',
    path.join(dir, 'DynamoDBLocal.jar'),
    ...(dbPath === undefined ? ['-inMemory'] : ['-dbPath', dbPath]),
    '-sharedDb',
    '-disableTelemetry',
    '-port',
    String(port),
  ];
  const child = spawnManaged(java, args, { cwd });
  const client = localDynamoDbClient(`http://127.0.0.1:${port}`, { maxAttempts: 1, timeoutMs: 2000 });
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  try {
    while (true) {
      const spawnError = child.spawnError();
      if (spawnError) throw new Error(`could not start ${java}: ${spawnError.message}. ${JAVA_INSTALL_HINT}`);
      const exit = child.exitInfo();
      // A failed bind does not end the JVM (a non-daemon thread lives on): watch for the exception.
      const crashed = /Exception in thread "main"/.test(child.output());
      if (exit !== undefined || crashed) {
        if (exit === undefined) await child.terminate('SIGKILL');
        const how = exit === undefined ? 'failed' : `exited (code ${exit.code}, signal ${exit.signal})`;
        const message = `DynamoDB Local on port ${port} ${how} during startup. stderr:\n${tail(child.stderr())}\noutput:\n${tail(child.output())}`;
        if (/address already in use|BindException|Failed to bind/i.test(child.output())) throw new AddressInUseError(message);
        throw new Error(message);
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return child;
      } catch (err) {
        lastError = `${(err as Error).name}: ${(err as Error).message}`;
      }
      if (Date.now() > deadline) {
        await child.terminate('SIGKILL');
        throw new Error(
          `DynamoDB Local on port ${port} did not answer ListTables within ${timeoutMs} ms (last error: ${lastError}). stderr:\n${tail(child.stderr())}\noutput:\n${tail(child.output())}`,
        );
      }
      await sleep(50);
    }
  } finally {
    client.destroy();
  }
}

export async function startDynamoDbLocal(opts: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const java = findJava();
  const dir = dynamoDbLocalDir();
  if (!fs.existsSync(path.join(dir, 'DynamoDBLocal.jar'))) {
    throw new Error(`DynamoDBLocal.jar not found in ${dir}: run npm ci (the devDependency amplify-dynamodb-simulator ships it)`);
  }
  let dbPath: string | undefined;
  if (opts.dbPath !== undefined) {
    dbPath = path.resolve(opts.dbPath);
    await fs.promises.mkdir(dbPath, { recursive: true });
  }
  // DynamoDB Local writes dynamodb-local-metadata.json into its working directory even in memory:
  // give it a temp dir rather than the package directory or the caller's.
  const workDir = dbPath ?? (await fs.promises.mkdtemp(path.join(os.tmpdir(), 'shop-edge-dynamodb-')));
  if (dbPath === undefined) removeOnExit(workDir);
  const removeWorkDir = async (): Promise<void> => {
    if (dbPath !== undefined) return;
    await fs.promises.rm(workDir, { recursive: true, force: true });
    releaseOnExit(workDir);
  };
  const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  let port = opts.port ?? (await freePort());
  let child: ManagedChild | undefined;
  for (let attempt = 1; child === undefined; attempt++) {
    try {
      child = await launch(java, dir, port, dbPath, workDir, timeoutMs);
    } catch (err) {
      if (err instanceof AddressInUseError && opts.port === undefined && attempt < 5) {
        port = await freePort();
        continue;
      }
      await removeWorkDir();
      throw err;
    }
  }
  const running = child;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      await running.terminate('SIGTERM', 5000);
      await removeWorkDir();
    },
  };
}
