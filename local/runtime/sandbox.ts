/**
 * The file system of a function, laid out like Lambda's, outside the project tree:
 *
 *   <root>/var/task/                  a read-only copy of the bundle (LAMBDA_TASK_ROOT, the working directory)
 *   <root>/var/runtime/               bootstrap.js, network-guard.js (LAMBDA_RUNTIME_DIR)
 *   <root>/var/runtime/node_modules/  the runtime-provided packages: symlinks to the project's copies
 *   <root>/node_modules -> var/runtime/node_modules
 *
 * Node looks for packages in every ancestor's node_modules, so a bundle copied next to cdk.out
 * would find the project's own node_modules; here its only ancestor node_modules is <root>'s,
 * which holds the runtime-provided packages alone, and both require() and import() find them
 * there (NODE_PATH serves require only). A package behind a symlink resolves to its real path, so
 * the SDK's own dependencies resolve as usual. Any other package the bundle left external fails
 * with Cannot find module, as on Lambda.
 */
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { SandboxPaths } from './lambda-environment';

/** Where the packages Lambda's runtime provides come from. */
export interface RuntimePackages {
  /** The node_modules directory holding them. @default the project's node_modules */
  readonly nodeModulesDir?: string;
  /** Package names, or `@scope/*` for every package of a scope. @default ['@aws-sdk/*'] */
  readonly packages?: readonly string[];
}

export interface Sandbox extends SandboxPaths {
  readonly bootstrapFile: string;
  readonly networkGuardFile: string;
  /** The runtime-provided package names linked into the runtime's node_modules. */
  readonly providedPackages: readonly string[];
  remove(): Promise<void>;
}

const PROJECT_NODE_MODULES = path.resolve(__dirname, '..', '..', 'node_modules');

/** The default parent of every sandbox. */
export const DEFAULT_SANDBOX_BASE = path.join(os.tmpdir(), 'shop-edge-lambda');

export async function createSandbox(options: {
  readonly functionName: string;
  readonly codeDir: string;
  readonly baseDir?: string;
  readonly runtimePackages?: RuntimePackages;
}): Promise<Sandbox> {
  const base = path.resolve(options.baseDir ?? DEFAULT_SANDBOX_BASE);
  assertNoAncestorNodeModules(base);
  if (!(await stat(options.codeDir)).isDirectory()) throw new Error(`${options.codeDir} is not a directory`);
  await mkdir(base, { recursive: true });
  const root = await mkdtemp(path.join(base, `${options.functionName.replace(/[^A-Za-z0-9_.-]/g, '_')}-`));
  const taskRoot = path.join(root, 'var', 'task');
  const runtimeDir = path.join(root, 'var', 'runtime');
  const runtimeModules = path.join(runtimeDir, 'node_modules');
  try {
    await cp(options.codeDir, taskRoot, { recursive: true, dereference: true });
    await makeReadOnly(taskRoot);
    await mkdir(runtimeModules, { recursive: true });
    const bootstrapFile = path.join(runtimeDir, 'bootstrap.js');
    const networkGuardFile = path.join(runtimeDir, 'network-guard.js');
    await cp(path.join(__dirname, 'bootstrap.js'), bootstrapFile);
    await cp(path.join(__dirname, 'network-guard.js'), networkGuardFile);
    // The runtime's own files are CommonJS whatever a package.json above <root> might say.
    await writeFile(path.join(runtimeDir, 'package.json'), '{ "type": "commonjs" }\n');
    const providedPackages = await linkRuntimePackages(runtimeModules, options.runtimePackages ?? {});
    await symlink(path.join('var', 'runtime', 'node_modules'), path.join(root, 'node_modules'), 'dir');
    return {
      root,
      taskRoot,
      runtimeDir,
      bootstrapFile,
      networkGuardFile,
      providedPackages,
      remove: () => removeSandbox(root, taskRoot),
    };
  } catch (error) {
    await removeSandbox(root, taskRoot);
    throw error;
  }
}

async function linkRuntimePackages(target: string, spec: RuntimePackages): Promise<string[]> {
  const from = path.resolve(spec.nodeModulesDir ?? PROJECT_NODE_MODULES);
  const names: string[] = [];
  for (const pattern of spec.packages ?? ['@aws-sdk/*']) {
    if (pattern.endsWith('/*')) {
      const scope = pattern.slice(0, -2);
      const scopeDir = path.join(from, scope);
      if (!existsSync(scopeDir)) continue;
      for (const entry of await readdir(scopeDir)) names.push(`${scope}/${entry}`);
    } else {
      if (!existsSync(path.join(from, pattern))) throw new Error(`runtime package ${pattern} is not in ${from}`);
      names.push(pattern);
    }
  }
  for (const name of names) {
    const link = path.join(target, name);
    await mkdir(path.dirname(link), { recursive: true });
    await symlink(path.join(from, name), link, 'dir');
  }
  return names;
}

/** A node_modules above the sandbox would be visible to every function's module resolution. */
function assertNoAncestorNodeModules(base: string): void {
  for (let dir = base; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules');
    if (existsSync(candidate)) {
      throw new Error(
        `${candidate} exists: functions in ${base} would resolve packages from it; choose a sandbox directory outside any project`,
      );
    }
    if (path.dirname(dir) === dir) return;
  }
}

/** Lambda's /var/task is read-only. */
async function makeReadOnly(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await makeReadOnly(full);
    else await chmod(full, 0o444);
  }
  await chmod(dir, 0o555);
}

async function makeWritable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await makeWritable(path.join(dir, entry.name));
  }
}

async function removeSandbox(root: string, taskRoot: string): Promise<void> {
  if (existsSync(taskRoot)) await makeWritable(taskRoot).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
}
