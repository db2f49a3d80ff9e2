// Bench 1 + 2: serving throughput and latency, and serving overhead.
//
// 1. For each model (iris: tiny, 3 rows; dense: MLP 256 inputs, DENSE_BATCH rows, ≥1 ms of onnxruntime per call)
//    it starts `modelctl serve` (SERVE_MAX_CONCURRENCY inference threads) and a real `mlflow models serve` with
//    as many uvicorn workers, checks both answer the same body with 200, then loads them with autocannon at
//    1, 16 and 64 connections: modelctl /invocations, modelctl OIP v2 /v2/models/{name}/infer, mlflow
//    /invocations, interleaved, ROUNDS times; medians of req/s, p50, p99 and the sum of errors.
// 2. The limit: bench/raw-ort.js runs the same dense batch through onnxruntime-node in-process (one session for
//    latency, THREADS sessions in worker threads for throughput); overhead = how much more time per request.
// Writes bench/results/serving.json.
// usage: node --import ./test/hub-server/register-ts.ts bench/serving.ts   (needs `make build` and `make peers`)
//   env: BENCH_QUICK=1 (2 s runs, 1 round), BENCH_SERVING_SECONDS, BENCH_SERVING_ROUNDS, BENCH_CONNECTIONS=1,16,64,
//        BENCH_DENSE_BATCH (128), BENCH_SERVE_THREADS (2)
import autocannon from 'autocannon';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startMlflowModelsServe, type MlflowModelsServe } from '../test/peers/mlflow-serve.js';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../test/modelctl-process.js';
import {
  BENCH_DIR,
  QUICK,
  conditions,
  envList,
  envNumber,
  log,
  mainThreadProfile,
  workerThreadProfiles,
  median,
  monotonicUs,
  round,
  schedstatOf,
  summarizeCpuProfile,
  writeResult,
} from './bench-kit.js';

const SECONDS = envNumber('BENCH_SERVING_SECONDS', QUICK ? 2 : 5);
const ROUNDS = envNumber('BENCH_SERVING_ROUNDS', QUICK ? 1 : 3);
const CONNECTIONS = envList('BENCH_CONNECTIONS', [1, 16, 64]);
const DENSE_BATCH = envNumber('BENCH_DENSE_BATCH', 128);
const THREADS = envNumber('BENCH_SERVE_THREADS', 2);
const TARGETS = { rpsRatio: 10, p99Ratio: 0.2, overhead: 0.15 };

interface Model {
  name: string;
  dir: string;
  rows: number[][];
}
interface Target {
  server: 'modelctl' | 'mlflow';
  route: 'invocations' | 'v2';
  url: string;
  body: string;
  /** the server's pid, to read its scheduler statistics (modelctl only: mlflow's workers are grandchildren) */
  pid?: number | undefined;
}
interface Sample {
  /** the server's threads over the run: seconds on a CPU, and seconds runnable but waiting for one, per second */
  sched: { cpu_s_per_s: number; runqueue_wait_s_per_s: number } | null;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  requests: number;
}

/** Deterministic pseudo-random rows (an LCG), rounded to 4 decimals as a client would send them. */
function makeRows(count: number, width: number): number[][] {
  let s = 1;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.round(((s / 2147483648) * 4 - 2) * 1e4) / 1e4;
  };
  return Array.from({ length: count }, () => Array.from({ length: width }, next));
}

async function loadModels(): Promise<Model[]> {
  const irisExample = JSON.parse(
    await readFile(path.join(EXAMPLE_MODELS, 'iris', 'serving_input_example.json'), 'utf8'),
  ) as { inputs: number[][] };
  return [
    { name: 'iris', dir: path.join(EXAMPLE_MODELS, 'iris'), rows: irisExample.inputs },
    { name: 'dense', dir: path.join(EXAMPLE_MODELS, 'dense'), rows: makeRows(DENSE_BATCH, 256) },
  ];
}

/** The OIP v2 body for the model's first input, named as modelctl reports it. */
async function v2Body(url: string, model: Model): Promise<string> {
  const meta = (await (await fetch(`${url}/v2/models/${model.name}`)).json()) as { inputs: { name: string }[] };
  const input = meta.inputs[0]!;
  return JSON.stringify({
    inputs: [
      {
        name: input.name,
        shape: [model.rows.length, model.rows[0]!.length],
        datatype: 'FP32',
        data: model.rows.flat(),
      },
    ],
  });
}

/** One request each: both servers must answer 200 before their numbers mean anything. */
async function checkTargets(targets: Target[]): Promise<void> {
  for (const t of targets) {
    const res = await fetch(t.url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: t.body });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${t.server} ${t.route} answered ${res.status}: ${text.slice(0, 300)}`);
  }
}

async function measure(t: Target, connections: number, seconds: number): Promise<Sample> {
  const before = t.pid ? schedstatOf(t.pid) : null;
  const r = await autocannon({
    url: t.url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: t.body,
    connections,
    duration: seconds,
    timeout: 30,
  });
  const after = t.pid ? schedstatOf(t.pid) : null;
  const sched =
    before && after
      ? {
          cpu_s_per_s: (after.runMs - before.runMs) / 1000 / r.duration,
          runqueue_wait_s_per_s: (after.waitMs - before.waitMs) / 1000 / r.duration,
        }
      : null;
  return {
    rps: r.requests.average,
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    errors: r.errors + r.non2xx,
    requests: r['2xx'] + r.non2xx,
    sched,
  };
}

function summarize(samples: Sample[]) {
  return {
    rps: round(median(samples.map((s) => s.rps))),
    p50_ms: round(median(samples.map((s) => s.p50_ms)), 2),
    p99_ms: round(median(samples.map((s) => s.p99_ms)), 2),
    errors: samples.reduce((n, s) => n + s.errors, 0),
    requests: samples.reduce((n, s) => n + s.requests, 0),
    server_cpu_s_per_s: samples[0]?.sched ? round(median(samples.map((s) => s.sched!.cpu_s_per_s)), 2) : null,
    server_runqueue_wait_s_per_s: samples[0]?.sched
      ? round(median(samples.map((s) => s.sched!.runqueue_wait_s_per_s)), 2)
      : null,
    runs: samples.map((s) => ({
      ...s,
      rps: round(s.rps),
      sched: s.sched && {
        cpu_s_per_s: round(s.sched.cpu_s_per_s, 3),
        runqueue_wait_s_per_s: round(s.sched.runqueue_wait_s_per_s, 3),
      },
    })),
  };
}

/** One round: every connection count, every target, interleaved so they share the machine's conditions. */
async function measureRound(params: {
  model: Model;
  targets: Target[];
  samples: Map<string, Sample[]>;
  label: string;
}) {
  for (const c of CONNECTIONS) {
    for (const t of params.targets) {
      const s = await measure(t, c, SECONDS);
      const key = `${t.server}|${t.route}|${c}`;
      params.samples.set(key, [...(params.samples.get(key) ?? []), s]);
      log(
        `serving/${params.model.name} ${params.label} ${t.server} ${t.route} c=${c}: ${round(s.rps)} req/s p50 ${s.p50_ms} ms p99 ${s.p99_ms} ms errors ${s.errors}`,
      );
    }
  }
}

async function benchModel(model: Model, runDir: string) {
  log(`serving/${model.name}: starting modelctl serve (${THREADS} threads) and mlflow models serve (-w ${THREADS})`);
  let modelctl: ModelctlProcess | undefined;
  let mlflow: MlflowModelsServe | undefined;
  try {
    modelctl = await startModelctlServe({ MODEL_LOCAL_PATH: model.dir, SERVE_MAX_CONCURRENCY: String(THREADS) });
    mlflow = await startMlflowModelsServe({ runDir, modelPath: model.dir, workers: THREADS, startTimeoutMs: 300_000 });
    const body = JSON.stringify({ inputs: model.rows });
    const targets: Target[] = [
      { server: 'modelctl', route: 'invocations', url: `${modelctl.url}/invocations`, body, pid: modelctl.child.pid },
      {
        server: 'modelctl',
        route: 'v2',
        url: `${modelctl.url}/v2/models/${model.name}/infer`,
        body: await v2Body(modelctl.url, model),
        pid: modelctl.child.pid,
      },
      { server: 'mlflow', route: 'invocations', url: `${mlflow.url}/invocations`, body },
    ];
    await checkTargets(targets);
    for (const t of targets) await measure(t, 16, 1); // warm-up: JIT, thread pools, uvicorn workers
    const samples = new Map<string, Sample[]>();
    for (let i = 0; i < ROUNDS; i++) await measureRound({ model, targets, samples, label: `round ${i + 1}/${ROUNDS}` });
    const rows = [...samples.entries()].map(([key, list]) => {
      const [server, route, c] = key.split('|');
      return { server, route, connections: Number(c), ...summarize(list) };
    });
    return {
      model: model.name,
      batch: model.rows.length,
      body_bytes: Buffer.byteLength(body),
      rows: rows,
      ratios: ratiosOf(rows),
    };
  } finally {
    await modelctl?.stop();
    await mlflow?.stop();
  }
}

/** modelctl /invocations over mlflow /invocations at each connection count. */
function ratiosOf(
  rows: { server?: string | undefined; route?: string | undefined; connections: number; rps: number; p99_ms: number }[],
) {
  return CONNECTIONS.map((c) => {
    const ours = rows.find((r) => r.server === 'modelctl' && r.route === 'invocations' && r.connections === c)!;
    const peer = rows.find((r) => r.server === 'mlflow' && r.connections === c)!;
    const rps_ratio = round(ours.rps / peer.rps, 2);
    const p99_ratio = round(ours.p99_ms / peer.p99_ms, 3);
    const judged = c >= 16;
    return {
      connections: c,
      rps_ratio,
      p99_ratio,
      pass: judged ? rps_ratio >= TARGETS.rpsRatio && p99_ratio <= TARGETS.p99Ratio : null,
    };
  });
}

async function rawOrt(model: Model, runDir: string) {
  const bodyFile = path.join(runDir, `${model.name}-body.json`);
  await writeFile(bodyFile, JSON.stringify({ inputs: model.rows }));
  const { stdout } = await promisify(execFile)(process.execPath, [
    path.join(BENCH_DIR, 'raw-ort.js'),
    '--model',
    path.join(model.dir, 'model.onnx'),
    '--body',
    bodyFile,
    '--threads',
    String(THREADS),
    '--seconds',
    String(SECONDS),
  ]);
  return JSON.parse(stdout.trim().split('\n').pop()!) as {
    calls_per_second: number;
    single_thread: { mean_ms: number; p50_ms: number; p99_ms: number };
    json_parse: { body_bytes: number; p50_ms: number };
  };
}

/** Overhead of modelctl /invocations over raw session.run: throughput at 16 connections, and latency at 1. */
async function overhead(model: Model, served: Awaited<ReturnType<typeof benchModel>>, runDir: string) {
  const raws = [];
  for (let i = 0; i < ROUNDS; i++) {
    log(`overhead: raw onnxruntime-node, ${model.name} batch ${model.rows.length}, round ${i + 1}/${ROUNDS}`);
    raws.push(await rawOrt(model, runDir));
  }
  const rawRps = median(raws.map((r) => r.calls_per_second));
  const rawP50 = median(raws.map((r) => r.single_thread.p50_ms));
  const rawMean = median(raws.map((r) => r.single_thread.mean_ms));
  const parseP50 = median(raws.map((r) => r.json_parse.p50_ms));
  const at = (c: number) =>
    served.rows.find((r) => r.server === 'modelctl' && r.route === 'invocations' && r.connections === c);
  const busy = at(16) ?? at(Math.max(...CONNECTIONS))!;
  const single = at(1);
  const throughputOverhead = rawRps / busy.rps - 1;
  return {
    model: model.name,
    batch: model.rows.length,
    threads: THREADS,
    raw: {
      calls_per_second: round(rawRps),
      single_thread_p50_ms: round(rawP50, 3),
      single_thread_mean_ms: round(rawMean, 3),
      runs: raws,
    },
    /** JSON.parse of the same body alone, in-process: the floor of any JSON server's time per request */
    json_parse: {
      body_bytes: raws[0]!.json_parse.body_bytes,
      p50_ms: round(parseP50, 3),
      vs_session_run: round(parseP50 / rawP50, 2),
    },
    modelctl: { connections: busy.connections, rps: busy.rps, c1_p50_ms: single?.p50_ms ?? null },
    throughput_overhead: round(throughputOverhead, 3),
    latency_overhead_ms_c1: single ? round(single.p50_ms - rawP50, 3) : null,
    target: TARGETS.overhead,
    pass: throughputOverhead <= TARGETS.overhead,
  };
}

/** Where modelctl's main thread spends its time per request: `--cpu-prof` over PROFILE_REQUESTS sequential calls. */
async function profileServe(model: Model, runDir: string) {
  const profDir = path.join(runDir, 'cpu-prof');
  const server = await startModelctlServe({
    MODEL_LOCAL_PATH: model.dir,
    SERVE_MAX_CONCURRENCY: String(THREADS),
    NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir}`,
  });
  const body = JSON.stringify({ inputs: model.rows });
  const requests = QUICK ? 100 : 300;
  const window = { fromUs: monotonicUs(), toUs: 0 };
  try {
    for (let i = 0; i < requests; i++) {
      const res = await fetch(`${server.url}/invocations`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body,
      });
      await res.arrayBuffer();
    }
    window.toUs = monotonicUs();
  } finally {
    await server.stop();
  }
  const main = mainThreadProfile(profDir);
  if (!main) return null;
  const what = `${model.name} batch ${model.rows.length}, ${requests} sequential /invocations (startup and shutdown excluded), self time`;
  const inference = workerThreadProfiles(profDir).map((file, i) =>
    summarizeCpuProfile(file, {
      by: 'function',
      top: 8,
      text: `inference thread ${i + 1}, ${what}`,
      window,
      idle: ['atomicsWaitLoop'], // piscina's wait for the next task
    }),
  );
  return {
    requests,
    ...summarizeCpuProfile(main, { by: 'function', top: 12, text: `modelctl serve main thread, ${what}`, window }),
    inference_threads: inference,
    inference_busy_ms: round(inference.reduce((sum, t) => sum + t.busy_ms, 0)),
  };
}

const runDir = await mkdtemp(path.join(tmpdir(), 'modelctl-bench-serving-'));
try {
  const started = conditions();
  const models = await loadModels();
  const results = [];
  for (const m of models) results.push(await benchModel(m, runDir));
  const dense = models.find((m) => m.name === 'dense')!;
  const over = await overhead(
    dense,
    results.find((r) => r.model === 'dense')!,
    runDir,
  );
  log('profile: modelctl serve under sequential dense requests (--cpu-prof)');
  const profile = await profileServe(dense, runDir);
  await writeResult('serving', {
    bench: 'serving',
    description: 'POST /invocations (and modelctl OIP v2 infer) under autocannon; medians over rounds',
    settings: {
      seconds: SECONDS,
      rounds: ROUNDS,
      connections: CONNECTIONS,
      modelctl_threads: THREADS,
      mlflow_workers: THREADS,
      dense_batch: DENSE_BATCH,
      quick: QUICK,
      load_generator: 'autocannon (in the bench process, same machine)',
    },
    targets: TARGETS,
    models: results,
    overhead: over,
    profile,
    conditions_start: started,
    conditions_end: conditions(),
  });
} finally {
  await rm(runDir, { recursive: true, force: true });
}
