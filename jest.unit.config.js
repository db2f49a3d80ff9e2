import { base } from './jest.base.config.js';

/** Unit tests sit beside the code and need no peers. */
export default {
  ...base,
  displayName: 'unit',
  roots: ['<rootDir>/cli', '<rootDir>/functions', '<rootDir>/shared'],
  testMatch: ['**/*.test.ts'],
};
