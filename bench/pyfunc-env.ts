// Bench: a pod's start with MODEL_ENV=install and the model's env already cached, against `mlflow models serve
// --env-manager virtualenv`, on the same model (examples/models/iris-sklearn, mlflow.sklearn), issue 12.
//
// modelctl: what a pod of `modelctl deploy --runtime pyfunc` runs: `modelctl fetch` (the init container, with
//   MODEL_ENV=install: the env is found complete beside the model, no pip) then `modelctl serve` (MODEL_ENV=install:
//   its workers run in that env), timed from fetch's spawn to serve's first 200 of POST /invocations. The env layers
//   on SERVE_PYTHON (the testing ground's venv, which has what the modelctl:<v>-python image has for this model).
//   The first fetch, which builds the env (once per cluster), is timed apart. The model comes from a local folder
//   (fetch copies it; the env lives beside it in OUTPUT_PATH/envs, as it does in a PVC cache entry).
// mlflow: `mlflow models serve -m <model> --env-manager virtualenv` with MLFLOW_ENV_ROOT a new empty folder at each
//   start, as a pod's filesystem is: MLflow installs the model's Python with pyenv (`pyenv install --skip-existing`:
//   this machine's pyenv has it), makes a venv and pip-installs python_env.yaml's build dependencies and
//   requirements.txt, then starts its scoring server in it; spawn -> first 200. pip's download cache is this
//   machine's, warm after the first start: a pod would download the wheels too, so mlflow's figure is a lower
//   bound. Also one restart with the env root kept (what MLflow reuses on one filesystem: not a new pod).
// Interleaved, ROUNDS times; medians. Writes bench/results/pyfunc-env.json.
// usage: node --import ./testkit/hub-server/register-ts.ts bench/pyfunc-env.ts   (needs `make build`, `make peers`,
//   pyenv with the model's Python, PyPI) env: BENCH_QUICK=1 (1 round), BENCH_PYFUNC_ENV_ROUNDS (2)
import { execFile, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { venvEnv, venvPython } from '../testkit/peers/mlflow.js';
import { freePort } from '../testkit/peers/peer-run.js';
import { EXAMPLE_MODELS, runModelctl, startModelctlServe } from '../testkit/modelctl-process.js';
import { QUICK, conditions, envNumber, log, median, round, writeResult } from './bench-kit.js';

const ROUNDS = envNumber('BENCH_PYFUNC_ENV_ROUNDS', QUICK ? 1 : 2);
const MODEL = path.join(EXAMPLE_MODELS, 'iris-sklearn');
const BODY = JSON.stringify({ dataframe_split: { columns: ['a', 'b', 'c', 'd'], data: [[5.1, 3.5, 1.4, 0.2]] } });
/** MLflow's env build pip-installs mlflow and its dependencies: minutes on a loaded machine */
const START_TIMEOUT_MS = 1_800_000;

/** Polls POST /invocations until a 200; throws once `gaveUp` returns a reason (the server died, time is up). */
async function firstOk(url: string, gaveUp: () => string | null = () => null): Promise<void> {
  for (;;) {
    const reason = gaveUp();
    if (reason !== null) throw new Error(reason);
    const status = await fetch(`${url}/invocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: BODY,
    }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `modelctl fetch` with MODEL_ENV=install into `output`; its "model env ready" log line. */
async function fetchWithEnv(output: string, python: string): Promise<{ source: string; ms: number }> {
  const run = runModelctl(['fetch'], {
    MODEL_URI: MODEL,
    OUTPUT_PATH: output,
    MODEL_ENV: 'install',
    SERVE_PYTHON: python,
    LOG_LEVEL: 'info',
  });
  const code = await run.exited;
  if (code !== 0) throw new Error(`modelctl fetch exited ${String(code)}:\n${run.output()}`);
  const line = run
    .output()
    .split('\n')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    })
    .find((l) => l['msg'] === 'model env ready');
  if (!line) throw new Error(`modelctl fetch logged no "model env ready":\n${run.output()}`);
  return { source: String(line['source']), ms: Number(line['ms']) };
}

/** One pod start: fetch (env cached) then serve in the env; spawn of fetch -> first 200. */
async function modelctlPodStart(output: string, python: string): Promise<{ ms: number; fetchMs: number }> {
  const started = performance.now();
  const env = await fetchWithEnv(output, python);
  if (env.source !== 'env-cached') throw new Error(`the env was not cached: ${env.source}`);
  const fetchMs = performance.now() - started;
  const server = await startModelctlServe(
    { MODEL_LOCAL_PATH: output, MODEL_ENV: 'install', SERVE_RUNTIME: 'pyfunc', SERVE_MAX_CONCURRENCY: '1' },
    { readyTimeoutMs: START_TIMEOUT_MS },
  );
  try {
    await firstOk(server.url);
    return { ms: Math.round(performance.now() - started), fetchMs: Math.round(fetchMs) };
  } finally {
    await server.stop();
  }
}

/** One start of mlflow's: spawn -> first 200, and when its log said pip began and the server listened. */
interface MlflowStart {
  ms: number;
  /** spawn -> "Installing dependencies" (pyenv's Python found, the venv made) */
  pipMs?: number;
  /** spawn -> "Uvicorn running on" (requirements installed, the server started in the env) */
  serverMs?: number;
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * `mlflow models serve --env-manager virtualenv` with `envRoot` as MLFLOW_ENV_ROOT; spawn -> first 200. Its log
 * (env build, pip) goes to `<runDir>/mlflow-virtualenv-<port>.log`.
 */
async function mlflowStart(python: string, runDir: string, envRoot: string): Promise<MlflowStart> {
  const port = await freePort();
  const logFile = path.join(runDir, `mlflow-virtualenv-${port}.log`);
  const args = ['models', 'serve', '-m', MODEL, '--env-manager', 'virtualenv', '--host', '127.0.0.1'];
  const started = performance.now();
  const child = spawn(path.join(path.dirname(python), 'mlflow'), [...args, '-p', String(port), '-w', '1'], {
    env: venvEnv(python, { MLFLOW_ENV_ROOT: envRoot }),
    detached: true, // the CLI, the bash that activates the env, the server in it: one group, stopped together
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = createWriteStream(logFile);
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  // phases, as its log shows them: pip starts installing the model's requirements; the scoring server listens
  const marks: { pipMs?: number; serverMs?: number } = {};
  const watch = (chunk: Buffer) => {
    const text = chunk.toString();
    if (marks.pipMs === undefined && text.includes('Installing dependencies'))
      marks.pipMs = Math.round(performance.now() - started);
    if (marks.serverMs === undefined && text.includes('Uvicorn running on'))
      marks.serverMs = Math.round(performance.now() - started);
  };
  child.stdout.on('data', watch);
  child.stderr.on('data', watch);
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = String(signal ?? code)));
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // gone
    }
  };
  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    await firstOk(`http://127.0.0.1:${port}`, () => {
      if (exited !== null) return `mlflow --env-manager virtualenv exited ${exited}:\n${logTail(logFile)}`;
      return Date.now() > deadline ? `mlflow --env-manager virtualenv not answering:\n${logTail(logFile)}` : null;
    });
    return { ms: Math.round(performance.now() - started), ...marks };
  } finally {
    kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 2000));
    kill('SIGKILL');
  }
}

/** Why MLflow's virtualenv env-manager cannot run here, or null: it needs pyenv and the model's Python. */
async function virtualenvProblem(): Promise<string | null> {
  const version = /python:\s*(\S+)/.exec(await readFile(path.join(MODEL, 'python_env.yaml'), 'utf8'))?.[1];
  try {
    const { stdout } = await promisify(execFile)('pyenv', ['versions', '--bare']);
    if (version && !stdout.split('\n').includes(version))
      return `pyenv has no Python ${version} (python_env.yaml); \`pyenv install ${version}\` downloads it from python.org`;
    return null;
  } catch (err) {
    return `MLflow's --env-manager virtualenv needs pyenv on PATH (mlflow.utils.virtualenv._validate_pyenv_is_available): ${(err as Error).message.split('\n')[0]}`;
  }
}

async function main(): Promise<void> {
  const python = await venvPython();
  const work = await mkdtemp(path.join(tmpdir(), 'modelctl-bench-pyfunc-env-'));
  try {
    const problem = await virtualenvProblem();
    if (problem) {
      // said in the report as not measured, with the reason
      await writeResult('pyfunc-env', { conditions: conditions(), not_measured: problem });
      return;
    }
    const output = path.join(work, 'pod');
    // the first pod of the cluster builds the env (layered on SERVE_PYTHON: pip finds the pins there)
    const built = await fetchWithEnv(output, python);
    if (built.source !== 'env-built') throw new Error(`the first fetch did not build the env: ${built.source}`);
    log(`pyfunc-env: modelctl env built in ${built.ms} ms`);
    const modelctl: { ms: number; fetchMs: number }[] = [];
    const mlflow: MlflowStart[] = [];
    let lastRoot = '';
    for (let i = 0; i < ROUNDS; i++) {
      const m = await modelctlPodStart(output, python);
      modelctl.push(m);
      log(
        `pyfunc-env: modelctl pod start (env cached) ${m.ms} ms, fetch ${m.fetchMs} ms (load ${conditions().loadavg_1m})`,
      );
      lastRoot = path.join(work, `mlflow-envs-${i}`);
      const m2 = await mlflowStart(python, work, lastRoot);
      mlflow.push(m2);
      log(
        `pyfunc-env: mlflow --env-manager virtualenv start (new env) ${JSON.stringify(m2)} ms (load ${conditions().loadavg_1m})`,
      );
    }
    const reused = await mlflowStart(python, work, lastRoot);
    log(`pyfunc-env: mlflow --env-manager virtualenv restart (env kept) ${JSON.stringify(reused)} ms`);
    const ours = median(modelctl.map((m) => m.ms));
    const theirs = median(mlflow.map((m) => m.ms));
    const result = {
      description:
        'pod start with MODEL_ENV=install and the env cached (modelctl fetch, env found, then modelctl serve in it; fetch spawn -> first 200) vs mlflow models serve --env-manager virtualenv with a new MLFLOW_ENV_ROOT each start (spawn -> first 200), iris-sklearn, 1 worker each',
      conditions: { ...conditions(), quick: QUICK, rounds: ROUNDS },
      modelctl_env_build_ms: built.ms,
      modelctl_ms: modelctl.map((m) => m.ms),
      modelctl_fetch_ms: modelctl.map((m) => m.fetchMs),
      mlflow_virtualenv_ms: mlflow.map((m) => m.ms),
      mlflow_virtualenv_pip_started_ms: mlflow.map((m) => m.pipMs ?? null),
      mlflow_virtualenv_server_listening_ms: mlflow.map((m) => m.serverMs ?? null),
      mlflow_virtualenv_env_kept_ms: reused.ms,
      median_ms: { modelctl: ours, mlflow: theirs },
      ratio: round(theirs / ours, 2),
    };
    log(`pyfunc-env: ${JSON.stringify(result)}`);
    await writeResult('pyfunc-env', result);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
