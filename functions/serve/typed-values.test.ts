import { describe, expect, it } from '@jest/globals';
import { toTypedData } from './typed-values.js';

describe('toTypedData', () => {
  it('converts numbers, booleans, numeric strings and null the way numpy does', () => {
    const out = toTypedData([1, true, '2.5', null], 'float32', 'X') as Float32Array;
    expect(Array.from(out.slice(0, 3))).toEqual([1, 1, 2.5]);
    expect(Number.isNaN(out[3])).toBe(true);
  });

  it('builds int64 exactly, also from digit strings beyond 2^53', () => {
    expect(Array.from(toTypedData([1, '9007199254740993'], 'int64', 'X') as BigInt64Array)).toEqual([
      1n,
      9007199254740993n,
    ]);
  });

  it("refuses a non-numeric string with numpy's wording", () => {
    expect(() => toTypedData(['x'], 'float32', 'X')).toThrow(
      expect.objectContaining({
        code: 'BAD_REQUEST',
        message: "Invalid input. could not convert string to float: 'x'",
      }),
    );
  });

  it('refuses a fraction for an integer input instead of truncating it', () => {
    expect(() => toTypedData([1.5], 'int32', 'X')).toThrow(
      expect.objectContaining({ code: 'INVALID_PARAMETER_VALUE' }),
    );
  });

  it('refuses a value outside the integer type', () => {
    expect(() => toTypedData([300], 'uint8', 'X')).toThrow(/out of its range/);
    expect(() => toTypedData(['18446744073709551616'], 'uint64', 'X')).toThrow(/out of its range/);
  });

  it('refuses nested objects', () => {
    expect(() => toTypedData([{ a: 1 }], 'float64', 'X')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });
});
