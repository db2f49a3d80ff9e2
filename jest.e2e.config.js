import { base } from './jest.base.config.js';

/**
 * End-to-end tests against the real single-node cluster (`make cluster`; `make test-e2e` starts it, loads the
 * image and runs these). Files are `test/e2e/*.e2e.ts`, outside the integration suite's `*.test.ts`.
 */
export default {
  ...base,
  displayName: 'e2e',
  roots: ['<rootDir>/test/e2e'],
  testMatch: ['**/*.e2e.ts'],
  testTimeout: 600_000,
  maxWorkers: 1,
};
