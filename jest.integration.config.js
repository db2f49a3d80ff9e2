import { base } from './jest.base.config.js';
// global setup is loaded by require(), outside moduleNameMapper: let its `./x.js` imports find `./x.ts`
import './testkit/hub-server/register-ts.ts';

/** Integration tests run against the testing ground's real peers, started once in global setup. */
export default {
  ...base,
  displayName: 'integration',
  roots: ['<rootDir>/test', '<rootDir>/testkit'],
  testMatch: ['**/*.test.ts'],
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  testTimeout: 120_000,
  // on failure, prints the tail of every peer log
  reporters: ['default', '<rootDir>/test/peer-log-reporter.js'],
};
