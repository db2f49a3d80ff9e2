import { describe, expect, it } from '@jest/globals';
import type { ModelIo } from './model-io.js';
import { prepareFeeds } from './prepare-feeds.js';

const iris: ModelIo = {
  inputs: [{ name: 'X', type: 'float32', shape: [-1, 4] }],
  outputs: [{ name: 'label', type: 'int64', shape: [-1] }],
  signature: {
    inputs: { kind: 'tensor', specs: [{ kind: 'tensor', name: undefined, dtype: 'float32', shape: [-1, 4] }] },
    outputs: null,
    params: [],
  },
};
const twoInputs: ModelIo = {
  inputs: [
    { name: 'a', type: 'float32', shape: [-1, 1] },
    { name: 'b', type: 'int64', shape: [-1, 1] },
  ],
  outputs: [{ name: 'y', type: 'float32', shape: [-1, 1] }],
  signature: null,
};

describe('prepareFeeds', () => {
  it('feeds a single unnamed tensor to the single input', () => {
    const feeds = prepareFeeds(
      { kind: 'tensor', tensors: [{ name: null, value: [[1, 2, 3, 4]] }], origin: 'inputs' },
      iris,
    );
    expect(feeds['X']).toEqual({ type: 'float32', data: Float32Array.from([1, 2, 3, 4]), dims: [1, 4] });
  });

  it('turns a frame into a rows x columns matrix for a single tensor input', () => {
    const feeds = prepareFeeds(
      {
        kind: 'frame',
        columns: ['a', 'b', 'c', 'd'],
        rows: [
          [1, 2, 3, 4],
          [5, 6, 7, 8],
        ],
      },
      iris,
    );
    expect(feeds['X']!.dims).toEqual([2, 4]);
  });

  it("refuses a wrong rank or fixed dimension with MLflow's shape message", () => {
    expect(() =>
      prepareFeeds({ kind: 'tensor', tensors: [{ name: null, value: [[1, 2, 3]] }], origin: 'inputs' }, iris),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_PARAMETER_VALUE',
        message: 'Shape of input (1, 3) does not match expected shape (-1, 4).',
      }),
    );
    expect(() =>
      prepareFeeds({ kind: 'tensor', tensors: [{ name: null, value: [1, 2, 3, 4] }], origin: 'inputs' }, iris),
    ).toThrow(/\(4,\) does not match/);
  });

  it('refuses a dict for an unnamed tensor signature', () => {
    expect(() =>
      prepareFeeds({ kind: 'tensor', tensors: [{ name: 'X', value: [[1, 2, 3, 4]] }], origin: 'inputs' }, iris),
    ).toThrow(
      expect.objectContaining({ code: 'BAD_REQUEST', message: expect.stringContaining('un-named model signature') }),
    );
  });

  it('maps named tensors and frame columns to a multi-input graph, scalars per row as [N, 1]', () => {
    const fromFrame = prepareFeeds(
      {
        kind: 'frame',
        columns: ['b', 'a'],
        rows: [
          [1, 0.5],
          [2, 1.5],
        ],
      },
      twoInputs,
    );
    expect(fromFrame['a']).toEqual({ type: 'float32', data: Float32Array.from([0.5, 1.5]), dims: [2, 1] });
    expect(fromFrame['b']).toEqual({ type: 'int64', data: BigInt64Array.from([1n, 2n]), dims: [2, 1] });
    const fromDict = prepareFeeds(
      {
        kind: 'tensor',
        tensors: [
          { name: 'a', value: [[1]] },
          { name: 'b', value: [[2]] },
        ],
        origin: 'inputs',
      },
      twoInputs,
    );
    expect(fromDict['b']!.dims).toEqual([1, 1]);
  });

  it('names the missing input', () => {
    expect(() =>
      prepareFeeds({ kind: 'tensor', tensors: [{ name: 'a', value: [[1]] }], origin: 'inputs' }, twoInputs),
    ).toThrow(/missing inputs \['b'\]/);
  });

  it('refuses one unnamed tensor for a multi-input graph', () => {
    expect(() =>
      prepareFeeds({ kind: 'tensor', tensors: [{ name: null, value: [[1]] }], origin: 'inputs' }, twoInputs),
    ).toThrow(/requires 2 inputs/);
  });

  it('orders columns by a column signature and names missing required columns', () => {
    const io: ModelIo = {
      inputs: [{ name: 'X', type: 'float64', shape: [-1, 2] }],
      outputs: [],
      signature: {
        inputs: {
          kind: 'column',
          specs: [
            { kind: 'column', name: 'p', type: 'double', required: true },
            { kind: 'column', name: 'q', type: 'double', required: true },
          ],
        },
        outputs: null,
        params: [],
      },
    };
    expect(prepareFeeds({ kind: 'frame', columns: ['q', 'p'], rows: [[2, 1]] }, io)['X']!.data).toEqual(
      Float64Array.from([1, 2]),
    );
    expect(() => prepareFeeds({ kind: 'frame', columns: ['p'], rows: [[1]] }, io)).toThrow(/missing inputs \['q'\]/);
  });
});

describe('prepareFeeds fast and general paths', () => {
  it('gives the same feeds for plain numbers as for values needing conversion', () => {
    const plain = prepareFeeds(
      {
        kind: 'tensor',
        tensors: [
          {
            name: null,
            value: [
              [1, 2, 3, 4],
              [5, 6, 7, 8],
            ],
          },
        ],
        origin: 'inputs',
      },
      iris,
    );
    const mixed = prepareFeeds(
      {
        kind: 'tensor',
        tensors: [
          {
            name: null,
            value: [
              [1, '2', 3, true],
              [5, 6, 7, 8],
            ],
          },
        ],
        origin: 'inputs',
      },
      iris,
    );
    expect(plain['X']).toEqual({ type: 'float32', data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), dims: [2, 4] });
    expect(mixed['X']).toEqual({ type: 'float32', data: Float32Array.from([1, 2, 3, 1, 5, 6, 7, 8]), dims: [2, 4] });
  });

  it('still refuses ragged arrays of plain numbers', () => {
    expect(() =>
      prepareFeeds(
        {
          kind: 'tensor',
          tensors: [
            {
              name: null,
              value: [
                [1, 2, 3, 4],
                [5, 6],
              ],
            },
          ],
          origin: 'inputs',
        },
        iris,
      ),
    ).toThrow(/ragged/);
  });
});
