import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { venvEnv, venvPython } from '../testkit/peers/mlflow.js';
import { REPO_ROOT } from '../testkit/modelctl-process.js';
import { formatFloatPredictions, pythonFloat } from '../functions/serve/pyfunc/python-json-floats.js';

/**
 * A batched pyfunc worker answers float predictions as raw float64 values (pyfunc_batch.float_rows) and the front
 * end writes each request's JSON (python-json-floats.ts): the text must be what MLflow's predictions_to_json
 * writes, byte for byte, in the testing ground's CPython.
 */
const run = promisify(execFile);
const PYFUNC_DIR = path.join(REPO_ROOT, 'functions', 'serve', 'pyfunc');

/** `count` doubles of every kind: random bit patterns, random magnitudes, float32 values, integers. */
function doubles(count: number): Float64Array {
  const out = new Float64Array(count);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < count; i++) {
    const kind = i % 4;
    if (kind === 0) {
      bits[2 * i] = (Math.random() * 2 ** 32) >>> 0;
      bits[2 * i + 1] = (Math.random() * 2 ** 32) >>> 0;
    } else if (kind === 1) out[i] = (Math.random() - 0.5) * 10 ** Math.floor(Math.random() * 44 - 22);
    else if (kind === 2) out[i] = Math.fround(Math.random() * 1000);
    else out[i] = Math.round(Math.random() * 10 ** Math.floor(Math.random() * 20));
  }
  return out;
}

describe('the front end writes float predictions as MLflow does', () => {
  it('writes every double as CPython’s json.dumps does', async () => {
    const values = doubles(40_000);
    const script =
      'import json, sys\nfrom array import array\na = array("d"); a.frombytes(sys.stdin.buffer.read())\nprint("\\n".join(json.dumps(x) for x in a))';
    const child = execFile(await venvPython(), ['-c', script], { maxBuffer: 64 << 20 });
    const output = new Promise<string>((resolve, reject) => {
      let text = '';
      child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
      child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`python exited ${code}`))));
    });
    child.stdin?.end(Buffer.from(values.buffer));
    const python = (await output).trimEnd().split('\n');
    expect(python).toHaveLength(values.length);
    const differences = python.flatMap((text, i) =>
      pythonFloat(values[i]!) === text ? [] : [{ text, ours: pythonFloat(values[i]!) }],
    );
    expect(differences).toEqual([]);
  }, 60_000);

  it('writes what predictions_to_json writes for each prediction the worker sends raw', async () => {
    const script = String.raw`
import json, math, sys
sys.path.insert(0, sys.argv[1])
from io import StringIO
import numpy as np
from mlflow.pyfunc.scoring_server import predictions_to_json
from pyfunc_batch import float_rows
cases = {
    "predict_proba": np.array([[0.1, 1 / 3, 0.5666666666666667], [2.5e17, -0.0, 7.0]]),
    "float32 vector": np.array([0.1, 1 / 3, 3e-8], dtype=np.float32),
    "nan and inf": np.array([math.nan, math.inf, -math.inf, 1e-5]),
    "no columns": np.zeros((2, 0)),
    "a column slice": np.arange(12, dtype=np.float64).reshape(3, 4)[:, 1:3],
}
out = []
for name, value in cases.items():
    text = StringIO()
    predictions_to_json(value, text)
    rows = float_rows(value)
    out.append({"case": name, "mlflow": text.getvalue(), "shape": rows.shape, "hex": rows.data.hex()})
for name, value in {"int64": np.array([1, 2]), "3-d": np.zeros((1, 1, 1)), "list": [0.5]}.items():
    out.append({"case": name, "raw": float_rows(value) is not None})
print(json.dumps(out))
`;
    const python = await venvPython();
    const { stdout } = await run(python, ['-c', script, PYFUNC_DIR], { env: venvEnv(python), maxBuffer: 1 << 20 });
    const cases = JSON.parse(stdout) as {
      case: string;
      mlflow?: string;
      shape?: number[];
      hex?: string;
      raw?: boolean;
    }[];
    const formatted = cases
      .filter((c) => c.hex !== undefined)
      .map((c) => ({ case: c.case, text: formatFloatPredictions(Buffer.from(c.hex!, 'hex'), c.shape!).toString() }));
    expect(formatted).toEqual(cases.filter((c) => c.hex !== undefined).map((c) => ({ case: c.case, text: c.mlflow })));
    expect(formatted).toHaveLength(5);
    // anything else keeps MLflow's own formatting in the worker
    expect(cases.filter((c) => c.raw !== undefined)).toEqual([
      { case: 'int64', raw: false },
      { case: '3-d', raw: false },
      { case: 'list', raw: false },
    ]);
  }, 60_000);
});
