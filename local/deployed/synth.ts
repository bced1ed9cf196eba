/**
 * Synthesizes the app for the as-deployed mode, offline, with the CDK CLI exactly as `npm run synth`
 * does (same cdk.json, local esbuild bundling, cdk-nag), into its own output directory, and reuses
 * that assembly while none of its inputs has changed: the sources it bundles and builds from, the
 * CDK configuration and the installed packages.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../handlers';

/** Everything a synth reads besides node_modules (whose state package-lock.json stands for). */
const INPUTS = ['bin', 'lib', 'functions', 'web', 'client/src', 'cdk.json', 'package-lock.json', 'tsconfig.json'];
const STAMP = '.shop-edge-inputs';

export interface SynthOptions {
  /** cdk.json context environment. @default dev */
  readonly envName?: string;
  /** @default <repo>/cdk.out.local/<envName> */
  readonly outdir?: string;
  /** Synthesize even when the inputs have not changed. @default false */
  readonly force?: boolean;
  /** @default 180 s */
  readonly timeoutMs?: number;
}

export interface SynthResult {
  readonly directory: string;
  /** False when an earlier synth with the same inputs was reused. */
  readonly synthesized: boolean;
  readonly durationMs: number;
}

export async function synthesizeApp(options: SynthOptions = {}): Promise<SynthResult> {
  const started = Date.now();
  const envName = options.envName ?? 'dev';
  const directory = options.outdir ?? path.join(REPO_ROOT, 'cdk.out.local', envName);
  const stamp = `${envName}\n${inputsDigest()}`;
  const stampFile = path.join(directory, STAMP);
  if (options.force !== true && fs.existsSync(path.join(directory, 'manifest.json')) && readIfExists(stampFile) === stamp) {
    return { directory, synthesized: false, durationMs: Date.now() - started };
  }
  // Synthesize next to the directory and swap it in whole: a process reading the old assembly (a
  // test worker, a running stack) never sees a half-written one, and two synths at once each write
  // their own directory (the last swap wins; both are complete).
  const staging = `${directory}.synth-${process.pid}-${Date.now().toString(36)}`;
  await fs.promises.mkdir(path.dirname(directory), { recursive: true });
  const cdk = path.join(REPO_ROOT, 'node_modules', '.bin', 'cdk');
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(
        cdk,
        ['synth', '--quiet', '--context', `env=${envName}`, '--output', staging, '--no-notices', '--no-version-reporting'],
        { cwd: REPO_ROOT, timeout: options.timeoutMs ?? 180_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, CI: 'true' } },
        (error, stdout, stderr) => {
          if (error) reject(new Error(`cdk synth failed: ${error.message}\n${stderr || stdout}`));
          else resolve();
        },
      );
    });
    await fs.promises.writeFile(path.join(staging, STAMP), stamp);
    const retired = `${directory}.old-${process.pid}-${Date.now().toString(36)}`;
    await fs.promises.rename(directory, retired).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    });
    try {
      await fs.promises.rename(staging, directory);
    } catch (error) {
      // Another synth swapped its own in between: that one is as complete as this one.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      await fs.promises.rm(staging, { recursive: true, force: true });
    }
    await fs.promises.rm(retired, { recursive: true, force: true });
  } catch (error) {
    await fs.promises.rm(staging, { recursive: true, force: true });
    throw error;
  }
  return { directory, synthesized: true, durationMs: Date.now() - started };
}

/** A digest of every input file's path and contents. */
function inputsDigest(): string {
  const hash = createHash('sha256');
  const visit = (relative: string): void => {
    const full = path.join(REPO_ROOT, relative);
    const stat = fs.statSync(full, { throwIfNoEntry: false });
    if (stat === undefined) return;
    if (stat.isDirectory()) {
      for (const entry of fs.readdirSync(full).sort()) {
        if (entry === 'node_modules' || entry === 'dist' || entry.startsWith('.')) continue;
        visit(path.join(relative, entry));
      }
      return;
    }
    hash.update(relative).update('\0').update(fs.readFileSync(full)).update('\0');
  };
  for (const input of INPUTS) visit(input);
  return hash.digest('hex');
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
