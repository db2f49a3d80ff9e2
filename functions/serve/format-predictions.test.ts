import { describe, expect, it } from '@jest/globals';
import { jsonScalars, predictionsByOutput, predictionsByRow } from './format-predictions.js';

describe('jsonScalars', () => {
  it('gives int64 values as numbers when exact and as strings beyond 2^53', () => {
    const data = BigInt64Array.from([1n, -(2n ** 53n) + 1n, 2n ** 60n]);
    expect(jsonScalars({ type: 'int64', data, dims: [3] })).toEqual([1, -(2 ** 53) + 1, '1152921504606846976']);
  });

  it('turns NaN and infinities into null so the body stays valid JSON', () => {
    expect(
      jsonScalars({ type: 'float32', data: Float32Array.from([1, Number.NaN, Number.POSITIVE_INFINITY]), dims: [3] }),
    ).toEqual([1, null, null]);
  });

  it('gives bool tensors as booleans', () => {
    expect(jsonScalars({ type: 'bool', data: Uint8Array.from([1, 0]), dims: [2] })).toEqual([true, false]);
  });
});

describe('predictionsByOutput', () => {
  it('nests each output to its shape', () => {
    const out = predictionsByOutput({ p: { type: 'float64', data: Float64Array.from([1, 2, 3, 4]), dims: [2, 2] } });
    expect(out).toEqual({
      p: [
        [1, 2],
        [3, 4],
      ],
    });
    expect(() => JSON.stringify(out)).not.toThrow();
  });
});

describe('predictionsByRow', () => {
  it('gives one record per row, [N, 1] outputs as scalars', () => {
    const rows = predictionsByRow({
      label: { type: 'int64', data: BigInt64Array.from([0n, 2n]), dims: [2] },
      score: { type: 'float64', data: Float64Array.from([0.5, 0.25]), dims: [2, 1] },
      probs: { type: 'float64', data: Float64Array.from([1, 0, 0, 1]), dims: [2, 2] },
    });
    expect(rows).toEqual([
      { label: 0, score: 0.5, probs: [1, 0] },
      { label: 2, score: 0.25, probs: [0, 1] },
    ]);
  });
});
