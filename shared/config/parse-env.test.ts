import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { parseEnv } from './parse-env.js';

const Env = z.object({
  PORT: z.coerce.number().int().default(8080),
  MAX_RETRIES: z.coerce.number().int().min(0),
  DRY_RUN: z.stringbool().default(false),
});

describe('parseEnv', () => {
  it('applies defaults and coerces values', () => {
    expect(parseEnv(Env, { MAX_RETRIES: '3', DRY_RUN: 'false' })).toEqual({
      PORT: 8080,
      MAX_RETRIES: 3,
      DRY_RUN: false,
    });
  });

  it('names every bad variable on its own line', () => {
    expect(() => parseEnv(Env, { PORT: 'x', MAX_RETRIES: '-1', DRY_RUN: 'maybe' })).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIG',
        message: expect.stringMatching(/^PORT: .*\nMAX_RETRIES: .*\nDRY_RUN: .*$/),
      }),
    );
  });
});

describe('parseEnv with empty values', () => {
  it('reads an empty variable as unset in every role: the default applies', () => {
    expect(parseEnv(Env, { PORT: '', MAX_RETRIES: '2', DRY_RUN: '' })).toEqual({
      PORT: 8080,
      MAX_RETRIES: 2,
      DRY_RUN: false,
    });
  });
});
