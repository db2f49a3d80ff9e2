import { describe, expect, it } from '@jest/globals';
import { isAppError } from '../../shared/errors/app-error.js';
import type { ModelIo, WireTensor } from './model-io.js';
import { score, type ScoringModel, type ScoringTask } from './scoring.js';

const io: ModelIo = {
  inputs: [{ name: 'X', type: 'float32', shape: [-1, 2] }],
  outputs: [
    { name: 'label', type: 'int64', shape: [-1] },
    { name: 'p', type: 'float32', shape: [-1, 2] },
  ],
  signature: null,
};

/** A model whose "session" answers label = row index and p = the row, recording what it was fed. */
function fakeModel(): ScoringModel & { fed: Record<string, WireTensor>[] } {
  const fed: Record<string, WireTensor>[] = [];
  return {
    name: 'toy',
    io,
    fed,
    run: (feeds, outputs) => {
      fed.push(feeds);
      const x = feeds['X']!;
      const rows = x.dims[0]!;
      const all: Record<string, WireTensor> = {
        label: { type: 'int64', data: BigInt64Array.from({ length: rows }, (_v, i) => BigInt(i)), dims: [rows] },
        p: { type: 'float32', data: x.data, dims: x.dims },
      };
      return Promise.resolve(Object.fromEntries(outputs.map((o) => [o, all[o]!])));
    },
  };
}

const LIMITS = { maxValues: 1000 };
const bytes = (text: string) => new TextEncoder().encode(text);
const answer = async (task: ScoringTask, model = fakeModel()) =>
  JSON.parse(new TextDecoder().decode((await score(task, model, LIMITS)).body)) as unknown;

describe('score (what an inference thread answers)', () => {
  it('answers MLflow JSON tensor input with a dict of outputs, fed as float32', async () => {
    const model = fakeModel();
    const body = bytes('{"inputs": [[1.5, 2], [3, 4]]}');
    expect(await answer({ protocol: 'mlflow', format: 'json', body }, model)).toEqual({
      predictions: {
        label: [0, 1],
        p: [
          [1.5, 2],
          [3, 4],
        ],
      },
    });
    expect(model.fed[0]!['X']).toEqual({ type: 'float32', data: Float32Array.from([1.5, 2, 3, 4]), dims: [2, 2] });
  });

  it('answers MLflow CSV (a frame, no tensor signature) with one record per row', async () => {
    const body = bytes('a,b\n1,2\n3,4\n');
    expect(await answer({ protocol: 'mlflow', format: 'csv', body })).toEqual({
      predictions: [
        { label: 0, p: [1, 2] },
        { label: 1, p: [3, 4] },
      ],
    });
  });

  it('answers OIP v2 with flat data, only the outputs asked for, and the request id', async () => {
    const body = bytes(
      JSON.stringify({
        id: 'r1',
        inputs: [{ name: 'X', shape: [1, 2], datatype: 'FP32', data: [5, 6] }],
        outputs: [{ name: 'p' }],
      }),
    );
    expect(await answer({ protocol: 'oip-v2', body })).toEqual({
      model_name: 'toy',
      id: 'r1',
      outputs: [{ name: 'p', datatype: 'FP32', shape: [1, 2], data: [5, 6] }],
    });
  });

  it('answers KServe v1 with one prediction per instance', async () => {
    const body = bytes('{"instances": [[1, 2], [3, 4]]}');
    expect(await answer({ protocol: 'kserve-v1', body })).toEqual({
      predictions: [
        { label: 0, p: [1, 2] },
        { label: 1, p: [3, 4] },
      ],
    });
  });

  it.each<[string, ScoringTask, number, RegExp]>([
    ['invalid UTF-8', { protocol: 'mlflow', format: 'json', body: Uint8Array.from([0x7b, 0xff, 0x7d]) }, 400, /UTF-8/],
    ['malformed JSON', { protocol: 'mlflow', format: 'json', body: bytes('{"inputs": [1,') }, 400, /valid JSON/],
    ['a wrong shape', { protocol: 'mlflow', format: 'json', body: bytes('{"inputs": [[1, 2, 3]]}') }, 400, /shape/],
    [
      'v2 unknown output',
      {
        protocol: 'oip-v2',
        body: bytes(
          '{"inputs": [{"name": "X", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}], "outputs": [{"name": "nope"}]}',
        ),
      },
      400,
      /unknown output/,
    ],
    ['v1 without instances', { protocol: 'kserve-v1', body: bytes('{"inputs": []}') }, 400, /instances/],
  ])('refuses %s with an AppError the route can answer', async (_what, task, status, message) => {
    const model = fakeModel();
    const err = await score(task, model, LIMITS).catch((e: unknown) => e);
    expect(isAppError(err) && [err.statusCode, err.message]).toEqual([status, expect.stringMatching(message)]);
    expect(model.fed).toHaveLength(0);
  });
});
