// The flavors venv (testkit/peers/flavors: the MLflow peers plus XGBoost and LightGBM), built once by
// ensure-python.sh: the interpreter that serves the XGBoost and LightGBM fixture models in the pyfunc tests.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The flavors venv's python (built on first use: minutes). */
export async function flavorsPython(): Promise<string> {
  const { stdout } = await promisify(execFile)(
    'bash',
    [path.join(here, 'ensure-python.sh'), '--set', 'flavors', '--print-python'],
    { maxBuffer: 1 << 20 },
  );
  return stdout.trim();
}
