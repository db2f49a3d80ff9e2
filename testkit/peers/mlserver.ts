// MLServer (PyPI mlserver + mlserver-mlflow) as a serving peer (bench/serving.ts, test/serve-pyfunc-mlserver.test.ts):
// one model folder served by mlserver_mlflow.MLflowRuntime with `parallel_workers` inference processes and its
// adaptive batching (max_batch_size requests, max_batch_time seconds; off at 1 and 0). Its venv:
// testkit/peers/mlserver (ensure-python.sh --set mlserver).
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../modelctl-process.js';
import { freePort } from './peer-run.js';

export interface MlserverPeer {
  url: string;
  pid: number | undefined;
  settings: { parallel_workers: number; max_batch_size: number; max_batch_time_s: number };
  version: string;
  /** performance.now() when `mlserver start` was spawned (cold start: spawn -> first answer) */
  spawnedAt: number;
  stop: () => Promise<void>;
}

/** The mlserver venv's python (built once, like the other peers). */
async function mlserverPython(): Promise<string> {
  const { stdout } = await promisify(execFile)(
    'bash',
    [path.join(REPO_ROOT, 'testkit', 'peers', 'ensure-python.sh'), '--set', 'mlserver', '--print-python'],
    { maxBuffer: 1 << 20 },
  );
  return stdout.trim();
}

/** Starts `mlserver start` on a model folder and waits until the model is ready (v2 ready route). */
export async function startMlserver(params: {
  modelDir: string;
  name: string;
  workers: number;
  maxBatchSize: number;
  maxBatchTimeS: number;
  startTimeoutMs?: number;
}): Promise<MlserverPeer> {
  const python = await mlserverPython();
  // asked before the spawn, so that spawn -> ready is the server's own start
  const { stdout: version } = await promisify(execFile)(python, ['-c', 'import mlserver; print(mlserver.__version__)']);
  const dir = await mkdtemp(path.join(tmpdir(), 'modelctl-bench-mlserver-'));
  const [http, grpc, metrics] = [await freePort(), await freePort(), await freePort()];
  const settings = {
    parallel_workers: params.workers,
    max_batch_size: params.maxBatchSize,
    max_batch_time_s: params.maxBatchTimeS,
  };
  await writeFile(
    path.join(dir, 'settings.json'),
    JSON.stringify({
      host: '127.0.0.1',
      http_port: http,
      grpc_port: grpc,
      metrics_port: metrics,
      // its workers' prometheus files; the default is .metrics in the cwd, which left them in the checkout
      metrics_dir: path.join(dir, 'metrics'),
      parallel_workers: params.workers,
    }),
  );
  await writeFile(
    path.join(dir, 'model-settings.json'),
    JSON.stringify({
      name: params.name,
      implementation: 'mlserver_mlflow.MLflowRuntime',
      parameters: { uri: params.modelDir },
      max_batch_size: params.maxBatchSize,
      max_batch_time: params.maxBatchTimeS,
    }),
  );
  const bin = path.dirname(python);
  const spawnedAt = performance.now();
  const child = spawn(path.join(bin, 'mlserver'), ['start', dir], {
    env: {
      ...process.env,
      PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`,
      MLSERVER_LOGGING_LEVEL: 'WARNING',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its worker processes go with it (killed as a group)
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(-child.pid, 'SIGTERM');
    const timer = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    await rm(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${http}`;
  const deadline = Date.now() + (params.startTimeoutMs ?? 300_000);
  while (Date.now() < deadline) {
    const ready = await fetch(`${url}/v2/models/${params.name}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { url, pid: child.pid, settings, version: version.trim(), spawnedAt, stop };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`mlserver did not get ${params.name} ready:\n${out}`);
}
