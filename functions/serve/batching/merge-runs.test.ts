import { describe, expect, it } from '@jest/globals';
import type { WireTensor } from '../model-io.js';
import { scoreMerged, type RunModel } from './merge-runs.js';

/**
 * A row-wise model: `sum` [N] = the sum of each row of `x` [N, 2]; `twice` [N, 2] = x * 2. Refuses NaN the way
 * onnxruntime refuses what it cannot compute. Counts its calls and their rows.
 */
function rowModel() {
  const calls: number[] = [];
  const run: RunModel = (feeds) => {
    const x = feeds['x']!;
    const data = x.data as Float32Array;
    if (data.some((v) => Number.isNaN(v))) return Promise.reject(new Error('NaN in x'));
    const rows = x.dims[0]!;
    calls.push(rows);
    const sum = new Float32Array(rows);
    for (let r = 0; r < rows; r++) sum[r] = data[2 * r]! + data[2 * r + 1]!;
    return Promise.resolve({
      sum: { type: 'float32', data: sum, dims: [rows] },
      twice: { type: 'float32', data: data.map((v) => v * 2), dims: [rows, 2] },
    });
  };
  return { run, calls };
}

/** A "request": rows of x, or a parse failure. */
type Task = { rows: number[][] } | { refuse: string };

async function scoreOne(task: Task, run: RunModel): Promise<{ sum: number[]; twice: number[] }> {
  await Promise.resolve(); // scorers may await before calling the model (the v2 scorer's import)
  if ('refuse' in task) throw new Error(task.refuse);
  const x: WireTensor = { type: 'float32', data: Float32Array.from(task.rows.flat()), dims: [task.rows.length, 2] };
  const out = await run({ x }, ['sum', 'twice']);
  return { sum: Array.from(out['sum']!.data as Float32Array), twice: Array.from(out['twice']!.data as Float32Array) };
}

const rows = (n: number, start: number) => Array.from({ length: n }, (_v, i) => [start + i, 1]);

describe('scoreMerged', () => {
  it('answers requests of mixed batch sizes from one model call, each with its own rows', async () => {
    const model = rowModel();
    const tasks: Task[] = [{ rows: rows(1, 0) }, { rows: rows(5, 10) }, { rows: rows(3, 20) }];
    const out = await scoreMerged({ tasks, scoreOne, run: model.run, maxRows: 100 });
    expect(model.calls).toEqual([9]);
    expect(out.map((o) => o.rows)).toEqual([1, 5, 3]);
    const alone = await Promise.all(tasks.map((t) => scoreOne(t, rowModel().run)));
    expect(out.map((o) => (o.result as PromiseFulfilledResult<unknown>).value)).toEqual(alone);
  });

  it('keeps a request refused while parsing to itself', async () => {
    const model = rowModel();
    const out = await scoreMerged({
      tasks: [{ rows: rows(2, 0) }, { refuse: 'not JSON' }, { rows: rows(2, 5) }],
      scoreOne,
      run: model.run,
      maxRows: 100,
    });
    expect(out.map((o) => o.result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((out[1]!.result as PromiseRejectedResult).reason).toEqual(new Error('not JSON'));
    expect(model.calls).toEqual([4]);
  });

  it('finds the one request the model refuses in a merged call: only that one fails', async () => {
    const model = rowModel();
    const out = await scoreMerged({
      tasks: [{ rows: rows(2, 0) }, { rows: [[Number.NaN, 1]] }, { rows: rows(1, 7) }],
      scoreOne,
      run: model.run,
      maxRows: 100,
    });
    expect(out.map((o) => o.result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((out[2]!.result as PromiseFulfilledResult<{ sum: number[] }>).value.sum).toEqual([8]);
    // the merged call failed, then each request ran alone
    expect(model.calls).toEqual([2, 1]);
  });

  it('splits a group into model calls of at most maxRows rows', async () => {
    const model = rowModel();
    const tasks: Task[] = [3, 3, 3, 5, 1].map((n, i) => ({ rows: rows(n, i * 10) }));
    const out = await scoreMerged({ tasks, scoreOne, run: model.run, maxRows: 6 });
    expect(model.calls).toEqual([6, 3, 6]);
    expect(out.every((o) => o.result.status === 'fulfilled')).toBe(true);
  });

  it('runs requests one by one when the outputs do not keep one row per input row', async () => {
    const calls: number[] = [];
    const total: RunModel = (feeds) => {
      const x = feeds['x']!;
      calls.push(x.dims[0]!);
      const data = x.data as Float32Array;
      const s = data.reduce((a, b) => a + b, 0);
      return Promise.resolve({
        sum: { type: 'float32', data: Float32Array.of(s), dims: [1] },
        twice: { type: 'float32', data: data.map((v) => v * 2), dims: [x.dims[0]!, 2] },
      });
    };
    const out = await scoreMerged({
      tasks: [{ rows: rows(2, 0) }, { rows: rows(2, 4) }],
      scoreOne,
      run: total,
      maxRows: 100,
    });
    expect(calls).toEqual([4, 2, 2]);
    expect((out[1]!.result as PromiseFulfilledResult<{ sum: number[] }>).value.sum).toEqual([11]);
  });

  it('does not merge requests whose inputs differ beyond the first dimension', async () => {
    const calls: number[][] = [];
    const run: RunModel = (feeds) => {
      calls.push(feeds['x']!.dims);
      return Promise.resolve({
        y: { type: 'float32', data: new Float32Array(feeds['x']!.dims[0]!), dims: [feeds['x']!.dims[0]!] },
      });
    };
    const one = (width: number) => async (_t: null, r: RunModel) =>
      r({ x: { type: 'float32', data: new Float32Array(2 * width), dims: [2, width] } }, ['y']);
    await scoreMerged({
      tasks: [2, 3, 2],
      scoreOne: (width, r) => one(width)(null, r),
      run,
      maxRows: 100,
    });
    expect(calls).toEqual([
      [4, 2],
      [2, 3],
    ]);
  });
});
