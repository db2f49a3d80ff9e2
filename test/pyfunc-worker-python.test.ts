import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { venvPython, venvEnv } from '../testkit/peers/mlflow.js';
import { EXAMPLE_MODELS, REPO_ROOT } from '../testkit/modelctl-process.js';

/**
 * The pyfunc worker's own Python (functions/serve/pyfunc), run in the testing ground's venv on the iris-sklearn
 * example: what its speed-ups must leave unchanged.
 * - OneShotJson: MLflow's predictions_to_json writes the same text through it (json.dumps, the C encoder) as
 *   through json.dump (the pure-Python encoder) for every kind of prediction a model returns.
 * - The merged parse of a batch takes JSON bodies whose double columns mix integers and floats (JSON.stringify
 *   writes 2.0 as 2), and answers each as the unbatched path answers it alone; an integer past 2**53 in a double
 *   column is left to the per-request path.
 */
const SCRIPT = String.raw`
import json, math, sys, datetime
sys.path.insert(0, sys.argv[1])
import numpy as np, pandas as pd
import pyfunc_worker, pyfunc_batch

worker = pyfunc_worker.Worker(sys.argv[2])
scoring = worker.scoring
report = {"installed": type(scoring.json).__name__}

predictions = {
    "float64 2d": np.array([[0.1, 1 / 3, 1e-300], [2.5e17, -0.0, 7.0]]),
    "float32": np.array([0.1, 1 / 3], dtype=np.float32),
    "int64": np.array([1, -2, 2**62]),
    "bool": np.array([True, False]),
    "strings": np.array(["a", "zoë 名", 'quote " \\ \n'], dtype=object),
    "nan and inf": np.array([math.nan, math.inf, -math.inf]),
    "frame": pd.DataFrame({"x": [1.5, 2.0], "s": ["a", "b"], "n": [1, 2], "t": pd.to_datetime(["2024-01-01", "2024-02-03"])}),
    "series": pd.Series([0.25, 0.5], name="p"),
    "dict of arrays": {"a": np.array([1.0, 2.0]), "b": np.float32(0.5), "c": np.int64(3)},
    "records": [{"k": np.float64(0.1), "d": datetime.date(2024, 1, 2)}, {"k": None, "b": b"\x00\x01"}],
    "scalar": np.float64(1 / 7),
    "empty": np.zeros((0, 3)),
}
from io import StringIO
differences = []
for name, value in predictions.items():
    outputs = []
    for module in (json, pyfunc_worker.OneShotJson()):
        scoring.json = module
        out = StringIO()
        try:
            scoring.predictions_to_json(value, out)
            outputs.append(out.getvalue())
        except Exception as e:
            outputs.append(f"{type(e).__name__}: {e}")
    if outputs[0] != outputs[1]:
        differences.append({"case": name, "json.dump": outputs[0], "OneShotJson": outputs[1]})
report["differences"] = differences
report["compared"] = len(predictions)

header = {"protocol": "mlflow", "contentType": "application/json"}
def body(rows):
    return json.dumps({"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": rows}}).encode()
bodies = [
    body([[5, 3.5, 1.4, 0], [6.7, 3, 5.2, 2.3]]),
    body([[5.9, 3.0, 4.2, 1.5]]),
    body([[6, 3, 4, 1]]),
    json.dumps({"dataframe_records": [{"a": 5, "b": 3.5, "c": 1, "d": 0.5}]}).encode(),
]
items = [(header, b) for b in bodies]
answers = [None] * len(items)
rest = pyfunc_batch.score_merged_json(worker, items, answers)
report["merged"] = len(items) - len(rest)
report["alone"] = [json.loads(worker.answer(header, b)[1]) for b in bodies]
report["batched"] = [json.loads(a[1]) if a else None for a in answers]
big = [(header, body([[2**53 + 1, 3.5, 1.4, 0.2]])), (header, body([[5.5, 3, 1.4, 0.2]])), (header, body([[5, 3.5, 1, 0.2]]))]
report["big_int_rest"] = pyfunc_batch.score_merged_json(worker, big, [None] * 3)
print(json.dumps(report))
`;

function close(x: unknown, y: unknown): boolean {
  if (typeof x === 'number' && typeof y === 'number') return Math.abs(x - y) <= 1e-12 * Math.max(1, Math.abs(y));
  if (Array.isArray(x) && Array.isArray(y)) return x.length === y.length && x.every((v, i) => close(v, y[i]));
  if (x && y && typeof x === 'object' && typeof y === 'object')
    return Object.keys(x).every((k) => close((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k]));
  return x === y;
}

describe('pyfunc worker (Python)', () => {
  it('formats as MLflow does through the C encoder, and merges double columns of integers and floats', async () => {
    const python = await venvPython();
    const { stdout } = await promisify(execFile)(
      python,
      ['-c', SCRIPT, path.join(REPO_ROOT, 'functions', 'serve', 'pyfunc'), path.join(EXAMPLE_MODELS, 'iris-sklearn')],
      { env: venvEnv(python, { MLFLOW_DISABLE_TELEMETRY: 'true' }), maxBuffer: 1 << 24 },
    );
    const report = JSON.parse(stdout.trim().split('\n').pop()!) as {
      installed: string;
      differences: unknown[];
      compared: number;
      merged: number;
      alone: unknown[];
      batched: unknown[];
      big_int_rest: number[];
    };
    expect(report.installed).toBe('OneShotJson');
    expect(report.compared).toBe(12);
    expect(report.differences).toEqual([]);
    expect(report.merged).toBe(4);
    expect(report.batched.every((b, i) => close(b, report.alone[i]))).toBe(true);
    expect(report.big_int_rest).toEqual([0]);
  }, 120_000);
});
