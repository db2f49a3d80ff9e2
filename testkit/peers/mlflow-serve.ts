import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { venvEnv, venvPython } from './mlflow.js';
import { freePort, tail, type PeerRun } from './peer-run.js';

/** A running `mlflow models serve`. */
export interface MlflowModelsServe {
  /** `http://127.0.0.1:<port>`: `/ping`, `/health`, `/version`, `/invocations` */
  url: string;
  port: number;
  /** its stdout+stderr */
  logFile: string;
  /** from spawn to the first `GET /ping` 200 */
  startupMs: number;
  /** ends its process group (SIGTERM, SIGKILL after 5 s) and waits for it */
  stop(): Promise<void>;
}

/**
 * Starts `mlflow models serve -m <modelPath> --env-manager local` from the testing ground's venv on
 * 127.0.0.1 and waits for `GET /ping` 200. The compatibility oracle and the performance peer for `serve`.
 * Takes about 6 s on an idle 2-core machine (python imports + model load); give it more under load.
 *
 * From global setup pass `run` (stopped at teardown with the other peers, log listed in `logs`);
 * from a test pass `runDir: readPeers().runDir` (its log `<runDir>/mlflow-serve-<port>.log` is
 * printed by the failure reporter) and call `stop()` in `afterAll`.
 */
export async function startMlflowModelsServe(params: {
  run?: PeerRun;
  runDir?: string;
  /** a local model directory (with `MLmodel`), e.g. `readMlflowPeer().models.iris.versions[0].localPath` */
  modelPath: string;
  /** @default a free port */
  port?: number;
  /** request timeout, seconds (`-t`, sets MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT) @default 60 */
  timeoutSeconds?: number;
  /** uvicorn workers @default 1 */
  workers?: number;
  /** @default 120000 */
  startTimeoutMs?: number;
  /** the venv's python whose mlflow serves it @default the testing ground's venv */
  python?: string;
}): Promise<MlflowModelsServe> {
  const runDir = params.run?.runDir ?? params.runDir;
  if (!runDir) throw new Error('startMlflowModelsServe needs run or runDir');
  const python = params.python ?? (await venvPython());
  const port = params.port ?? (await freePort());
  const name = `mlflow-serve-${port}`;
  const logFile = params.run ? params.run.logFile(name) : path.join(runDir, `${name}.log`);
  const started = Date.now();
  const child = spawnServe(
    path.join(path.dirname(python), 'mlflow'),
    serveArgs(params, port),
    venvEnv(python),
    logFile,
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = () => stopGroup(child);
  const onExit = () => killGroup(child, 'SIGKILL');
  // a test that forgets stop() must not leave a server behind
  process.once('exit', onExit);
  try {
    await waitForPing({ url, child, logFile, timeoutMs: params.startTimeoutMs ?? 120_000 });
  } catch (err) {
    await stop();
    throw err;
  }
  params.run?.onStop(stop);
  return {
    url,
    port,
    logFile,
    startupMs: Date.now() - started,
    stop: async () => {
      process.removeListener('exit', onExit);
      await stop();
    },
  };
}

/** `mlflow models serve` on 127.0.0.1:`port` from the local env, with the workers and timeout asked for. */
function serveArgs(params: { modelPath: string; workers?: number; timeoutSeconds?: number }, port: number): string[] {
  const args = ['models', 'serve', '-m', params.modelPath, '--env-manager', 'local'];
  args.push('--host', '127.0.0.1', '-p', String(port), '-w', String(params.workers ?? 1));
  if (params.timeoutSeconds !== undefined) args.push('-t', String(params.timeoutSeconds));
  return args;
}

function spawnServe(command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(command, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

async function waitForPing(params: { url: string; child: ChildProcess; logFile: string; timeoutMs: number }) {
  const { url, child, logFile, timeoutMs } = params;
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}`));
  child.once('error', (err) => (exited = `failed to start: ${err.message}`));
  const deadline = Date.now() + timeoutMs;
  while (!exited && Date.now() < deadline) {
    const ok = await fetch(`${url}/ping`).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`mlflow models serve ${exited ?? `not ready after ${timeoutMs} ms`}\n${tail(logFile)}`);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    // the CLI may have exited while uvicorn (same group) lives on
    killGroup(child, 'SIGKILL');
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
  // uvicorn is a grandchild in the same group: make sure it is gone too
  killGroup(child, 'SIGKILL');
}
