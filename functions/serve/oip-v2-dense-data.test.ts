import { describe, expect, it } from '@jest/globals';
import type { ModelIo, WireTensor } from './model-io.js';
import { parseWithDenseData } from './oip-v2-dense-data.js';
import { scoreV2Infer } from './oip-v2-scoring.js';
import { DenseArray } from './parse-dense-json.js';
import type { ScoringModel } from './scoring.js';

const bytes = (text: string) => new TextEncoder().encode(text);
/** n numbers as a client writes them (4 decimals, some negative, some exponents) */
const numbers = (n: number, seed = 3): string[] => {
  let s = seed;
  return Array.from({ length: n }, (_v, i) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    const x = (s / 2147483648) * 4 - 2;
    return i % 7 === 0 ? x.toExponential(3) : x.toFixed(4);
  });
};
const input = (name: string, values: string[], extra = '') =>
  `{"name": "${name}", "shape": [${values.length}], "datatype": "FP32", ${extra}"data": [${values.join(', ')}]}`;

describe('parseWithDenseData', () => {
  it('reads each large input `data` into a DenseArray of the doubles JSON.parse makes, the rest as JSON.parse does', () => {
    const a = numbers(2000);
    const b = numbers(300, 9);
    const text = `{"id": "r \\"data\\": [1]", "inputs": [${input('a', a)}, ${input('b', b, '"parameters": {"x": [1, 2]}, ')}], "outputs": [{"name": "y"}]}`;
    const doc = parseWithDenseData(bytes(text)) as { inputs: { data: unknown }[] };
    const plain = JSON.parse(text) as { inputs: { data: number[] }[] };
    expect({ ...doc, inputs: doc.inputs.map((i) => ({ ...i, data: null })) }).toEqual({
      ...plain,
      inputs: plain.inputs.map((i) => ({ ...i, data: null })),
    });
    doc.inputs.forEach((given, k) => {
      expect(given.data).toBeInstanceOf(DenseArray);
      const dense = given.data as DenseArray;
      expect(dense.shape).toEqual([plain.inputs[k]!.data.length]);
      expect(Array.from(dense.data)).toEqual(plain.inputs[k]!.data);
    });
  });

  it('keeps nested data nested in its shape, row-major', () => {
    const rows = Array.from({ length: 40 }, (_v, r) => `[${numbers(50, r + 1).join(',')}]`);
    const text = `{"inputs": [{"name": "a", "shape": [40, 50], "datatype": "FP64", "data": [${rows.join(',')}]}]}`;
    const dense = (parseWithDenseData(bytes(text)) as { inputs: { data: DenseArray }[] }).inputs[0]!.data;
    expect(dense.shape).toEqual([40, 50]);
    expect(Array.from(dense.data)).toEqual(
      (JSON.parse(text) as { inputs: { data: number[][] }[] }).inputs[0]!.data.flat(),
    );
  });

  it('leaves the body to JSON.parse when a large array is not an input data, or data repeats, or none is large', () => {
    const big = numbers(2000).join(',');
    const others = [
      `{"parameters": {"data": [${big}]}, "inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}]}`,
      `{"inputs": [{"name": "a", "shape": [2000], "datatype": "FP32", "data": [${big}], "data": [${big}]}]}`,
      `{"inputs": [{"name": "a", "shape": [3], "datatype": "FP32", "data": [1, 2, 3]}]}`,
      `{"inputs": [{"name": "a", "shape": [2000], "datatype": "FP32", "data": [${big}, "x"]}]}`,
      `{"id": "\\"data\\": [${big}]", "inputs": []}`,
      `[{"data": [${big}]}]`,
    ];
    for (const text of others) expect(parseWithDenseData(bytes(text))).toBeNull();
  });

  it('does not take a client object for its placeholder', () => {
    const text = `{"inputs": [${input('a', numbers(2000))}, {"name": "b", "shape": [1], "datatype": "FP32", "data": {"modelctl-dense-0": 0}}]}`;
    const doc = parseWithDenseData(bytes(text)) as { inputs: { data: unknown }[] };
    expect(doc.inputs[1]!.data).toEqual({ 'modelctl-dense-0': 0 });
  });

  it('throws where JSON.parse would, on a body whose rest is not JSON', () => {
    expect(() => parseWithDenseData(bytes(`{"inputs": [${input('a', numbers(2000))}],}`))).toThrow(SyntaxError);
  });
});

describe('scoreV2Infer with large JSON data', () => {
  const io: ModelIo = {
    inputs: [
      { name: 'x', type: 'float32', shape: [-1, 256] },
      { name: 'n', type: 'int64', shape: [-1] },
    ],
    outputs: [{ name: 'y', type: 'float32', shape: [-1, 1] }],
    signature: null,
  };
  it('feeds the model the same tensors as the general path, float32 rounding and int64 checks included', async () => {
    const fed: Record<string, WireTensor>[] = [];
    const model: ScoringModel = {
      name: 'dense',
      io,
      run: (feeds) => {
        fed.push(feeds);
        return Promise.resolve({ y: { type: 'float32', data: new Float32Array(64), dims: [64, 1] } });
      },
    };
    const x = numbers(64 * 256);
    const n = Array.from({ length: 300 }, (_v, i) => String(i * 1000 - 7));
    const bodyOf = (xs: string[]) =>
      `{"inputs": [{"name": "x", "shape": [64, 256], "datatype": "FP32", "data": [${xs.join(',')}]}, {"name": "n", "shape": [300], "datatype": "INT64", "data": [${n.join(', ')}]}]}`;
    const body = bodyOf(x);
    await scoreV2Infer(model, bytes(body));
    expect(Array.from(fed[0]!['x']!.data as Float32Array)).toEqual(Array.from(Float32Array.from(x.map(Number))));
    expect(Array.from(fed[0]!['n']!.data as BigInt64Array)).toEqual(n.map(BigInt));
    // the arrays are read into a buffer the thread reuses: a second request must not change the first one's feeds
    await scoreV2Infer(model, bytes(bodyOf(numbers(64 * 256, 99))));
    expect(fed[1]!['x']!.data).not.toEqual(fed[0]!['x']!.data);
    expect(Array.from(fed[0]!['x']!.data as Float32Array)).toEqual(Array.from(Float32Array.from(x.map(Number))));
    const fractional = body.replace('"data": [-7, ', '"data": [-7.5, ');
    await expect(scoreV2Infer(model, bytes(fractional))).rejects.toThrow(/not an integer/);
  });
});
