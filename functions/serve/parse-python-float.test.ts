import { describe, expect, it } from '@jest/globals';
import { parsePythonFloat } from './parse-python-float.js';

describe('parsePythonFloat', () => {
  it.each([
    ['1.5', 1.5],
    [' \t1.5\n', 1.5],
    ['+.5', 0.5],
    ['5.', 5],
    ['1e3', 1000],
    ['1_000', 1000],
    ['1_0.2_5e0_1', 102.5],
    ['inf', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['INF', Number.POSITIVE_INFINITY],
    ['\u0661\u0662', 12],
    ['\u{1D7D9}', 1], // MATHEMATICAL DOUBLE-STRUCK DIGIT ONE: its run of ten starts at U+1D7D8, after three others
  ])('reads %j as %d, as Python float() does', (text, value) => {
    expect(parsePythonFloat(text)).toBe(value);
  });

  it('reads nan in any case and sign as NaN', () => {
    for (const text of ['nan', 'NaN', '-nan', '+NAN']) expect(parsePythonFloat(text)).toBeNaN();
  });

  it.each(['', ' ', '0x10', '0b1', '0o7', '0x1p3', '1__0', '_1', '1_', '1_.5', 'in f', '1e', '--1', '1,5', 'infinit'])(
    'refuses %j as Python float() does',
    (text) => {
      expect(parsePythonFloat(text)).toBeNull();
    },
  );
});
