import { describe, expect, it } from '@jest/globals';
import { formatFloatPredictions, pythonFloat } from './python-json-floats.js';

// [value, what Python 3.11's json.dumps writes for it] (printed by CPython, not derived from this code)
const PYTHON: [number, string][] = [
  [0.0, '0.0'],
  [-0.0, '-0.0'],
  [1.0, '1.0'],
  [-1.0, '-1.0'],
  [0.1, '0.1'],
  [0.0001, '0.0001'],
  [9.999999999999999e-5, '9.999999999999999e-05'],
  [1e-5, '1e-05'],
  [1.5e-7, '1.5e-07'],
  [1e-7, '1e-07'],
  [1e16, '1e+16'],
  [1000000000000000.0, '1000000000000000.0'],
  [1234567890123456.0, '1234567890123456.0'],
  [1.2345678901234568e16, '1.2345678901234568e+16'],
  [1e21, '1e+21'],
  [1e22, '1e+22'],
  [1.7976931348623157e308, '1.7976931348623157e+308'],
  [5e-324, '5e-324'],
  [2.5, '2.5'],
  [100.0, '100.0'],
  [123.456, '123.456'],
  [0.000123, '0.000123'],
  [1.23e-5, '1.23e-05'],
  [NaN, 'NaN'],
  [Infinity, 'Infinity'],
  [-Infinity, '-Infinity'],
  [-1.5e-10, '-1.5e-10'],
  [9007199254740992.0, '9007199254740992.0'],
  [0.30000000000000004, '0.30000000000000004'],
  [1e-300, '1e-300'],
  [1e100, '1e+100'],
  [0.10000000149011612, '0.10000000149011612'],
  [-123456789012345.67, '-123456789012345.67'],
];

describe('pythonFloat', () => {
  it.each(PYTHON)('writes %p as Python does', (x, text) => {
    expect(pythonFloat(x)).toBe(text);
  });
});

describe('formatFloatPredictions', () => {
  const le = (xs: number[]) => Buffer.from(new Float64Array(xs).buffer);

  it('writes a matrix as MLflow’s predictions_to_json does', () => {
    expect(formatFloatPredictions(le([0.5, 1, 1e-5, -2.25]), [2, 2]).toString()).toBe(
      '{"predictions": [[0.5, 1.0], [1e-05, -2.25]]}',
    );
  });

  it('writes a vector, and a matrix of no columns', () => {
    expect(formatFloatPredictions(le([3, 0.1]), [2]).toString()).toBe('{"predictions": [3.0, 0.1]}');
    expect(formatFloatPredictions(le([]), [2, 0]).toString()).toBe('{"predictions": [[], []]}');
  });

  it('reads values at any offset of the frame', () => {
    const frame = Buffer.concat([Buffer.from([1, 2, 3]), le([2.5])]);
    expect(formatFloatPredictions(frame.subarray(3), [1]).toString()).toBe('{"predictions": [2.5]}');
  });
});
