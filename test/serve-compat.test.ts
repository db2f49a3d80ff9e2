import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { readPeers } from '../testkit/peers/peer-run.js';
import { startMlflowModelsServe, type MlflowModelsServe } from '../testkit/peers/mlflow-serve.js';
import { venvPython } from '../testkit/peers/mlflow.js';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';
import { askInvocations, type InvocationAnswer, type InvocationCase } from '../testkit/invocations.js';

/**
 * The same requests to `modelctl serve` and to a real `mlflow models serve` on the same model: same status,
 * same error_code, same JSON structure, predictions equal within float32 tolerance.
 */
const IRIS = path.join(EXAMPLE_MODELS, 'iris');
const ROW = [5.1, 3.5, 1.4, 0.2];
const ROWS = [ROW, [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]];
const MANY = Array.from({ length: 50 }, (_v, i) => [4 + (i % 4), 2 + (i % 3) / 2, 1 + (i % 6), (i % 5) / 2]);
const JSON_TYPE = 'application/json';
const cols = (rows: number[][]) => rows.map(([a, b, c, d]) => ({ a, b, c, d }));

const j = (name: string, doc: unknown, type = JSON_TYPE): InvocationCase => ({ name, body: JSON.stringify(doc), type });

const CORPUS: InvocationCase[] = [
  j('inputs, one row', { inputs: [ROW] }),
  j('inputs, three rows', { inputs: ROWS }),
  j('inputs, fifty rows', { inputs: MANY }),
  j('instances, rows', { instances: ROWS }),
  j('instances, one row', { instances: [ROW] }),
  j('dataframe_split with columns', { dataframe_split: { columns: ['a', 'b', 'c', 'd'], data: ROWS } }),
  j('dataframe_split with an index', {
    dataframe_split: { index: [7, 8, 9], columns: ['a', 'b', 'c', 'd'], data: ROWS },
  }),
  j('dataframe_records', { dataframe_records: cols(ROWS) }),
  j('dataframe_records, fifty rows', { dataframe_records: cols(MANY) }),
  j('inputs with params', { inputs: ROWS, params: { temperature: 0.5 } }),
  j('instances with params', { instances: ROWS, params: {} }),
  j('integer values for a float tensor', { inputs: [[1, 2, 3, 4]] }),
  j('booleans for a float tensor', { inputs: [[true, 2, 3, false]] }),
  j('numeric strings for a float tensor', { inputs: [['5.1', '3.5', '1.4', '0.2']] }),
  j('charset=UTF-8', { inputs: [ROW] }, 'application/json; charset=UTF-8'),
  j('wrong width: 3 columns', { inputs: [[1, 2, 3]] }),
  j('wrong width: 5 columns', { inputs: [[1, 2, 3, 4, 5]] }),
  j('wrong rank: 1-d', { inputs: ROW }),
  j('wrong rank: 3-d', { inputs: [[ROW]] }),
  j('empty inputs', { inputs: [] }),
  j('a string that is not a number', { inputs: [['x', 3.5, 1.4, 0.2]] }),
  j('inputs as a bare string', { inputs: 'abc' }),
  j('a dict for an unnamed tensor signature', { inputs: { X: [ROW] } }),
  j('instances of dicts for a tensor signature', { instances: cols([ROW]) }),
  j('dataframe_split as a list', { dataframe_split: [1, 2] }),
  j('dataframe_split with two columns', { dataframe_split: { columns: ['a', 'b'], data: [[1, 2]] } }),
  j('a list body', [1, 2]),
  j('an empty dict', {}),
  j('two input keys', { inputs: [ROW], instances: [ROW] }),
  j('only params', { params: { a: 1 } }),
  j('an unknown key', { data: [ROW] }),
  { name: 'malformed JSON', body: '{bad json', type: JSON_TYPE },
  { name: 'text/plain', body: JSON.stringify({ inputs: [ROW] }), type: 'text/plain' },
  { name: 'charset latin-1', body: JSON.stringify({ inputs: [ROW] }), type: 'application/json; charset=latin-1' },
  {
    name: 'an MLflow 1.x format parameter',
    body: JSON.stringify({ inputs: [ROW] }),
    type: 'application/json; format=pandas-split',
  },
  { name: 'application/xml', body: '<x/>', type: 'application/xml' },
];

/** `[[v, 3.5, 1.4, 0.2]]` with `v` as it is written in the JSON text */
const rowWith = (v: string) => `[[${v}, 3.5, 1.4, 0.2]]`;
const raw = (name: string, body: string): InvocationCase => ({ name, body, type: JSON_TYPE });

/**
 * Numbers as Python clients write them: `json.dumps` writes float('nan') as a bare NaN (allow_nan=True is its
 * default), and MLflow converts numeric strings with Python's float(): inf/infinity/nan in any case, underscores
 * between digits, any Unicode digit; no 0x/0b/0o prefixes. JSON.parse and Number() disagree on each.
 */
const PYTHON_NUMBERS: InvocationCase[] = [
  raw('inputs, bare NaN', `{"inputs": ${rowWith('NaN')}}`),
  raw('inputs, bare Infinity', `{"inputs": ${rowWith('Infinity')}}`),
  raw('instances, bare -Infinity', `{"instances": ${rowWith('-Infinity')}}`),
  raw('dataframe_split, bare NaN', `{"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": ${rowWith('NaN')}}}`),
  raw('dataframe_records, bare Infinity', '{"dataframe_records": [{"a": Infinity, "b": 3.5, "c": 1.4, "d": 0.2}]}'),
  raw('bare NaN inside a string stays a string', `{"inputs": ${rowWith('"NaN, 1"')}}`),
  raw('bare nan (not Python JSON)', `{"inputs": ${rowWith('nan')}}`),
  raw('bare inf (not Python JSON)', `{"inputs": ${rowWith('inf')}}`),
  raw('a bare NaN key', `{NaN: 1, "inputs": ${rowWith('1')}}`),
  ...['0x10', '0b1', '0o7', '0x1p3', '1__0', '_1', '1_', 'in f', '1e', '--1', '+-1'].map((v) =>
    raw(`the string ${JSON.stringify(v)} (not a Python float)`, `{"inputs": ${rowWith(JSON.stringify(v))}}`),
  ),
  ...['inf', '-inf', '+inf', 'infinity', 'INF', 'Inf', '-Infinity', 'nan', 'NAN', '-nan', '1_000', '1_0.2_5e0_1'].map(
    (v) => raw(`the string ${JSON.stringify(v)}`, `{"inputs": ${rowWith(JSON.stringify(v))}}`),
  ),
  raw('the string "١" (an Arabic-Indic one)', `{"inputs": ${rowWith('"\u0661"')}}`),
  raw('the string " \t1.5\n "', `{"inputs": ${rowWith('" \t1.5\n "')}}`),
  raw(
    'dataframe_split, the string "0x10"',
    `{"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": ${rowWith('"0x10"')}}}`,
  ),
  raw('dataframe_records, the string "1_000"', '{"dataframe_records": [{"a": "1_000", "b": 3.5, "c": 1.4, "d": 0.2}]}'),
];

/** MLflow writes NaN outputs as a bare NaN, which JSON.parse refuses: read those as null, as modelctl writes them. */
function withNaNAsNull(a: InvocationAnswer): InvocationAnswer {
  if (typeof a.body !== 'string') return a;
  try {
    return { status: a.status, body: JSON.parse(a.body.replace(/-?\bNaN\b|-?\bInfinity\b/g, 'null')) };
  } catch {
    return a;
  }
}

/** The JSON structure: key sets and value kinds, array lengths included. */
function structure(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(structure);
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .sort()
        .map(([k, x]) => [k, structure(x)]),
    );
  return typeof v;
}

function maxDifference(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) / Math.max(1, Math.abs(b));
  if (Array.isArray(a) && Array.isArray(b)) return Math.max(0, ...a.map((x, i) => maxDifference(x, b[i])));
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    return Math.max(
      0,
      ...Object.keys(a).map((k) => maxDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])),
    );
  }
  return 0;
}

/** What we compare: status; for errors, error_code (MLflow also sends sqlstate/error_class/stack_trace: not copied). */
function comparable(a: InvocationAnswer): unknown {
  if (a.status === 200) return { status: 200, structure: structure(a.body) };
  if (a.status === 415 || typeof a.body !== 'object') return { status: a.status };
  return { status: a.status, error_code: (a.body as { error_code?: unknown }).error_code };
}

describe('modelctl serve answers like mlflow models serve', () => {
  let ours: ModelctlProcess;
  let theirs: MlflowModelsServe;
  beforeAll(async () => {
    [ours, theirs] = await Promise.all([
      startModelctlServe({ MODEL_LOCAL_PATH: IRIS }),
      startMlflowModelsServe({ runDir: readPeers().runDir, modelPath: IRIS }),
    ]);
  }, 180_000);
  afterAll(async () => {
    await Promise.all([ours?.stop(), theirs?.stop()]);
  });

  it(`matches on a corpus of ${CORPUS.length} requests`, async () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(30);
    const differences: unknown[] = [];
    let predictionsCompared = 0;
    for (const c of CORPUS) {
      const [a, b] = await Promise.all([askInvocations(ours.url, c), askInvocations(theirs.url, c)]);
      if (JSON.stringify(comparable(a)) !== JSON.stringify(comparable(b))) {
        differences.push({ case: c.name, modelctl: a, mlflow: b });
        continue;
      }
      if (a.status === 200) {
        predictionsCompared++;
        const diff = maxDifference(a.body, b.body);
        if (diff > 1e-6) differences.push({ case: c.name, relativeDifference: diff });
      } else if (a.status !== 415) {
        expect(a.body).toEqual({ error_code: expect.any(String), message: expect.any(String) });
      }
    }
    expect(differences).toEqual([]);
    expect(predictionsCompared).toBeGreaterThanOrEqual(14);
  });

  it(`reads bare NaN/Infinity and numeric strings as MLflow (Python's json and float()) does: ${PYTHON_NUMBERS.length} requests`, async () => {
    const differences: unknown[] = [];
    for (const c of PYTHON_NUMBERS) {
      const [a, b] = await Promise.all([
        askInvocations(ours.url, c),
        askInvocations(theirs.url, c).then(withNaNAsNull),
      ]);
      if (JSON.stringify(comparable(a)) !== JSON.stringify(comparable(b)))
        differences.push({ case: c.name, modelctl: a, mlflow: b });
      else if (a.status === 200 && maxDifference(a.body, b.body) > 1e-6)
        differences.push({ case: c.name, modelctl: a.body, mlflow: b.body });
    }
    expect(differences).toEqual([]);
    // both sides answered both ways: the cases tell accepted from refused, not one or the other only
    const statuses = new Set(
      (await Promise.all(PYTHON_NUMBERS.map((c) => askInvocations(ours.url, c)))).map((a) => a.status),
    );
    expect([...statuses].sort()).toEqual([200, 400]);
  });

  // Where MLflow 3.17's behaviour is a bug, modelctl answers differently on purpose; each case pins both sides.
  it('accepts CSV for a tensor signature, where MLflow fails with "TensorSpec only supports numpy types"', async () => {
    const csv: InvocationCase = {
      name: 'csv',
      body: `a,b,c,d\n${ROWS.map((r) => r.join(',')).join('\n')}\n`,
      type: 'text/csv',
    };
    const [a, b] = await Promise.all([askInvocations(ours.url, csv), askInvocations(theirs.url, csv)]);
    expect(b.status).toBe(400);
    expect(JSON.stringify(b.body)).toContain('TensorSpec only supports numpy types');
    expect(a.status).toBe(200);
    const json = await askInvocations(ours.url, j('same rows', { inputs: ROWS }));
    expect(a.body).toEqual(json.body);
  });

  it('answers a missing Content-Type with 415, where MLflow answers 500', async () => {
    const bare: InvocationCase = { name: 'no content type', body: JSON.stringify({ inputs: [ROW] }) };
    const [a, b] = await Promise.all([askInvocations(ours.url, bare), askInvocations(theirs.url, bare)]);
    expect(b.status).toBe(500);
    expect(a.status).toBe(415);
  });

  it('writes NaN outputs as null (valid JSON), where MLflow writes a bare NaN', async () => {
    const nan = j('null input', { inputs: [[1, 2, 3, null]] });
    const [a, b] = await Promise.all([askInvocations(ours.url, nan), askInvocations(theirs.url, nan)]);
    expect(b.status).toBe(200);
    expect(typeof b.body).toBe('string'); // not parseable as JSON
    expect(b.body).toContain('NaN');
    expect(a).toEqual({
      status: 200,
      body: { predictions: { label: [expect.any(Number)], probabilities: [[null, null, null]] } },
    });
  });
});

// Models without the onnx flavor run on MLflow's own pyfunc in Python workers (SERVE_RUNTIME=auto): the answers
// are MLflow's by construction, so bodies must be equal, error messages included.
const IRIS_SKLEARN = path.join(EXAMPLE_MODELS, 'iris-sklearn');
const CUSTOM_PYFUNC = path.join(EXAMPLE_MODELS, 'custom-pyfunc');
const named = (rows: number[][]) => rows.map(([a, b, c, d]) => ({ a, b, c, d }));
const csv = (name: string, body: string): InvocationCase => ({ name, body, type: 'text/csv' });

const SKLEARN_CORPUS: InvocationCase[] = [
  j('dataframe_split', { dataframe_split: { columns: ['a', 'b', 'c', 'd'], data: ROWS } }),
  j('dataframe_split with an index', {
    dataframe_split: { index: [4, 5, 6], columns: ['a', 'b', 'c', 'd'], data: ROWS },
  }),
  j('dataframe_records, fifty rows', { dataframe_records: named(MANY) }),
  j('instances of records', { instances: named(ROWS) }),
  j('inputs of records', { inputs: named(ROWS) }),
  j('inputs as columns', { inputs: { a: [5.1], b: [3.5], c: [1.4], d: [0.2] } }),
  j('integers for double columns', { dataframe_records: [{ a: 5, b: 3, c: 1, d: 0 }] }),
  j('params the model ignores', { dataframe_records: named([ROW]), params: { x: 1 } }),
  csv('csv', `a,b,c,d\n${ROWS.map((r) => r.join(',')).join('\n')}\n`),
  csv('csv with a missing column', 'a,b,c\n1,2,3\n'),
  j('a missing column', { dataframe_records: [{ a: 1, b: 2, c: 3 }] }),
  j('an extra column', { dataframe_records: [{ a: 1, b: 2, c: 3, d: 4, e: 5 }] }),
  j('a string for a double column', { dataframe_records: [{ a: 'x', b: 2, c: 3, d: 4 }] }),
  j('a null value', { dataframe_records: [{ a: null, b: 2, c: 3, d: 4 }] }),
  j('a bare tensor for a column signature', { inputs: [ROW] }),
  j('empty records', { dataframe_records: [] }),
  j('a list body', [1, 2]),
  j('two input keys', { inputs: [ROW], instances: [ROW] }),
  j('an unknown key', { data: [ROW] }),
  { name: 'malformed JSON', body: '{bad json', type: JSON_TYPE },
  { name: 'text/plain', body: '{}', type: 'text/plain' },
  { name: 'charset latin-1', body: '{}', type: 'application/json; charset=latin-1' },
];

const PEOPLE = [
  { name: 'ada', x: 1.5, y: 0.5 },
  { name: 'alan', x: 2, y: 1 },
];
const CUSTOM_CORPUS: InvocationCase[] = [
  j('records with defaults', { dataframe_records: PEOPLE }),
  j('params', { dataframe_records: PEOPLE, params: { scale: 3, greeting: 'hi' } }),
  j('an unknown param', { dataframe_records: PEOPLE, params: { nope: 1 } }),
  j('a param of the wrong type', { dataframe_records: PEOPLE, params: { scale: 'big' } }),
  j('the optional column left out', { dataframe_records: [{ name: 'grace', x: 4 }] }),
  j('the required string column left out', { dataframe_records: [{ x: 4 }] }),
  j('a number for the string column', { dataframe_records: [{ name: 7, x: 4 }] }),
  j('dataframe_split', { dataframe_split: { columns: ['name', 'x'], data: [['kay', 1]] }, params: { scale: 0.5 } }),
  j('instances', { instances: PEOPLE }),
  j('inputs as columns', { inputs: { name: ['a', 'b'], x: [1, 2] } }),
  j('unicode', { dataframe_records: [{ name: 'zoë 名', x: 1 }], params: { greeting: 'salut' } }),
  csv('csv', 'name,x,y\nada,1.5,0.5\nalan,2,\n'),
  j('only params', { params: { scale: 2 } }),
  { name: 'malformed JSON', body: '{"dataframe_records": [', type: JSON_TYPE },
];

/**
 * The whole body for a 200; for an error, error_code and message (MLflow also sends error_class/sqlstate), with
 * Python set literals sorted (their order is hash-seeded per process); for a 415, the status (ours lists only the
 * content types the front end takes).
 */
function pyfuncComparable(a: InvocationAnswer): unknown {
  if (a.status === 200 || typeof a.body !== 'object') return a.status === 415 ? { status: 415 } : a;
  const { error_code, message } = a.body as { error_code?: unknown; message?: unknown };
  const sortedSets = String(message).replace(/\{('[^']*'(?:, '[^']*')*)\}/g, (_m, items: string) => {
    return `{${items.split(', ').sort().join(', ')}}`;
  });
  return { status: a.status, error_code, message: sortedSets };
}

describe.each([
  { model: 'iris-sklearn', dir: IRIS_SKLEARN, corpus: SKLEARN_CORPUS },
  { model: 'custom-pyfunc', dir: CUSTOM_PYFUNC, corpus: CUSTOM_CORPUS },
])('modelctl serve (pyfunc runtime) answers like mlflow models serve on $model', ({ dir, corpus }) => {
  let ours: ModelctlProcess;
  let theirs: MlflowModelsServe;
  beforeAll(async () => {
    const python = await venvPython();
    [ours, theirs] = await Promise.all([
      startModelctlServe(
        { MODEL_LOCAL_PATH: dir, SERVE_PYTHON: python, SERVE_MAX_CONCURRENCY: '1' },
        { readyTimeoutMs: 120_000 },
      ),
      startMlflowModelsServe({ runDir: readPeers().runDir, modelPath: dir }),
    ]);
  }, 180_000);
  afterAll(async () => {
    await Promise.all([ours?.stop(), theirs?.stop()]);
  });

  it('gives the same status and body to every request of its corpus', async () => {
    const differences: unknown[] = [];
    let predictions = 0;
    for (const c of corpus) {
      const [a, b] = await Promise.all([askInvocations(ours.url, c), askInvocations(theirs.url, c)]);
      if (b.status === 200) predictions++;
      if (JSON.stringify(pyfuncComparable(a)) !== JSON.stringify(pyfuncComparable(b)))
        differences.push({ case: c.name, modelctl: a, mlflow: b });
    }
    expect(differences).toEqual([]);
    expect(predictions).toBeGreaterThanOrEqual(6);
  });
});
