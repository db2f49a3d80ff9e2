import { describe, expect, it } from '@jest/globals';
import { isServeWithoutFlags, withDefaultRole } from './default-role.js';

describe('withDefaultRole', () => {
  it.each(['serve', 'fetch', 'agent', 'warm', 'cleanup', 'deploy'])('runs MODELCTL_ROLE=%s without args', (role) => {
    expect(withDefaultRole([], { MODELCTL_ROLE: role })).toEqual([role]);
  });

  it('keeps the flags of a container that sets MODELCTL_ROLE and flags only', () => {
    expect(withDefaultRole(['--port', '9000'], { MODELCTL_ROLE: 'serve' })).toEqual(['serve', '--port', '9000']);
  });

  it('serves when the environment carries the model server contract (MODEL_LOCAL_PATH or MLFLOW_MODEL_URI)', () => {
    expect(withDefaultRole([], { MODEL_LOCAL_PATH: '/models' })).toEqual(['serve']);
    expect(withDefaultRole([], { MLFLOW_MODEL_URI: 'models:/m/1' })).toEqual(['serve']);
  });

  it('downloads when the environment carries only the downloader contract (MODEL_URI)', () => {
    expect(withDefaultRole([], { MODEL_URI: 'models:/m/1', STORAGE_STRATEGY: 'pvc' })).toEqual(['fetch']);
  });

  it('leaves explicit roles, help and version alone', () => {
    expect(withDefaultRole(['fetch'], { MODELCTL_ROLE: 'serve' })).toEqual(['fetch']);
    expect(withDefaultRole(['--help'], { MODELCTL_ROLE: 'serve' })).toEqual(['--help']);
    expect(withDefaultRole([], {})).toEqual([]);
  });

  it('refuses a MODELCTL_ROLE that names no role, listing the roles', () => {
    expect(() => withDefaultRole([], { MODELCTL_ROLE: 'server' })).toThrow(
      /MODELCTL_ROLE: "server" is not a role.*serve, fetch/,
    );
  });
});

describe('isServeWithoutFlags', () => {
  it('is true for `serve` alone, given or named by the environment', () => {
    expect(isServeWithoutFlags(['serve'], {})).toBe(true);
    expect(isServeWithoutFlags([], { MODELCTL_ROLE: 'serve' })).toBe(true);
    expect(isServeWithoutFlags([], { MODEL_LOCAL_PATH: '/models' })).toBe(true);
  });

  it('is false with a flag, another role, help, or a MODELCTL_ROLE that names no role', () => {
    expect(isServeWithoutFlags(['serve', '--port', '9000'], {})).toBe(false);
    expect(isServeWithoutFlags(['--port', '9000'], { MODELCTL_ROLE: 'serve' })).toBe(false);
    expect(isServeWithoutFlags(['serve', '--help'], {})).toBe(false);
    expect(isServeWithoutFlags(['fetch'], { MODEL_LOCAL_PATH: '/models' })).toBe(false);
    expect(isServeWithoutFlags([], { MODEL_URI: 'models:/m/1' })).toBe(false);
    expect(isServeWithoutFlags([], { MODELCTL_ROLE: 'server' })).toBe(false);
  });
});
