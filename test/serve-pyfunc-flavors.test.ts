import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { flavorsPython } from '../testkit/peers/flavors.js';
import { readPeers } from '../testkit/peers/peer-run.js';
import { startMlflowModelsServe, type MlflowModelsServe } from '../testkit/peers/mlflow-serve.js';
import { startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';
import { FIXTURE_MODELS } from './fixture-models.js';
import { askInvocations, type InvocationAnswer, type InvocationCase } from '../testkit/invocations.js';

/**
 * The pyfunc compatibility corpus (test/serve-compat.test.ts) on the XGBoost and LightGBM flavors: the same
 * requests to `mlflow models serve` and to modelctl's pyfunc runtime, both on the flavors venv (MLflow with
 * xgboost and lightgbm, testkit/peers/flavors), on models built by test/fixtures/pyfunc/make-flavor-models.py.
 * Same status, error_code and message; predictions equal.
 */
const j = (name: string, doc: unknown, type = 'application/json'): InvocationCase => ({
  name,
  body: JSON.stringify(doc),
  type,
});
const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 4.2, 1.5],
];
const named = (rows: number[][], extra: Record<string, unknown> = {}) =>
  rows.map(([a, b, c, d]) => ({ a, b, c, d, ...extra }));

/** Requests both models take (lightgbm's n column added where `n` is set). */
function corpus(n: boolean): InvocationCase[] {
  const cols = n ? ['a', 'b', 'c', 'd', 'n'] : ['a', 'b', 'c', 'd'];
  const rows = ROWS.map((r, i) => (n ? [...r, i] : r));
  const extra = (i: number) => (n ? { n: i } : {});
  return [
    j('dataframe_split', { dataframe_split: { columns: cols, data: rows } }),
    j('dataframe_split with an index', { dataframe_split: { index: [7, 8, 9], columns: cols, data: rows } }),
    j('dataframe_records', { dataframe_records: ROWS.map((r, i) => ({ ...named([r])[0], ...extra(i) })) }),
    j('instances of records', { instances: named([ROWS[0]!], extra(1)) }),
    j('inputs as columns', {
      inputs: Object.fromEntries(cols.map((c, k) => [c, rows.map((r) => r[k])])),
    }),
    j('integers for double columns', { dataframe_records: [{ a: 5, b: 3, c: 1, d: 0, ...extra(2) }] }),
    j('params the model ignores', { dataframe_records: named([ROWS[1]!], extra(0)), params: { x: 1 } }),
    {
      name: 'csv',
      body: `${cols.join(',')}\n${rows.map((r) => r.join(',')).join('\n')}\n`,
      type: 'text/csv',
    },
    j('a missing column', { dataframe_records: [{ a: 1, b: 2, c: 3 }] }),
    j('an extra column', { dataframe_records: [{ a: 1, b: 2, c: 3, d: 4, e: 5, ...extra(0) }] }),
    j('a string for a double column', { dataframe_records: [{ a: 'x', b: 2, c: 3, d: 4, ...extra(0) }] }),
    j('a null value', { dataframe_records: [{ a: null, b: 2, c: 3, d: 4, ...extra(0) }] }),
    j('a bare tensor for a column signature', { inputs: [ROWS[0]] }),
    j('empty records', { dataframe_records: [] }),
    j('a list body', [1, 2]),
    j('an unknown key', { data: [ROWS[0]] }),
    { name: 'malformed JSON', body: '{bad json', type: 'application/json' },
    { name: 'text/plain', body: '{}', type: 'text/plain' },
  ];
}

/** The whole body for a 200; status, error_code and message for an error (Python sets sorted); 415: the status. */
function comparable(a: InvocationAnswer): unknown {
  if (a.status === 415) return { status: 415 };
  if (a.status === 200 || typeof a.body !== 'object' || a.body === null) return a;
  const { error_code, message } = a.body as { error_code?: unknown; message?: unknown };
  const sortedSets = String(message).replace(/\{('[^']*'(?:, '[^']*')*)\}/g, (_m, items: string) => {
    return `{${items.split(', ').sort().join(', ')}}`;
  });
  return { status: a.status, error_code, message: sortedSets };
}

describe.each([
  { model: 'xgboost-booster', n: false },
  { model: 'lightgbm-classifier', n: true },
])('modelctl serve (pyfunc runtime) answers like mlflow models serve on $model', ({ model, n }) => {
  let ours: ModelctlProcess;
  let theirs: MlflowModelsServe;
  const dir = path.join(FIXTURE_MODELS, model);
  beforeAll(async () => {
    const python = await flavorsPython();
    [ours, theirs] = await Promise.all([
      startModelctlServe(
        { MODEL_LOCAL_PATH: dir, SERVE_PYTHON: python, SERVE_MAX_CONCURRENCY: '1' },
        { readyTimeoutMs: 120_000 },
      ),
      startMlflowModelsServe({ runDir: readPeers().runDir, modelPath: dir, python }),
    ]);
  }, 1_200_000); // the flavors venv is built on first use
  afterAll(async () => {
    await Promise.all([ours?.stop(), theirs?.stop()]);
  });

  it('gives the same status and body to every request of its corpus', async () => {
    const differences: unknown[] = [];
    let predictions = 0;
    for (const c of corpus(n)) {
      const [a, b] = await Promise.all([askInvocations(ours.url, c), askInvocations(theirs.url, c)]);
      if (b.status === 200) predictions++;
      if (JSON.stringify(comparable(a)) !== JSON.stringify(comparable(b)))
        differences.push({ case: c.name, modelctl: a, mlflow: b });
    }
    expect(differences).toEqual([]);
    expect(predictions).toBeGreaterThanOrEqual(6);
  }, 120_000);
});
