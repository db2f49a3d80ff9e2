import { describe, expect, it } from '@jest/globals';
import type { ModelIo, WireTensor } from './model-io.js';
import { DENSE_DATA_MIN_BYTES, parseWithDenseData } from './oip-v2-dense-data.js';
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

describe('FP32 data sent with 16-19 digits (numpy values as Python json writes them)', () => {
  const io: ModelIo = {
    inputs: [
      { name: 'x', type: 'float32', shape: [-1] },
      { name: 'w', type: 'float64', shape: [-1] },
    ],
    outputs: [{ name: 'y', type: 'float32', shape: [-1, 1] }],
    signature: null,
  };
  let seed = 5;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  /** numpy float64 values' reprs (shortest round-trip, mostly 16-17 digits), from 1e-3 to 1e3 */
  const float64Reprs = (n: number) => Array.from({ length: n }, () => String((rand() - 0.5) * 10 ** (rand() * 6 - 3)));
  /** numpy float32 values' reprs after .tolist() (the double of the float32, e.g. 0.10000000149011612) */
  const float32Reprs = (n: number) => float64Reprs(n).map((r) => String(Math.fround(Number(r))));
  const digits = (r: string) => r.replace(/[-.]|e.*$/g, '').replace(/^0+/, '').length;
  const w = ['0.5', '-1.25', '3'];
  const bodyOf = (xs: string[], ws = w, id = 'r') =>
    `{"id": "${id}", "inputs": [{"name": "x", "shape": [${xs.length}], "datatype": "FP32", "data": [${xs.join(', ')}]}, {"name": "w", "shape": [${ws.length}], "datatype": "FP64", "data": [${ws.join(', ')}]}]}`;

  /** scoreV2Infer's feeds for the body */
  async function fedBy(body: string): Promise<Record<string, WireTensor>> {
    let fed: Record<string, WireTensor> = {};
    const model: ScoringModel = {
      name: 'm',
      io,
      run: (feeds) => {
        fed = feeds;
        return Promise.resolve({ y: { type: 'float32', data: new Float32Array(1), dims: [1, 1] } });
      },
    };
    await scoreV2Infer(model, bytes(body));
    return fed;
  }

  /** The general path's feeds: JSON.parse, then the typed arrays; compared bit for bit (-0 and 0 told apart). */
  async function expectFedAsGeneral(body: string): Promise<void> {
    const fed = await fedBy(body);
    const plain = JSON.parse(body) as { inputs: { data: number[] }[] };
    const general = [Float32Array.from(plain.inputs[0]!.data), Float64Array.from(plain.inputs[1]!.data)];
    [fed['x']!.data as Float32Array, fed['w']!.data as Float64Array].forEach((data, k) => {
      expect(data.constructor).toBe(general[k]!.constructor);
      const expected = Array.from(general[k]!);
      expect(data.length).toBe(expected.length);
      Array.from(data).forEach((v, i) => {
        if (!Object.is(v, expected[i])) expect([k, i, v]).toEqual([k, i, expected[i]]);
      });
    });
  }

  /** The x array as the fast path read it, or null when the body went to JSON.parse or x stayed in its text. */
  function denseX(body: string): DenseArray | null {
    expect(bytes(body).length).toBeGreaterThanOrEqual(DENSE_DATA_MIN_BYTES); // else scoreV2Infer does not try
    const doc = parseWithDenseData(bytes(body)) as { inputs: { data: unknown }[] } | null;
    const data = doc?.inputs[0]?.data;
    return data instanceof DenseArray ? data : null;
  }

  it('reads float64 and float32 reprs into an FP32 input in the fast path, bit for bit as the general path', async () => {
    const bodies = [
      ...Array.from({ length: 8 }, () => float64Reprs(4096)),
      ...Array.from({ length: 8 }, () => float32Reprs(4096)),
    ];
    expect(bodies.flat().filter((r) => digits(r) === 17).length).toBeGreaterThan(20_000);
    for (const xs of bodies) {
      const body = bodyOf(xs);
      // taken: the reader read x (float32 roundings) instead of leaving it to JSON.parse
      expect(denseX(body)?.precision).toBe('float32');
      await expectFedAsGeneral(body);
    }
  });

  it('reads decimals at float32 rounding boundaries in the fast path, bit for bit as the general path', async () => {
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    const filler = float32Reprs(1000);
    const id = 'i'.repeat(DENSE_DATA_MIN_BYTES); // the body large enough for the fast path, one boundary value each
    let taken = 0;
    for (let i = 0; i < 2000; i++) {
      f32[0] = (rand() + 0.01) * 10 ** (rand() * 6 - 3);
      const bits = u32[0]!;
      const f = f32[0];
      u32[0] = bits + 1;
      const text = ((f + f32[0]!) / 2).toPrecision(16 + (i % 4));
      const mantissa = text.replace(/e.*$/, '');
      const last = Number(mantissa.at(-1)!);
      const nudged = mantissa.slice(0, -1) + String((last + (i % 3) + 9) % 10) + text.slice(mantissa.length);
      const body = bodyOf([nudged, ...filler.slice(i % 500, (i % 500) + 200)], w, id);
      if (denseX(body)) taken++;
      await expectFedAsGeneral(body);
    }
    // every one: Clinger's exact double below 2^53 digits, else the float32 when certain, else Number() of the text
    expect(taken).toBe(2000);
  });

  it('leaves 17-digit FP64 data to JSON.parse (it needs the exact double), and float32 roundings out of FP64', async () => {
    const xs = float32Reprs(2000);
    const ws = float64Reprs(2000);
    // FP64 data after FP32 data: x read, w left in the text for JSON.parse
    const body = bodyOf(xs, ws);
    expect(denseX(body)?.precision).toBe('float32');
    expect((parseWithDenseData(bytes(body)) as { inputs: { data: unknown }[] }).inputs[1]!.data).toEqual(
      (JSON.parse(body) as { inputs: { data: number[] }[] }).inputs[1]!.data,
    );
    await expectFedAsGeneral(body);
    // a datatype written after its data: w read after x's "FP32", then found to be FP64: the body goes to JSON.parse
    const late = `{"inputs": [{"name": "x", "shape": [2000], "datatype": "FP32", "data": [${xs.join(',')}]}, {"name": "w", "shape": [2000], "data": [${ws.join(',')}], "datatype": "FP64"}]}`;
    expect(parseWithDenseData(bytes(late))).toBeNull();
    await expectFedAsGeneral(late);
  });
});
