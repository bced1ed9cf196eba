/**
 * Loads handlers by their route-table `entry` (a path relative to the repository root) with a
 * dynamic import, as the local stack does for every route. Each module exports `handler`.
 */
import path from 'node:path';
import { installEsmOnlyFallback } from './esm-fallback';
import type { LambdaHandler } from './lambda-context';

/** A handler as loaded: its event and result types are the route's business, not the loader's. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LoadedHandler = LambdaHandler<any, any>;

/** Loads the handler of an `entry`. The fronts take one, so tests can map entries to fixtures. */
export type HandlerLoader = (entry: string) => Promise<LoadedHandler>;

/** The repository root (this file lives in <root>/local). */
export const REPO_ROOT = path.resolve(__dirname, '..');

/** Imports `<root>/<entry>` once and returns its `handler` export. */
export function createHandlerLoader(root: string = REPO_ROOT): HandlerLoader {
  installEsmOnlyFallback();
  const loaded = new Map<string, Promise<LoadedHandler>>();
  return (entry) => {
    let handler = loaded.get(entry);
    if (handler === undefined) {
      handler = importHandler(path.resolve(root, entry), entry);
      // A failed import is retried next time (the developer may be fixing the file).
      handler.catch(() => loaded.delete(entry));
      loaded.set(entry, handler);
    }
    return handler;
  };
}

async function importHandler(file: string, entry: string): Promise<LoadedHandler> {
  const mod = (await import(file)) as { handler?: unknown; default?: { handler?: unknown } };
  const handler = mod.handler ?? mod.default?.handler;
  if (typeof handler !== 'function') throw new Error(`${entry} does not export a function named handler`);
  return handler as LoadedHandler;
}
