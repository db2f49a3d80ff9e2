import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.tools/', 'coverage/', 'examples/', '.test-tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      complexity: ['error', 10],
      'max-depth': ['error', 3],
      'max-params': ['error', 4],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // noUncheckedIndexedAccess types every a[i] as possibly undefined; where a loop bound or a check just
      // above proves it is there, `a[i]!` says so more clearly than a redundant runtime branch.
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // the plain Node scripts (bench runner and report, bundler, jest configs): no tsconfig project covers them,
    // so the type-aware rules are off; the rest, caps included, apply as to TypeScript
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: globals.node, parserOptions: { projectService: false } },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'testkit/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  // the testing ground (testkit/: peers, the Hub stand-in, the CLI launcher, cluster helpers) serves test/ and
  // bench/ and imports neither; test/ and bench/ do not import each other
  importBoundary(['testkit/**'], ['test', 'bench'], 'testkit/ is imported by test/ and bench/, never the reverse'),
  importBoundary(['bench/**'], ['test'], 'bench/ starts its peers with testkit/, never test/'),
  importBoundary(['test/**'], ['bench'], 'tests do not import benchmarks'),
  // the product imports one way, cli/ -> functions/ -> shared/, and never the testing ground (ARCHITECTURE.md)
  importBoundary(['cli/**'], ['test', 'testkit', 'bench'], 'cli/ imports functions/ and shared/ only'),
  importBoundary(
    ['functions/**'],
    ['cli', 'test', 'testkit', 'bench'],
    'functions/ imports shared/ only (the CLI composes roles)',
  ),
  importBoundary(
    ['shared/**'],
    ['cli', 'functions', 'test', 'testkit', 'bench'],
    'shared/ imports no role, no CLI and no testing ground',
  ),
  {
    // process.env, signals and process.exit belong to each role's index.ts and the CLI entry (STYLE.md).
    files: ['shared/**/*.ts', 'functions/**/*.ts'],
    // shared/process/role-process.ts is what those index.ts files delegate exit and signals to
    ignores: ['functions/*/index.ts', 'shared/process/role-process.ts', '**/*.test.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'read env only in functions/<role>/index.ts' },
        { object: 'process', property: 'exit', message: 'exit only in functions/<role>/index.ts' },
      ],
    },
  },
);

/** An ESLint block refusing imports of the named top-level folders from `files`. */
function importBoundary(files, folders, message) {
  const group = folders.flatMap((f) => [`${f}/**`, `**/${f}/**`]);
  return { files, rules: { 'no-restricted-imports': ['error', { patterns: [{ group, message }] }] } };
}
