import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { startMlserver, type MlserverPeer } from '../testkit/peers/mlserver.js';
import { flavorsPython } from '../testkit/peers/flavors.js';
import { venvPython } from '../testkit/peers/mlflow.js';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';
import { FIXTURE_MODELS } from './fixture-models.js';

/**
 * OIP v2 on the pyfunc runtime against MLServer's MLflow runtime (PyPI mlserver + mlserver-mlflow 1.7.1, its own
 * venv: testkit/peers/mlserver, with xgboost-cpu and lightgbm at the image's pins) on three models: the
 * iris-sklearn example (mlflow.sklearn, predict_proba, named double columns), and the XGBoost (Booster, a float32
 * tensor output) and LightGBM (LGBMClassifier, a long column beside the doubles, an int64 output) fixtures of
 * test/fixtures/pyfunc/make-flavor-models.py, modelctl on the venv that has their flavors. The same requests to
 * both; a request MLServer answers is answered with the same outputs (names, datatypes, shapes, values within
 * 1e-12 relative), a request it refuses is refused with MLflow's own reason. Not compared: MLServer's envelope
 * extras (an `id` it makes up, `parameters.content_type` on the answer and each output), and the status of a
 * refusal (MLServer answers a model's refusal 500, modelctl 400: the request is at fault).
 * KServe v1 is not compared: MLServer does not serve it (its REST routes are OIP v2 only).
 */
const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
];
const column = (name: string, datatype: string, data: unknown[], extra: Record<string, unknown> = {}) => ({
  name,
  datatype,
  shape: [data.length, 1],
  data,
  ...extra,
});

interface ModelCase {
  model: string;
  dir: string;
  python: () => Promise<string>;
  /** LightGBM's fixture has a long column `n` after the four doubles */
  n: boolean;
}

/** The double columns a..d of `rows` (and the long column `n`, 0..rows-1, when the model has it). */
function rowsAs(rows: number[][], n: boolean, datatype = 'FP64', extra: Record<string, unknown> = {}) {
  const doubles = ['a', 'b', 'c', 'd'].map((name, i) =>
    column(
      name,
      datatype,
      rows.map((r) => r[i]!),
      extra,
    ),
  );
  return n
    ? [
        ...doubles,
        column(
          'n',
          'INT64',
          rows.map((_r, i) => i),
          extra,
        ),
      ]
    : doubles;
}

function cases(n: boolean): { name: string; body: Record<string, unknown> }[] {
  const rows = (r: number[][], datatype?: string, extra?: Record<string, unknown>) => rowsAs(r, n, datatype, extra);
  return [
    { name: 'one row', body: { inputs: rows([ROWS[0]!]) } },
    { name: 'two rows', body: { inputs: rows(ROWS) } },
    { name: 'FP32 columns', body: { inputs: rows([ROWS[1]!], 'FP32') } },
    { name: 'flat shapes', body: { inputs: rows(ROWS).map((c) => ({ ...c, shape: [2] })) } },
    { name: 'nested data', body: { inputs: rows([ROWS[0]!]).map((c) => ({ ...c, data: [c.data] })) } },
    { name: 'an id', body: { id: 'req-1', inputs: rows([ROWS[1]!]) } },
    // the metadata names the unnamed output output-0, the answer output-1 (MLServer's names): all are answered
    { name: 'outputs named as in the metadata', body: { inputs: rows([ROWS[1]!]), outputs: [{ name: 'output-0' }] } },
    { name: 'np content type', body: { inputs: rows([ROWS[0]!], 'FP64', { parameters: { content_type: 'np' } }) } },
    { name: 'pd content type', body: { inputs: rows([ROWS[0]!]), parameters: { content_type: 'pd' } } },
    { name: 'params the model ignores', body: { inputs: rows([ROWS[0]!]), parameters: { x: 1 } } },
    { name: 'INT64 for double columns', body: { inputs: rows([[5, 3, 1, 0]], 'INT64') } },
    { name: 'a missing column', body: { inputs: rows([ROWS[0]!]).slice(0, 3) } },
    ...(n
      ? [
          {
            name: 'INT32 for the long column',
            body: { inputs: rows([ROWS[1]!]).map((c) => (c.name === 'n' ? { ...c, datatype: 'INT32' } : c)) },
          },
          {
            name: 'FP64 for the long column',
            body: {
              inputs: rows([ROWS[1]!]).map((c) => (c.name === 'n' ? { ...c, datatype: 'FP64', data: [0.5] } : c)),
            },
          },
        ]
      : []),
  ];
}

const MODELS: ModelCase[] = [
  { model: 'iris-sklearn', dir: path.join(EXAMPLE_MODELS, 'iris-sklearn'), python: venvPython, n: false },
  { model: 'xgboost-booster', dir: path.join(FIXTURE_MODELS, 'xgboost-booster'), python: flavorsPython, n: false },
  {
    model: 'lightgbm-classifier',
    dir: path.join(FIXTURE_MODELS, 'lightgbm-classifier'),
    python: flavorsPython,
    n: true,
  },
];

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function infer(url: string, body: unknown): Promise<Answer> {
  const res = await fetch(`${url}/v2/models/m/infer`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

interface Output {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown[];
}

const outputsOf = (a: Answer) =>
  ((a.body['outputs'] ?? []) as Output[]).map(({ name, datatype, shape, data }) => ({ name, datatype, shape, data }));

function close(x: unknown, y: unknown): boolean {
  if (typeof x === 'number' && typeof y === 'number') return Math.abs(x - y) <= 1e-12 * Math.max(1, Math.abs(y));
  if (Array.isArray(x) && Array.isArray(y)) return x.length === y.length && x.every((v, i) => close(v, y[i]));
  if (x && y && typeof x === 'object' && typeof y === 'object')
    return Object.keys({ ...x, ...y }).every((k) =>
      close((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k]),
    );
  return x === y;
}

/** What is compared of two answers to one request; `null` when they agree. */
function difference(ours: Answer, theirs: Answer): unknown {
  if (theirs.status === 200) {
    if (ours.status !== 200) return { ours };
    const a = outputsOf(ours);
    const b = outputsOf(theirs);
    if (!close(a, b)) return { ours: a, mlserver: b };
    if (ours.body['model_name'] !== theirs.body['model_name']) return { model_name: [ours.body, theirs.body] };
    return null;
  }
  // MLServer: "mlflow.exceptions.MlflowException: <MLflow's message>"; modelctl: MLflow's invocations wording
  // around the same message
  const reason = String(theirs.body['error']).replace(/^mlflow\.exceptions\.MlflowException: /, '');
  if (ours.status !== 400 || !String(ours.body['error']).includes(reason)) return { ours, mlserver: theirs };
  return null;
}

describe.each(MODELS)('OIP v2 on the pyfunc runtime vs MLServer (mlserver-mlflow) on $model', ({ dir, python, n }) => {
  let ours: ModelctlProcess;
  let theirs: MlserverPeer;
  beforeAll(async () => {
    [ours, theirs] = await Promise.all([
      startModelctlServe(
        { MODEL_LOCAL_PATH: dir, MODEL_NAME: 'm', SERVE_PYTHON: await python(), SERVE_MAX_CONCURRENCY: '1' },
        { readyTimeoutMs: 120_000 },
      ),
      startMlserver({
        modelDir: dir,
        name: 'm',
        workers: 1,
        maxBatchSize: 1,
        maxBatchTimeS: 0,
        startTimeoutMs: 180_000,
      }),
    ]);
  }, 1_200_000); // the flavors and mlserver venvs are built on first use
  afterAll(async () => {
    await Promise.all([ours?.stop(), theirs?.stop()]);
  });

  it('answers every request with MLServer’s outputs, or refuses it for MLflow’s reason', async () => {
    const differences: unknown[] = [];
    let answered = 0;
    for (const c of cases(n)) {
      const [a, b] = await Promise.all([infer(ours.url, c.body), infer(theirs.url, c.body)]);
      if (b.status === 200) answered++;
      const d = difference(a, b);
      if (d !== null) differences.push({ case: c.name, ...(d as object) });
    }
    expect(differences).toEqual([]);
    expect(answered).toBeGreaterThanOrEqual(8);
  }, 120_000);
});
