// Bench 1 + 2: serving throughput and latency, and serving overhead.
//
// 1. For each model (iris: tiny, 3 rows; dense: MLP 256 inputs, DENSE_BATCH rows, ≥1 ms of onnxruntime per call)
//    it starts `modelctl serve` (SERVE_MAX_CONCURRENCY inference threads, adaptive batching at its defaults, gRPC
//    on), a real `mlflow models serve` with as many uvicorn workers, and MLServer (mlserver-mlflow, as many
//    parallel workers, its adaptive batching on), checks all answer 200, then loads them at 1, 16 and 64
//    connections: modelctl /invocations, OIP v2 JSON, OIP v2 binary tensors (HTTP) and OIP v2 gRPC; for iris also
//    modelctl with batching off (SERVE_MAX_BATCH_SIZE=1); mlflow /invocations; MLServer OIP v2 JSON; interleaved,
//    ROUNDS times; medians of req/s, p50, p99 and the sum of errors. HTTP load: autocannon; gRPC: bench/grpc-load.ts.
// 2. The limit: bench/raw-ort.js runs the same dense batch through onnxruntime-node in-process (one session for
//    latency, THREADS sessions in worker threads for throughput); overhead = how much more time per request, for
//    JSON /invocations and for the binary OIP routes (HTTP and gRPC).
// Writes bench/results/serving.json.
// usage: node --import ./testkit/hub-server/register-ts.ts bench/serving.ts   (needs `make build` and `make peers`)
//   env: BENCH_QUICK=1 (2 s runs, 1 round), BENCH_SERVING_SECONDS, BENCH_SERVING_ROUNDS, BENCH_CONNECTIONS=1,16,64,
//        BENCH_DENSE_BATCH (128), BENCH_SERVE_THREADS (2), BENCH_MLSERVER=0 (leave MLServer out),
//        BENCH_MLSERVER_BATCH (64 requests), BENCH_MLSERVER_BATCH_TIME_MS (2)
import autocannon from 'autocannon';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startMlflowModelsServe, type MlflowModelsServe } from '../testkit/peers/mlflow-serve.js';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';
import { freePort } from '../testkit/peers/peer-run.js';
import { grpcLoad, modelInferClient } from './grpc-load.js';
import { startMlserver, type MlserverPeer } from '../testkit/peers/mlserver.js';
import {
  BENCH_DIR,
  QUICK,
  conditions,
  envList,
  envNumber,
  log,
  mainThreadProfile,
  workerThreadProfiles,
  makeRows,
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
const MLSERVER = process.env.BENCH_MLSERVER !== '0';
const MLSERVER_BATCH = envNumber('BENCH_MLSERVER_BATCH', 64);
const MLSERVER_BATCH_TIME_MS = envNumber('BENCH_MLSERVER_BATCH_TIME_MS', 2);
const TARGETS = { rpsRatio: 10, p99Ratio: 0.2, overhead: 0.15, batchingGain: 2 };

interface Model {
  name: string;
  dir: string;
  rows: number[][];
  /** also measure modelctl with batching off (SERVE_MAX_BATCH_SIZE=1) */
  unbatched: boolean;
}
interface Target {
  server: 'modelctl' | 'modelctl-unbatched' | 'mlflow' | 'mlserver';
  route: 'invocations' | 'v2' | 'v2-binary' | 'grpc';
  url: string;
  body: string | Buffer;
  headers?: Record<string, string>;
  /** a gRPC target: host:port and the ModelInfer message */
  grpc?: { target: string; request: unknown };
  /** the server's pid, to read its scheduler statistics (modelctl only: mlflow's workers are grandchildren) */
  pid?: number | undefined;
}
interface Sample {
  /**
   * the server's threads over the run: seconds on a CPU (all threads, and the main thread alone), and seconds
   * runnable but waiting for one, per second
   */
  sched: { cpu_s_per_s: number; main_cpu_s_per_s: number; runqueue_wait_s_per_s: number } | null;
  /** this process (the load generator: autocannon or grpc-load) over the run: CPU seconds per second */
  load_generator_cpu_s_per_s: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  requests: number;
}

/** Deterministic pseudo-random rows (an LCG), rounded to 4 decimals as a client would send them. */
async function loadModels(): Promise<Model[]> {
  const irisExample = JSON.parse(
    await readFile(path.join(EXAMPLE_MODELS, 'iris', 'serving_input_example.json'), 'utf8'),
  ) as { inputs: number[][] };
  return [
    { name: 'iris', dir: path.join(EXAMPLE_MODELS, 'iris'), rows: irisExample.inputs, unbatched: true },
    { name: 'dense', dir: path.join(EXAMPLE_MODELS, 'dense'), rows: makeRows(DENSE_BATCH, 256), unbatched: false },
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

/** The same rows as the binary extension sends them: a JSON header, then the float32 bytes; outputs binary too. */
function v2BinaryBody(inputName: string, model: Model): { body: Buffer; headers: Record<string, string> } {
  const raw = Buffer.from(Float32Array.from(model.rows.flat()).buffer);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: inputName,
          shape: [model.rows.length, model.rows[0]!.length],
          datatype: 'FP32',
          parameters: { binary_data_size: raw.length },
        },
      ],
      parameters: { binary_data_output: true },
    }),
  );
  return {
    body: Buffer.concat([header, raw]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  };
}

/** The ModelInfer message for the rows (raw_input_contents, as tritonclient sends it). */
function grpcRequest(inputName: string, model: Model): unknown {
  return {
    model_name: model.name,
    inputs: [{ name: inputName, datatype: 'FP32', shape: [model.rows.length, model.rows[0]!.length] }],
    raw_input_contents: [Buffer.from(Float32Array.from(model.rows.flat()).buffer)],
  };
}

/** One request each: every server must answer 200 (gRPC: OK) before its numbers mean anything. */
async function checkTargets(targets: Target[]): Promise<void> {
  for (const t of targets) {
    if (t.grpc) {
      const client = modelInferClient(t.grpc.target);
      try {
        await client.infer(t.grpc.request);
      } finally {
        client.close();
      }
      continue;
    }
    const res = await fetch(t.url, {
      method: 'POST',
      headers: t.headers ?? { 'Content-Type': 'application/json' },
      body: t.body,
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${t.server} ${t.route} answered ${res.status}: ${text.slice(0, 300)}`);
  }
}

async function load(t: Target, connections: number, seconds: number) {
  if (t.grpc) {
    const g = await grpcLoad({ target: t.grpc.target, request: t.grpc.request, connections, seconds });
    return { rps: g.rps, p50: g.p50_ms, p99: g.p99_ms, errors: g.errors, requests: g.requests, duration: g.duration };
  }
  const r = await autocannon({
    url: t.url,
    method: 'POST',
    headers: t.headers ?? { 'content-type': 'application/json' },
    body: t.body,
    connections,
    duration: seconds,
    timeout: 30,
  });
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx,
    requests: r['2xx'] + r.non2xx,
    duration: r.duration,
  };
}

/** CPU milliseconds the main thread of `pid` (its thread id is the pid) has run, or null once it is gone. */
function mainThreadRunMs(pid: number): number | null {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return null;
  }
}

async function measure(t: Target, connections: number, seconds: number): Promise<Sample> {
  const before = t.pid ? { all: schedstatOf(t.pid), main: mainThreadRunMs(t.pid) } : null;
  const cpu = process.cpuUsage();
  const r = await load(t, connections, seconds);
  const used = process.cpuUsage(cpu);
  const after = t.pid ? { all: schedstatOf(t.pid), main: mainThreadRunMs(t.pid) } : null;
  const perSecond = (ms: number) => ms / 1000 / r.duration;
  const sched =
    before?.all && after?.all && before.main !== null && after.main !== null
      ? {
          cpu_s_per_s: perSecond(after.all.runMs - before.all.runMs),
          main_cpu_s_per_s: perSecond(after.main - before.main),
          runqueue_wait_s_per_s: perSecond(after.all.waitMs - before.all.waitMs),
        }
      : null;
  const load_generator_cpu_s_per_s = perSecond((used.user + used.system) / 1000);
  return {
    rps: r.rps,
    p50_ms: r.p50,
    p99_ms: r.p99,
    errors: r.errors,
    requests: r.requests,
    sched,
    load_generator_cpu_s_per_s,
  };
}

/** CPU milliseconds per answered request of each sample, median; null without samples that answered any. */
function msPerRequest(samples: Sample[], cpuSPerS: (s: Sample) => number | undefined): number | null {
  const values = samples.flatMap((s) => {
    const cpu = cpuSPerS(s);
    return cpu === undefined || s.rps <= 0 ? [] : [(cpu / s.rps) * 1000];
  });
  return values.length > 0 ? round(median(values), 3) : null;
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
    /** CPU per answered request: the server (all its threads, its main thread) and the load generator */
    cpu_ms_per_request: {
      server: msPerRequest(samples, (s) => s.sched?.cpu_s_per_s),
      server_main_thread: msPerRequest(samples, (s) => s.sched?.main_cpu_s_per_s),
      load_generator: msPerRequest(samples, (s) => s.load_generator_cpu_s_per_s),
    },
    runs: samples.map((s) => ({
      ...s,
      rps: round(s.rps),
      load_generator_cpu_s_per_s: round(s.load_generator_cpu_s_per_s, 3),
      sched: s.sched && {
        cpu_s_per_s: round(s.sched.cpu_s_per_s, 3),
        main_cpu_s_per_s: round(s.sched.main_cpu_s_per_s, 3),
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

/** The input's name as a server's v2 metadata reports it (MLServer names unnamed inputs `input-0`). */
async function v2InputName(url: string, model: Model): Promise<string> {
  const meta = (await (await fetch(`${url}/v2/models/${model.name}`)).json()) as { inputs: { name: string }[] };
  return meta.inputs[0]!.name;
}

async function modelctlTargets(model: Model, server: ModelctlProcess, grpcPort: number): Promise<Target[]> {
  const body = JSON.stringify({ inputs: model.rows });
  const pid = server.child.pid;
  const name = await v2InputName(server.url, model);
  const binary = v2BinaryBody(name, model);
  return [
    { server: 'modelctl', route: 'invocations', url: `${server.url}/invocations`, body, pid },
    {
      server: 'modelctl',
      route: 'v2',
      url: `${server.url}/v2/models/${model.name}/infer`,
      body: await v2Body(server.url, model),
      pid,
    },
    { server: 'modelctl', route: 'v2-binary', url: `${server.url}/v2/models/${model.name}/infer`, ...binary, pid },
    {
      server: 'modelctl',
      route: 'grpc',
      url: `grpc://127.0.0.1:${grpcPort}`,
      body: '',
      grpc: { target: `127.0.0.1:${grpcPort}`, request: grpcRequest(name, model) },
      pid,
    },
  ];
}

async function mlserverTarget(model: Model, peer: MlserverPeer): Promise<Target> {
  const name = await v2InputName(peer.url, model);
  const body = JSON.stringify({
    inputs: [{ name, shape: [model.rows.length, model.rows[0]!.length], datatype: 'FP32', data: model.rows.flat() }],
  });
  return { server: 'mlserver', route: 'v2', url: `${peer.url}/v2/models/${model.name}/infer`, body };
}

/** MLServer is a second peer: when it cannot start, the run goes on without it and says why. */
async function startMlserverPeer(model: Model): Promise<{ peer: MlserverPeer | null; error: string | null }> {
  if (!MLSERVER) return { peer: null, error: 'left out (BENCH_MLSERVER=0)' };
  try {
    const peer = await startMlserver({
      modelDir: model.dir,
      name: model.name,
      workers: THREADS,
      maxBatchSize: MLSERVER_BATCH,
      maxBatchTimeS: MLSERVER_BATCH_TIME_MS / 1000,
    });
    return { peer, error: null };
  } catch (err) {
    log(`serving/${model.name}: MLServer did not start: ${String(err).slice(0, 500)}`);
    return { peer: null, error: String(err).split('\n')[0]!.slice(0, 300) };
  }
}

/** modelctl with batching off, when the model asks for that comparison. */
function unbatchedTargets(unbatched: ModelctlProcess | undefined, body: string): Target[] {
  if (!unbatched) return [];
  return [
    {
      server: 'modelctl-unbatched',
      route: 'invocations',
      url: `${unbatched.url}/invocations`,
      body,
      pid: unbatched.child.pid,
    },
  ];
}

/** MLServer's settings and ratios (empty when it did not start: its error instead), and batching on vs off. */
function optionalPeerFigures(
  rows: Row[],
  peers: { mlserver: MlserverPeer | null; mlserverError: string | null; unbatched: ModelctlProcess | undefined },
) {
  const { mlserver, unbatched } = peers;
  return {
    mlserver: mlserver ? { version: mlserver.version, settings: mlserver.settings } : null,
    mlserver_error: peers.mlserverError,
    mlserver_ratios: mlserver ? mlserverRatiosOf(rows) : [],
    batching: unbatched ? batchingOf(rows) : [],
  };
}

async function benchModel(model: Model, runDir: string) {
  log(
    `serving/${model.name}: starting modelctl serve (${THREADS} threads), mlflow models serve (-w ${THREADS}) and MLServer (${THREADS} workers)`,
  );
  let modelctl: ModelctlProcess | undefined;
  let unbatched: ModelctlProcess | undefined;
  let mlflow: MlflowModelsServe | undefined;
  let mlserver: MlserverPeer | null = null;
  try {
    const grpcPort = await freePort();
    modelctl = await startModelctlServe({
      MODEL_LOCAL_PATH: model.dir,
      SERVE_MAX_CONCURRENCY: String(THREADS),
      GRPC_PORT: String(grpcPort),
    });
    if (model.unbatched)
      unbatched = await startModelctlServe({
        MODEL_LOCAL_PATH: model.dir,
        SERVE_MAX_CONCURRENCY: String(THREADS),
        SERVE_MAX_BATCH_SIZE: '1',
      });
    mlflow = await startMlflowModelsServe({ runDir, modelPath: model.dir, workers: THREADS, startTimeoutMs: 300_000 });
    const started = await startMlserverPeer(model);
    mlserver = started.peer;
    const body = JSON.stringify({ inputs: model.rows });
    const targets: Target[] = [
      ...(await modelctlTargets(model, modelctl, grpcPort)),
      ...unbatchedTargets(unbatched, body),
      { server: 'mlflow', route: 'invocations', url: `${mlflow.url}/invocations`, body },
      ...(mlserver ? [await mlserverTarget(model, mlserver)] : []),
    ];
    await checkTargets(targets);
    for (const t of targets) await measure(t, 16, 1); // warm-up: JIT, thread pools, uvicorn workers
    const samples = new Map<string, Sample[]>();
    for (let i = 0; i < ROUNDS; i++) await measureRound({ model, targets, samples, label: `round ${i + 1}/${ROUNDS}` });
    const rows = [...samples.entries()].map(([key, list]) => {
      const [server, route, c] = key.split('|');
      return { server: server!, route: route!, connections: Number(c), ...summarize(list) };
    });
    return {
      model: model.name,
      batch: model.rows.length,
      body_bytes: Buffer.byteLength(body),
      rows: rows,
      ratios: ratiosOf(rows),
      ...optionalPeerFigures(rows, { mlserver, mlserverError: started.error, unbatched }),
    };
  } finally {
    await modelctl?.stop();
    await unbatched?.stop();
    await mlflow?.stop();
    await mlserver?.stop();
  }
}

interface Row {
  server: string;
  route: string;
  connections: number;
  rps: number;
  p99_ms: number;
}
const rowOf = (rows: Row[], server: string, route: string, c: number) =>
  rows.find((r) => r.server === server && r.route === route && r.connections === c);

/** modelctl OIP v2 (JSON) over MLServer OIP v2 (JSON, adaptive batching on) at each connection count. */
function mlserverRatiosOf(rows: Row[]) {
  return CONNECTIONS.map((c) => {
    const ours = rowOf(rows, 'modelctl', 'v2', c)!;
    const peer = rowOf(rows, 'mlserver', 'v2', c)!;
    const rps_ratio = round(ours.rps / peer.rps, 2);
    const p99_ratio = round(ours.p99_ms / peer.p99_ms, 3);
    return {
      connections: c,
      rps_ratio,
      p99_ratio,
      pass: c >= 16 ? rps_ratio >= TARGETS.rpsRatio && p99_ratio <= TARGETS.p99Ratio : null,
    };
  });
}

/** modelctl /invocations with adaptive batching over the same with SERVE_MAX_BATCH_SIZE=1. */
function batchingOf(rows: Row[]) {
  return CONNECTIONS.map((c) => {
    const on = rowOf(rows, 'modelctl', 'invocations', c)!;
    const off = rowOf(rows, 'modelctl-unbatched', 'invocations', c)!;
    const gain = round(on.rps / off.rps, 2);
    return {
      connections: c,
      rps_on: on.rps,
      rps_off: off.rps,
      gain,
      pass: c === 64 ? gain >= TARGETS.batchingGain : null,
    };
  });
}

/** modelctl /invocations over mlflow /invocations at each connection count. */
function ratiosOf(rows: Row[]) {
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
  // the binary routes carry no JSON: their distance to raw session.run is the server's own cost
  const binaryAt = (route: string) => {
    const row = served.rows.find(
      (r) => r.server === 'modelctl' && r.route === route && r.connections === busy.connections,
    );
    if (!row) return null;
    const over = rawRps / row.rps - 1;
    return {
      route,
      rps: row.rps,
      overhead: round(over, 3),
      pass: over <= TARGETS.overhead,
      cpu_ms_per_request: row.cpu_ms_per_request,
    };
  };
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
    binary: [binaryAt('v2-binary'), binaryAt('grpc')].filter((b) => b !== null),
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
      load_generator:
        'autocannon for HTTP, bench/grpc-load.ts (node:http2, gRPC framing) for gRPC, in the bench process, same machine',
      mlserver: (() => {
        const m = results.find((r) => r.mlserver)?.mlserver;
        return m ? { version: m.version, ...m.settings } : null;
      })(),
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
