import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { readPeers } from '../testkit/peers/peer-run.js';
import { startMlflowModelsServe, type MlflowModelsServe } from '../testkit/peers/mlflow-serve.js';
import { venvPython } from '../testkit/peers/mlflow.js';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';

/**
 * SERVE_PYFUNC_BATCHING=rows: requests that arrive together share one predict call (one worker, held up to
 * 300 ms for company), and each still gets the answer `mlflow models serve` gives it alone: predictions equal
 * within float tolerance (a matrix product over more rows may round the last bit differently), errors equal,
 * the bad request of a batch alone refused. Requests of the other protocols get what the same server answers
 * them alone.
 */
interface Case {
  name: string;
  path?: string;
  body: string;
  type?: string;
}
const j = (name: string, doc: unknown, type = 'application/json'): Case => ({ name, body: JSON.stringify(doc), type });
const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 4.2, 1.5],
];
const named = (rows: number[][]) => rows.map(([a, b, c, d]) => ({ a, b, c, d }));
const split = (rows: number[][]) => ({ dataframe_split: { columns: ['a', 'b', 'c', 'd'], data: rows } });

const SKLEARN: Case[] = [
  ...ROWS.map((r, i) => j(`split, row ${i}`, split([r]))),
  j('split, three rows', split(ROWS)),
  j('split, integers', split([[5, 3, 1, 0]])),
  j('records', { dataframe_records: named(ROWS) }),
  j('records, one row', { dataframe_records: named([ROWS[1]!]) }),
  j('records with params the model ignores', { dataframe_records: named([ROWS[2]!]), params: { x: 1 } }),
  j('split with an index', { dataframe_split: { index: [4, 5, 6], columns: ['a', 'b', 'c', 'd'], data: ROWS } }),
  j('split, columns in another order', {
    dataframe_split: { columns: ['d', 'c', 'b', 'a'], data: [[0.2, 1.4, 3.5, 5.1]] },
  }),
  j('instances of records', { instances: named(ROWS) }),
  j('inputs as columns', { inputs: { a: [5.1], b: [3.5], c: [1.4], d: [0.2] } }),
  { name: 'csv', body: 'a,b,c,d\n5.1,3.5,1.4,0.2\n', type: 'text/csv' },
  j('a string for a double column', { dataframe_records: [{ a: 'x', b: 2, c: 3, d: 4 }] }),
  j('a string among numbers', split([ROWS[0]!, ['x', 3, 1, 0] as unknown as number[]])),
  j('a null value', { dataframe_records: [{ a: null, b: 2, c: 3, d: 4 }] }),
  j('a missing column', { dataframe_records: [{ a: 1, b: 2, c: 3 }] }),
  j('empty records', { dataframe_records: [] }),
  { name: 'malformed JSON', body: '{bad json', type: 'application/json' },
  { name: 'charset latin-1', body: '{}', type: 'application/json; charset=latin-1' },
];

const PEOPLE = [
  { name: 'ada', x: 1.5, y: 0.5 },
  { name: 'alan', x: 2, y: 1 },
];
const CUSTOM: Case[] = [
  j('records', { dataframe_records: PEOPLE }),
  j('one record', { dataframe_records: [{ name: 'bo', x: 2.5, y: 1.5 }] }),
  j('another record', { dataframe_records: [{ name: 'cy', x: 0.5, y: 3.5 }] }),
  j('params', { dataframe_records: PEOPLE, params: { scale: 3, greeting: 'hi' } }),
  j('other params', { dataframe_records: [{ name: 'di', x: 1.5, y: 1.5 }], params: { scale: 0.5 } }),
  j('a param of the wrong type', { dataframe_records: PEOPLE, params: { scale: 'big' } }),
  j('the optional column left out', { dataframe_records: [{ name: 'grace', x: 4 }] }),
  j('a number for the string column', { dataframe_records: [{ name: 7, x: 4 }] }),
  j('unicode', { dataframe_records: [{ name: 'zoë 名', x: 1 }], params: { greeting: 'salut' } }),
  { name: 'csv', body: 'name,x,y\nada,1.5,0.5\nalan,2,\n', type: 'text/csv' },
  { name: 'malformed JSON', body: '{"dataframe_records": [', type: 'application/json' },
];

/** Requests of the other protocols, answered by the batched server (together, then each alone). */
const SKLEARN_OTHER: Case[] = [
  { name: 'v1', path: '/v1/models/m:predict', body: JSON.stringify({ instances: named([ROWS[0]!]) }) },
  {
    name: 'v2',
    path: '/v2/models/m/infer',
    body: JSON.stringify({
      inputs: ['a', 'b', 'c', 'd'].map((n, i) => ({ name: n, shape: [1, 1], datatype: 'FP64', data: [ROWS[1]![i]] })),
    }),
  },
  {
    name: 'v2, two rows',
    path: '/v2/models/m/infer',
    body: JSON.stringify({
      inputs: ['a', 'b', 'c', 'd'].map((n, i) => ({
        name: n,
        shape: [2, 1],
        datatype: 'FP64',
        data: [ROWS[0]![i], ROWS[2]![i]],
      })),
    }),
  },
  { name: 'v2, bad datatype', path: '/v2/models/m/infer', body: JSON.stringify({ inputs: [{ name: 'a' }] }) },
];

interface Answer {
  status: number;
  body: unknown;
}

async function ask(url: string, c: Case): Promise<Answer> {
  const res = await fetch(`${url}${c.path ?? '/invocations'}`, {
    method: 'POST',
    headers: { 'Content-Type': c.type ?? 'application/json' },
    body: new TextEncoder().encode(c.body),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: compared as text
  }
  return { status: res.status, body };
}

/** Equal JSON, numbers within 1e-9 relative; for errors only status, error_code and message count. */
function same(a: Answer, b: Answer): boolean {
  if (a.status !== b.status) return false;
  if (a.status === 415) return true; // ours lists only the content types the front end takes
  if (a.status !== 200 && typeof a.body === 'object' && typeof b.body === 'object') {
    const pick = (x: unknown) => {
      const { error_code, message, error } = x as Record<string, unknown>;
      return { error_code, message: String(message ?? error).replace(/\{[^}]*\}/g, '{…}') };
    };
    return JSON.stringify(pick(a.body)) === JSON.stringify(pick(b.body));
  }
  return close(a.body, b.body);
}

function close(x: unknown, y: unknown): boolean {
  if (typeof x === 'number' && typeof y === 'number') return Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y));
  if (Array.isArray(x) && Array.isArray(y)) return x.length === y.length && x.every((v, i) => close(v, y[i]));
  if (isObject(x) && isObject(y)) return closeObjects(x, y);
  return x === y;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object';

/** The same keys, each value close. */
function closeObjects(x: Record<string, unknown>, y: Record<string, unknown>): boolean {
  const kx = Object.keys(x).sort();
  const ky = Object.keys(y).sort();
  return JSON.stringify(kx) === JSON.stringify(ky) && kx.every((k) => close(x[k], y[k]));
}

/** Count and sum of modelctl_serve_batch_size: how many batches ran, holding how many requests. */
async function batches(url: string): Promise<{ count: number; sum: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { count: read('modelctl_serve_batch_size_count'), sum: read('modelctl_serve_batch_size_sum') };
}

describe.each([
  { model: 'iris-sklearn', corpus: SKLEARN, other: SKLEARN_OTHER },
  { model: 'custom-pyfunc', corpus: CUSTOM, other: [] as Case[] },
])('SERVE_PYFUNC_BATCHING=rows on $model', ({ model, corpus, other }) => {
  let ours: ModelctlProcess;
  let theirs: MlflowModelsServe;
  const dir = path.join(EXAMPLE_MODELS, model);
  beforeAll(async () => {
    [ours, theirs] = await Promise.all([
      startModelctlServe(
        {
          MODEL_LOCAL_PATH: dir,
          MODEL_NAME: 'm',
          SERVE_PYTHON: await venvPython(),
          SERVE_MAX_CONCURRENCY: '1',
          SERVE_PYFUNC_BATCHING: 'rows',
          SERVE_MAX_BATCH_SIZE: '1000',
          SERVE_MAX_BATCH_DELAY_MS: '300',
        },
        { readyTimeoutMs: 120_000 },
      ),
      startMlflowModelsServe({ runDir: readPeers().runDir, modelPath: dir }),
    ]);
  }, 180_000);
  afterAll(async () => {
    await Promise.all([ours?.stop(), theirs?.stop()]);
  });

  it('answers requests sent together as mlflow models serve answers each alone, in fewer predict calls', async () => {
    const before = await batches(ours.url);
    const together = await Promise.all([...corpus, ...other].map((c) => ask(ours.url, c)));
    const after = await batches(ours.url);
    const differences: unknown[] = [];
    let predictions = 0;
    for (const [i, c] of corpus.entries()) {
      const alone = await ask(theirs.url, c);
      if (alone.status === 200) predictions++;
      if (!same(together[i]!, alone)) differences.push({ case: c.name, batched: together[i], mlflow: alone });
    }
    for (const [k, c] of other.entries()) {
      const alone = await ask(ours.url, c);
      const got = together[corpus.length + k]!;
      if (!same(got, alone)) differences.push({ case: c.name, batched: got, alone });
    }
    expect(differences).toEqual([]);
    expect(predictions).toBeGreaterThanOrEqual(5);
    // every /invocations request went through the batcher (the front end refuses a malformed v2 one), sharing calls
    const scored = after.sum - before.sum;
    expect(scored).toBeGreaterThanOrEqual(corpus.length);
    expect(after.count - before.count).toBeLessThan(scored / 2);
  }, 120_000);
});

/**
 * SERVE_PYFUNC_BATCHING unset (auto): a flavor that predicts row by row with a batch dimension in its signature
 * (iris-sklearn: mlflow.sklearn predict_proba, named columns) is batched; a custom PythonModel (custom-pyfunc)
 * is not, whatever arrives together.
 */
describe.each([
  { model: 'iris-sklearn', batched: true },
  { model: 'custom-pyfunc', batched: false },
])('SERVE_PYFUNC_BATCHING unset on $model', ({ model, batched }) => {
  let ours: ModelctlProcess;
  beforeAll(async () => {
    ours = await startModelctlServe(
      {
        MODEL_LOCAL_PATH: path.join(EXAMPLE_MODELS, model),
        SERVE_PYTHON: await venvPython(),
        SERVE_MAX_CONCURRENCY: '1',
        SERVE_MAX_BATCH_DELAY_MS: '300',
      },
      { readyTimeoutMs: 120_000 },
    );
  }, 180_000);
  afterAll(async () => {
    await ours?.stop();
  });

  it(
    batched ? 'merges requests that arrive together' : 'runs each request alone',
    async () => {
      const corpus = model === 'iris-sklearn' ? SKLEARN.slice(0, 4) : CUSTOM.slice(0, 3);
      const before = await batches(ours.url);
      const answers = await Promise.all(corpus.map((c) => ask(ours.url, c)));
      const after = await batches(ours.url);
      expect(answers.map((a) => a.status)).toEqual(corpus.map(() => 200));
      expect(after.sum - before.sum).toBe(corpus.length);
      if (batched) expect(after.count - before.count).toBeLessThan(corpus.length);
      else expect(after.count - before.count).toBe(corpus.length);
    },
    60_000,
  );
});
