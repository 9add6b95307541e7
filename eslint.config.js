// @ts-check
/**
 * Lint rules, flat config. Beyond the recommended sets, the architecture is written as rules:
 * shared/ is the contract and imports neither gateway/ nor providers/; providers/ never import
 * gateway/ (they reach it only over the protocol); the command line (bin/client/) uses the public
 * API only, and so does the web dashboard (gateway/dashboard/src/, browser code); and no module
 * takes part in an import cycle.
 */
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** A no-restricted-imports rule that keeps one layer from importing others. */
const layer = (message, ...groups) => ({
  'no-restricted-imports': ['error', { patterns: groups.map((group) => ({ group, message })) }],
});

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'coverage/',
      'deploy/helm/',
      '**/*.d.ts',
      'gateway/graphql/schema-types.ts',
      'gateway/dashboard/src/gql/',
      'gateway/dashboard/dist/',
      'test-artifacts/',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2023, sourceType: 'module' },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [
        createTypeScriptImportResolver({ project: ['./tsconfig.json', './gateway/dashboard/tsconfig.json'], noWarnOnMultipleProjects: true }),
      ],
      // no-cycle parses the modules it follows: with TypeScript's parser, not espree.
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      'import-x/extensions': ['.ts', '.tsx', '.js'],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-self-import': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // The sessions' pages run in the browser, not in Node.
    files: ['gateway/pages/browser/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // The web dashboard runs in the browser and, like the command line, uses the public API only.
    files: ['gateway/dashboard/src/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.flat.recommended.rules,
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './gateway/dashboard/src',
              from: '.',
              except: ['./gateway/dashboard/src', './node_modules'],
              message: 'The dashboard uses the public API only (GraphQL, the session URLs): no gateway, provider or shared modules.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['shared/**/*.ts'],
    rules: layer('shared/ is the contract between gateway and providers: it imports neither.', ['**/gateway/**', '**/providers/**']),
  },
  {
    // Tests cross the parts on purpose (a provider's subschema stitched by the gateway).
    files: ['providers/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: layer('A provider reaches the gateway only over the protocol in shared/; it never imports gateway/.', ['**/gateway/**']),
  },
  {
    // A plugin sees the SDK through its public surface only, so the SDK can change inside.
    files: ['providers/*/**/*.ts'],
    ignores: ['providers/sdk/**', '**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/gateway/**'], message: 'A provider reaches the gateway only over the protocol in shared/; it never imports gateway/.' },
            { group: ['**/sdk/*', '!**/sdk/index.js'], message: 'Import the SDK from providers/sdk/index.ts.' },
          ],
        },
      ],
    },
  },
  {
    // The command line is a client of the public API, as any other program would be.
    files: ['bin/client/**/*.ts'],
    rules: layer('The command line uses the public API only (GraphQL, the session URLs): no gateway, provider or shared modules.', [
      '**/gateway/**',
      '**/providers/**',
      '**/shared/**',
    ]),
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
