/**
 * Jest resolver: Jest resolves `require` with the "require"/"default"/"node" export conditions,
 * so a package that exports only under "import" (ESM-only, e.g. @middy/core 7) is "not found".
 * When the default resolution of a bare specifier fails, try again with the "import" condition.
 * The ESM source it finds is transformed to CommonJS by @swc/jest (transformIgnorePatterns in
 * jest.config.js must let the package through).
 */
'use strict';

module.exports = function resolve(request, options) {
  try {
    return options.defaultResolver(request, options);
  } catch (err) {
    const bare = !request.startsWith('.') && !request.startsWith('/') && !request.startsWith('node:');
    const conditions = options.conditions;
    if (!bare || !Array.isArray(conditions) || conditions.includes('import')) throw err;
    try {
      return options.defaultResolver(request, { ...options, conditions: ['import', ...conditions.filter((c) => c !== 'require')] });
    } catch {
      throw err;
    }
  }
};
