import { describe, expect, it } from '@jest/globals';
import { scoreV1Predict } from './kserve-v1-scoring.js';
import type { ModelIo, WireTensor } from './model-io.js';
import { parseDenseJsonRequest } from './parse-dense-json.js';
import { scoringRequestOf } from './parse-scoring-request.js';
import { prepareFeeds } from './prepare-feeds.js';
import type { ScoringModel } from './scoring.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const io = (type: 'float32' | 'float64'): ModelIo => ({
  inputs: [{ name: 'x', type, shape: [-1, 64] }],
  outputs: [{ name: 'y', type: 'float32', shape: [-1, 1] }],
  signature: null,
});

/** scoreV1Predict's feed for the body */
async function fedBy(body: string, model: ModelIo): Promise<WireTensor> {
  let fed: WireTensor | undefined;
  const scoring: ScoringModel = {
    name: 'm',
    io: model,
    run: (feeds) => {
      fed = feeds['x'];
      return Promise.resolve({ y: { type: 'float32', data: new Float32Array(1), dims: [1, 1] } });
    },
  };
  await scoreV1Predict(scoring, bytes(body));
  return fed!;
}

describe('scoreV1Predict', () => {
  let seed = 3;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  /** rows of numbers as numpy clients write them: float64 reprs, float32 reprs (17 digits), 4 decimals */
  const rows = (kind: number) =>
    Array.from({ length: 32 }, () =>
      Array.from({ length: 64 }, () => {
        const x = (rand() - 0.5) * 10 ** (rand() * 4 - 2);
        return [String(x), String(Math.fround(x)), x.toFixed(4)][kind]!;
      }),
    );

  it('reads {"instances": nested numbers} as /invocations does, bit for bit as the general path', async () => {
    let taken = 0;
    for (const type of ['float32', 'float64'] as const) {
      for (const kind of [0, 1, 2]) {
        const body = `{"instances": [${rows(kind)
          .map((r) => `[${r.join(', ')}]`)
          .join(', ')}]}`;
        const fed = await fedBy(body, io(type));
        const doc = JSON.parse(body) as { instances: unknown };
        const general = prepareFeeds(scoringRequestOf({ instances: doc.instances }).input, io(type))['x']!;
        expect(fed.dims).toEqual(general.dims);
        expect(fed.data.constructor).toBe(general.data.constructor);
        const expected = Array.from(general.data as Float32Array);
        Array.from(fed.data as Float32Array).forEach((v, i) => {
          if (!Object.is(v, expected[i])) expect([i, v]).toEqual([i, expected[i]]);
        });
        // the fast path: read straight into a view of the reader's array (the general path allocates it exactly)
        const dense = parseDenseJsonRequest(bytes(body), io(type), Number.MAX_SAFE_INTEGER) !== null;
        const data = fed.data as Float32Array | Float64Array;
        expect(data.buffer.byteLength > data.byteLength).toBe(dense);
        if (dense) taken++;
      }
    }
    // float32: all three kinds; float64: the 4-decimal rows (17 digits need the exact double: the general path)
    expect(taken).toBe(4);
  });

  it('still refuses a body without instances, and invalid JSON, with the protocol messages', async () => {
    await expect(fedBy('{"inputs": [[1, 2]]}', io('float32'))).rejects.toThrow(
      'the request must be {"instances": [...]}',
    );
    await expect(fedBy('{"instances": [[1, 2]]', io('float32'))).rejects.toThrow('request body is not valid JSON');
  });
});
