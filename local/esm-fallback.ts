/**
 * Lets `require` (what tsx compiles the handlers' imports to, the package being CommonJS) load
 * ESM-only packages such as @middy/core 7, whose exports have only an "import" condition: when
 * a bare specifier does not resolve, try again with the "import" condition; Node 22.12+ then
 * loads the ES module through require(esm). The same fallback as test/harness/resolver.js.
 */
import module from 'node:module';

let installed = false;

export function installEsmOnlyFallback(): void {
  if (installed) return;
  installed = true;
  const register = (module as unknown as { registerHooks?: (hooks: { resolve: ResolveHook }) => unknown }).registerHooks;
  if (typeof register !== 'function') return; // Node < 22.15: nothing to do, the import fails as before
  try {
    registerFallback(register);
  } catch {
    // Jest refuses module hooks; its resolver (test/harness/resolver.js) does the same job there.
  }
}

function registerFallback(register: (hooks: { resolve: ResolveHook }) => unknown): void {
  register({
    resolve(specifier, context, nextResolve) {
      try {
        return nextResolve(specifier, context);
      } catch (error) {
        const bare =
          !specifier.startsWith('.') && !specifier.startsWith('/') && !specifier.startsWith('node:') && !specifier.startsWith('file:');
        const conditions = [...(context.conditions ?? [])];
        if (!bare || conditions.includes('import') || (error as { code?: string }).code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw error;
        try {
          return nextResolve(specifier, { ...context, conditions: ['import', ...conditions.filter((c) => c !== 'require')] });
        } catch {
          throw error;
        }
      }
    },
  });
}

interface ResolveContext {
  conditions?: readonly string[];
  [key: string]: unknown;
}
type ResolveResult = { url: string; format?: string | null; shortCircuit?: boolean };
type ResolveHook = (
  specifier: string,
  context: ResolveContext,
  nextResolve: (specifier: string, context?: ResolveContext) => ResolveResult,
) => ResolveResult;
