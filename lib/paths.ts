/** Paths the infrastructure resolves against: the repository root holds functions/ and the lock file. */
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..');

/** Absolute path of a handler module given relative to the repository root (as in functions/routes.ts). */
export function entryPath(entry: string): string {
  return path.join(REPO_ROOT, entry);
}
