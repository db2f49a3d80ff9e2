// Bench 3: cold start, process start → first 200 on POST /invocations, with the model on local disk.
// Per round, one after the other: `modelctl serve` (SERVE_MAX_CONCURRENCY threads each loading the model), started
// as the image starts it: node on dist/bundle/modelctl.js (no bash launcher), NODE_COMPILE_CACHE set to a cache the
// first, unmeasured start fills (the image ships its cache filled), `mlflow models serve` (-w the same), and the limit: bench/cold-start-bare.js (node + onnxruntime-node,
// load, run once, print), and its floor for a server that runs inference off its main thread:
// bench/cold-start-thread-floor.js (the same work on a worker thread started first thing). Servers are polled with
// the request every POLL_MS from the moment of spawn.
// Writes bench/results/cold-start.json.
// usage: node --import ./testkit/hub-server/register-ts.ts bench/cold-start.ts   (needs `make build`, `make peers`)
//   env: BENCH_QUICK=1 (2 rounds), BENCH_COLD_ROUNDS (5), BENCH_COLD_MODEL (dense), BENCH_SERVE_THREADS (2),
//   BENCH_COLD_BASELINE=<checkout> (A/B: that checkout's built modelctl serve runs in every round too, by turns
//   before and after this one's; its times and modelctl's ratio to it go into the JSON, not into BENCHMARKS.md)
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startMlflowModelsServe } from '../testkit/peers/mlflow-serve.js';
import { venvPython } from '../testkit/peers/mlflow.js';
import { freePort } from '../testkit/peers/peer-run.js';
import { EXAMPLE_MODELS, REPO_ROOT, startModelctlServe } from '../testkit/modelctl-process.js';
import {
  BENCH_DIR,
  QUICK,
  conditions,
  envNumber,
  log,
  mainThreadProfile,
  median,
  round,
  summarizeCpuProfile,
  workerThreadProfiles,
  writeResult,
} from './bench-kit.js';

const ROUNDS = envNumber('BENCH_COLD_ROUNDS', QUICK ? 2 : 5);
const MODEL = process.env.BENCH_COLD_MODEL ?? 'dense';
const THREADS = envNumber('BENCH_SERVE_THREADS', 2);
const POLL_MS = 10;
const THREAD_FLOOR = 'cold-start-thread-floor.js';
/** the built entry of a checkout, run with this Node (the image's ENTRYPOINT runs modelctl.js with node) */
const entryOf = (checkout: string): string => path.resolve(checkout, 'dist', 'bundle', 'modelctl.js');
const ENTRY = entryOf(REPO_ROOT);
const BASELINE = process.env.BENCH_COLD_BASELINE ? entryOf(process.env.BENCH_COLD_BASELINE) : null;
/** Node's compile cache, as the image's NODE_COMPILE_CACHE (one folder serves both builds: entries are per file) */
const COMPILE_CACHE = path.join(tmpdir(), `modelctl-bench-cold-cache-${process.pid}`);
const TARGETS = { vsMlflow: 0.1, vsBare: 1.5 };
const modelDir = path.join(EXAMPLE_MODELS, MODEL);
const body = await readFile(path.join(modelDir, 'serving_input_example.json'), 'utf8');

/** Polls POST /invocations until a 200; `listening` = ms to the first HTTP answer of any status. */
async function firstOk(url: string, t0: number, signal: AbortSignal, listening: { ms?: number } = {}): Promise<number> {
  while (!signal.aborted) {
    const status = await fetch(`${url}/invocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body,
      signal,
    }).then(
      async (r) => (await r.arrayBuffer(), r.status),
      () => 0,
    );
    if (status !== 0) listening.ms ??= performance.now() - t0;
    if (status === 200) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error('aborted');
}

async function coldModelctl(
  listening: { ms?: number } = {},
  env: Record<string, string> = {},
  bin: string = ENTRY,
): Promise<number> {
  const t0 = performance.now();
  const proc = await startModelctlServe(
    {
      MODEL_LOCAL_PATH: modelDir,
      SERVE_MAX_CONCURRENCY: String(THREADS),
      NODE_COMPILE_CACHE: COMPILE_CACHE,
      ...env,
    },
    { waitReady: false, bin },
  );
  const ac = new AbortController();
  try {
    const exited = proc.exited.then((code) => {
      throw new Error(`modelctl serve exited (${String(code)}):\n${proc.output()}`);
    });
    return await Promise.race([firstOk(proc.url, t0, ac.signal, listening), exited]);
  } finally {
    ac.abort();
    await proc.stop();
  }
}

/** startMlflowModelsServe waits for /ping; the poller on the same port times the first /invocations 200. */
async function coldMlflow(runDir: string): Promise<number> {
  const port = await freePort();
  const ac = new AbortController();
  const t0 = performance.now();
  const first = firstOk(`http://127.0.0.1:${port}`, t0, ac.signal);
  first.catch(() => undefined);
  const server = await startMlflowModelsServe({
    runDir,
    modelPath: modelDir,
    port,
    workers: THREADS,
    startTimeoutMs: 300_000,
  }).catch((err: unknown) => {
    ac.abort();
    throw err;
  });
  try {
    return await first;
  } finally {
    ac.abort();
    await server.stop();
  }
}

/** Spawn → the one-line answer of a bench script given the model folder (cold-start-bare.js, the thread floor). */
function coldScript(script = 'cold-start-bare.js'): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [path.join(BENCH_DIR, script), modelDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ok ')) resolve(performance.now() - t0);
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`${script} exited ${code}:\n${out}`))));
  });
}

const runDir = await mkdtemp(path.join(tmpdir(), 'modelctl-bench-cold-'));
try {
  const started = conditions();
  const lookupStart = performance.now();
  await venvPython();
  const venvLookupMs = performance.now() - lookupStart;
  const times = { modelctl: [] as number[], mlflow: [] as number[], bare: [] as number[], threadFloor: [] as number[] };
  const listenMs: number[] = [];
  const baseline: number[] = [];
  await coldScript(); // page cache and the dynamic linker's caches: every later run reads a warm disk
  // the same for modelctl, and its compile cache (NODE_COMPILE_CACHE), which the image ships warmed
  await coldModelctl();
  if (BASELINE) await coldModelctl({}, {}, BASELINE);
  for (let i = 0; i < ROUNDS; i++) {
    const listening: { ms?: number } = {};
    // by turns before and after this checkout's start, so neither always follows the same process
    if (BASELINE && i % 2 === 0) baseline.push(await coldModelctl({}, {}, BASELINE));
    times.modelctl.push(await coldModelctl(listening));
    listenMs.push(listening.ms ?? Number.NaN);
    if (BASELINE && i % 2 === 1) baseline.push(await coldModelctl({}, {}, BASELINE));
    times.mlflow.push(await coldMlflow(runDir));
    times.bare.push(await coldScript());
    times.threadFloor.push(await coldScript(THREAD_FLOOR));
    log(
      `cold-start round ${i + 1}/${ROUNDS}: modelctl ${round(times.modelctl[i]!)} ms, mlflow ${round(times.mlflow[i]!)} ms, bare ${round(times.bare[i]!)} ms, thread floor ${round(times.threadFloor[i]!)} ms${BASELINE ? `, baseline ${round(baseline[i]!)} ms` : ''}`,
    );
  }
  log('cold-start: one more modelctl serve start under --cpu-prof');
  const profDir = path.join(runDir, 'cpu-prof');
  await coldModelctl({}, { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir}` });
  const profFile = mainThreadProfile(profDir);
  const profile = profFile
    ? summarizeCpuProfile(profFile, {
        by: 'package',
        top: 10,
        text: 'modelctl serve main thread from process start to the first 200 and shutdown, self time by package',
      })
    : null;
  // one inference thread (they all do the same): its start-up is Node's worker bootstrap, the imports of
  // inference-worker.js, onnxruntime's native library and the session; piscina's wait for tasks left out
  const workerProfile = workerThreadProfiles(profDir)[0];
  const worker_profile = workerProfile
    ? summarizeCpuProfile(workerProfile, {
        by: 'package',
        top: 10,
        text: 'one modelctl serve inference thread from its start to shutdown, self time by package',
        idle: ['atomicsWaitLoop'],
      })
    : null;
  const m = {
    modelctl: median(times.modelctl),
    mlflow: median(times.mlflow),
    bare: median(times.bare),
    threadFloor: median(times.threadFloor),
  };
  const vsMlflow = m.modelctl / m.mlflow;
  const vsBare = m.modelctl / m.bare;
  await writeResult('cold-start', {
    bench: 'cold-start',
    description:
      'process spawn to the first 200 on POST /invocations (bare: to its one-line answer), model on local disk; medians',
    settings: {
      model: MODEL,
      rounds: ROUNDS,
      poll_ms: POLL_MS,
      modelctl_threads: THREADS,
      mlflow_workers: THREADS,
      quick: QUICK,
    },
    median_ms: {
      modelctl: round(m.modelctl),
      mlflow: round(m.mlflow),
      bare: round(m.bare),
      thread_floor: round(m.threadFloor),
    },
    times_ms: {
      modelctl: times.modelctl.map((x) => round(x)),
      mlflow: times.mlflow.map((x) => round(x)),
      bare: times.bare.map((x) => round(x)),
      thread_floor: times.threadFloor.map((x) => round(x)),
    },
    modelctl_listening_median_ms: round(median(listenMs)),
    ...(BASELINE
      ? {
          baseline: {
            bin: BASELINE,
            median_ms: round(median(baseline)),
            times_ms: baseline.map((x) => round(x)),
            modelctl_vs_baseline: round(m.modelctl / median(baseline), 3),
          },
        }
      : {}),
    modelctl_listening_ms: listenMs.map((x) => round(x)),
    profile,
    worker_profile,
    ratios: {
      modelctl_vs_mlflow: round(vsMlflow, 3),
      modelctl_vs_bare: round(vsBare, 2),
      thread_floor_vs_bare: round(m.threadFloor / m.bare, 2),
      modelctl_vs_thread_floor: round(m.modelctl / m.threadFloor, 2),
    },
    targets: TARGETS,
    pass: { vs_mlflow: vsMlflow <= TARGETS.vsMlflow, vs_bare: vsBare <= TARGETS.vsBare },
    note: `mlflow's time includes the venv lookup (bash testkit/peers/ensure-python.sh --print-python, ${round(venvLookupMs)} ms once measured) before its spawn`,
    conditions_start: started,
    conditions_end: conditions(),
  });
} finally {
  await rm(runDir, { recursive: true, force: true });
  await rm(COMPILE_CACHE, { recursive: true, force: true });
}
