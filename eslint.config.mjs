import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // Generated, vendored and plain-JS files (config files, the jest resolver) are not type-checked.
  {
    ignores: [
      'node_modules/',
      'cdk.out/',
      'cdk.out.local/',
      'coverage/',
      'dist/',
      'client/dist/',
      'bench/results/',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      // Type information from the nearest tsconfig.json of each file that lists it: functions/,
      // client/ and web/ (the page) have their own, with their own globals (no DOM in functions/,
      // no Node in the page and the client); every other file is in the root tsconfig.json.
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // `while (true)` loops with a break inside are the clearest form of a retry or poll loop
      // (the literal only: `while (flag)` with a flag that can never change is still reported).
      'no-constant-condition': ['error', { checkLoops: false }],
      '@typescript-eslint/no-unnecessary-condition': ['error', { allowConstantLoopConditions: 'only-allowed-literals' }],
      // A switch over a union must name every member, so a new message type or status cannot be
      // forgotten silently; a `default` does not count as handling the members it swallows.
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: false, requireDefaultForNonUnion: false, allowDefaultCaseForExhaustiveSwitch: true },
      ],
      // Numbers and booleans print as one expects in a template; objects, undefined and null do not.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `() => resolve()`: an arrow shorthand whose body is a void call is plainly a statement.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
    },
  },
  {
    // Tests and benchmarks read JSON bodies (and SDK answers) of many shapes: typing each one would
    // add casts, not safety, since the assertions themselves check the shapes.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
