import { describe, expect, it } from '@jest/globals';
import type { ModelIo } from '../model-io.js';
import { hasBatchDimension } from './has-batch-dimension.js';

const io = (inputs: number[][], outputs: number[][], signatureShapes?: number[][]): ModelIo => ({
  inputs: inputs.map((shape, i) => ({ name: `in${i}`, type: 'float32', shape })),
  outputs: outputs.map((shape, i) => ({ name: `out${i}`, type: 'float32', shape })),
  signature: signatureShapes
    ? {
        inputs: {
          kind: 'tensor',
          specs: signatureShapes.map((shape) => ({ kind: 'tensor', name: undefined, dtype: 'float32', shape })),
        },
        outputs: null,
        params: [],
      }
    : null,
});

describe('hasBatchDimension', () => {
  it('is true when every input and output has a free first dimension', () => {
    expect(hasBatchDimension(io([[-1, 4]], [[-1], [-1, 3]]))).toBe(true);
    expect(hasBatchDimension(io([[-1, 4]], [[-1]], [[-1, 4]]))).toBe(true);
  });

  it('is false for a fixed first dimension, a scalar input, or an output without the batch dimension', () => {
    expect(hasBatchDimension(io([[1, 224, 224, 3]], [[1, 1000]]))).toBe(false);
    expect(hasBatchDimension(io([[]], [[-1]]))).toBe(false);
    expect(hasBatchDimension(io([[-1, 4]], [[3]]))).toBe(false);
  });

  it('is false when the signature fixes the first dimension the graph leaves free', () => {
    expect(hasBatchDimension(io([[-1, 4]], [[-1]], [[1, 4]]))).toBe(false);
  });
});
