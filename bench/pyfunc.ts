// Bench: the pyfunc runtime (issue 12) against `mlflow models serve` and against MLServer with its MLflow runtime
// (PyPI mlserver + mlserver-mlflow, testkit/peers/mlserver) on the same scikit-learn model
// (examples/models/iris-sklearn, logged with mlflow.sklearn), the same number of Python workers (MLServer's
// parallel_workers), MLServer with its adaptive batching on (BENCH_MLSERVER_BATCH requests,
// BENCH_MLSERVER_BATCH_TIME_MS, as bench/serving.ts sets them).
//
// 1. cold start: spawn -> first 200 of POST /invocations, for each server (modelctl loads its workers and runs the
//    saved input example before ready; mlflow's CLI starts uvicorn, which loads the model); MLServer: spawn of
//    `mlserver start` -> first 200 of a v2 infer.
// 2. throughput and latency: batch 1 and batch 100 rows (dataframe_split), 16 and 64 connections, autocannon,
//    interleaved, ROUNDS times: medians of req/s, p50, p99, errors summed. modelctl runs twice: as deployed by
//    default (SERVE_PYFUNC_BATCHING=auto: an mlflow.sklearn predict_proba model with named columns is batched,
//    up to 1024 rows per predict call) and with SERVE_PYFUNC_BATCHING=off (each request its own predict call,
//    as mlflow does); both against the same mlflow server, in the same run.
//    MLServer has no /invocations: it gets the same rows as an OIP v2 request (the model's columns a..d, FP64,
//    shape [rows, 1]), and modelctl (batched default) gets that same v2 request too, in the same rounds, so that
//    modelctl ÷ MLServer compares like with like; the /invocations rows vs mlflow stay as they were.
//    Before the load, each contender's answer at each batch is checked against mlflow's predictions.
//    Also the CPU time of each server's processes per request (/proc utime+stime; MLServer: its main process and
//    its inference workers): on a shared, loaded machine the one figure that the other sessions' load moves little.
// 3. memory per worker: VmRSS of each modelctl pyfunc worker process, of each uvicorn worker and of each MLServer
//    inference worker (multiprocessing children of `mlserver start`), after the load.
// Writes bench/results/pyfunc.json.
// usage: node --import ./testkit/hub-server/register-ts.ts bench/pyfunc.ts   (needs `make build` and `make peers`)
//   env: BENCH_QUICK=1 (2 s runs, 1 round), BENCH_PYFUNC_SECONDS, BENCH_PYFUNC_ROUNDS, BENCH_PYFUNC_WORKERS (2),
//        BENCH_PYFUNC_CONNECTIONS (16,64), BENCH_PYFUNC_BATCHES (1,100), BENCH_MLSERVER=0 (leave MLServer out),
//        BENCH_MLSERVER_BATCH (64 requests), BENCH_MLSERVER_BATCH_TIME_MS (2)
import autocannon from 'autocannon';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { venvPython } from '../testkit/peers/mlflow.js';
import { startMlflowModelsServe, type MlflowModelsServe } from '../testkit/peers/mlflow-serve.js';
import { startMlserver, type MlserverPeer } from '../testkit/peers/mlserver.js';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';
import { QUICK, conditions, envList, envNumber, log, median, round, writeResult } from './bench-kit.js';

const SECONDS = envNumber('BENCH_PYFUNC_SECONDS', QUICK ? 2 : 5);
const ROUNDS = envNumber('BENCH_PYFUNC_ROUNDS', QUICK ? 1 : 3);
const WORKERS = envNumber('BENCH_PYFUNC_WORKERS', 2);
const CONNECTIONS = envList('BENCH_PYFUNC_CONNECTIONS', [16, 64]);
const BATCHES = envList('BENCH_PYFUNC_BATCHES', [1, 100]);
const MLSERVER = process.env.BENCH_MLSERVER !== '0';
const MLSERVER_BATCH = envNumber('BENCH_MLSERVER_BATCH', 64);
const MLSERVER_BATCH_TIME_MS = envNumber('BENCH_MLSERVER_BATCH_TIME_MS', 2);
const MODEL_NAME = 'iris-sklearn';
const MODEL = path.join(EXAMPLE_MODELS, MODEL_NAME);
const V2_PATH = `/v2/models/${MODEL_NAME}/infer`;
const TARGETS = { rpsRatio: 2, p99Ratio: 0.5 };

interface Sample {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  /** CPU time (user + system) of the server's processes per answered request: what load on a shared machine moves least */
  cpu_ms_per_req: number;
}

/** utime + stime of `pids`, in ms (clock ticks of 10 ms). */
function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks * 10;
}

/** `root` and every process below it. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(pid)]);
    } catch {
      // gone meanwhile
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!) ?? []));
  return out;
}

/** mlflow models serve's processes: the CLI and uvicorn's, whose environment names the model (mlflow sets it). */
function mlflowProcesses(): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, 'utf8').includes(`__pyfunc_model_path__=file://${MODEL}`);
      } catch {
        return false;
      }
    });
}

type Route = 'invocations' | 'v2';

/** `batch` iris-like rows (deterministic). */
function rowsOf(batch: number): number[][] {
  return Array.from({ length: batch }, (_v, i) => [4 + (i % 4), 2 + (i % 3) / 2, 1 + (i % 6), (i % 5) / 2]);
}

/** The rows as a dataframe_split body (/invocations) or as an OIP v2 request with the model's columns a..d. */
function bodyOf(batch: number, route: Route = 'invocations'): string {
  const data = rowsOf(batch);
  const columns = ['a', 'b', 'c', 'd'];
  if (route === 'invocations') return JSON.stringify({ dataframe_split: { columns, data } });
  return JSON.stringify({
    inputs: columns.map((name, j) => ({ name, datatype: 'FP64', shape: [batch, 1], data: data.map((r) => r[j]) })),
  });
}

const pathOf = (route: Route) => (route === 'invocations' ? '/invocations' : V2_PATH);

interface Answer {
  status: number;
  text: string;
}

async function post(url: string, body: string, route: Route = 'invocations'): Promise<Answer> {
  const res = await fetch(`${url}${pathOf(route)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body,
  });
  return { status: res.status, text: await res.text() };
}

interface Contender {
  server: 'modelctl' | 'modelctl-unbatched' | 'mlflow' | 'mlserver';
  route: Route;
  url: string;
  pids: () => number[];
}

async function measure(t: Contender, batch: number, connections: number): Promise<Sample> {
  const before = t.pids();
  const cpuBefore = cpuMs(before);
  const r = await autocannon({
    url: `${t.url}${pathOf(t.route)}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: bodyOf(batch, t.route),
    connections,
    duration: SECONDS,
    timeout: 30,
  });
  const cpu = cpuMs(before) - cpuBefore;
  return {
    rps: r.requests.average,
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    errors: r.errors + r.non2xx,
    cpu_ms_per_req: r.requests.total > 0 ? round(cpu / r.requests.total, 2) : 0,
  };
}

/** Spawn -> first 200 of POST /invocations (or of a v2 infer), from `spawnedAt` when the server says it, else from the call. */
async function coldStart<T extends { url: string; spawnedAt?: number }>(
  start: () => Promise<T>,
  route: Route = 'invocations',
): Promise<{ server: T; ms: number }> {
  const called = performance.now();
  const server = await start();
  const started = server.spawnedAt ?? called;
  const body = bodyOf(1, route);
  for (;;) {
    if ((await post(server.url, body, route).catch(() => ({ status: 0 }))).status === 200)
      return { server, ms: Math.round(performance.now() - started) };
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** VmRSS (MB) of every process that `filter` picks by its command line, environment and /proc status. */
function rssOf(filter: (cmdline: string, environ: string, status: string) => boolean): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      if (!filter(cmdline, environ, status)) continue;
      const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
      if (kb) out.push(round(Number(kb) / 1024));
    } catch {
      // gone meanwhile
    }
  }
  return out.sort((a, b) => b - a);
}

/** All three servers answer `batch` rows alike, ours with a 200 (else the bench stops: it would compare apples and pears). */

const flat = (x: unknown): unknown[] => (Array.isArray(x) ? x.flatMap(flat) : [x]);
const close = (x: unknown, y: unknown) =>
  typeof x === 'number' && typeof y === 'number' && Math.abs(x - y) <= 1e-12 * Math.max(1, Math.abs(y));

/** `got` (on `route`) holds mlflow's /invocations answer `expected` to the same `batch` rows. */
function answersAlike(route: Route, got: Answer, expected: Answer, batch: number): boolean {
  if (got.status !== 200) return false;
  if (route === 'invocations') return got.text === expected.text;
  const values = flat((JSON.parse(expected.text) as { predictions: unknown }).predictions);
  const outputs = (JSON.parse(got.text) as { outputs?: { shape: number[]; data: unknown }[] }).outputs ?? [];
  const data = flat(outputs[0]?.data);
  return (
    outputs.length === 1 &&
    JSON.stringify(outputs[0]!.shape) === JSON.stringify([batch, values.length / batch]) &&
    data.length === values.length &&
    data.every((v, i) => close(v, values[i]))
  );
}

/**
 * Every contender answers `batch` rows with mlflow's predictions, checked once before the load (else the bench stops:
 * it would compare apples and pears): /invocations byte for byte, OIP v2 as one output of shape [rows, 3] whose
 * values are mlflow's within 1e-12 relative.
 */
async function expectSameAnswers(contenders: readonly Contender[], batch: number): Promise<void> {
  const reference = contenders.find((t) => t.server === 'mlflow')!;
  const expected = await post(reference.url, bodyOf(batch));
  if (expected.status !== 200)
    throw new Error(`mlflow answered ${expected.status} at batch ${batch}: ${expected.text}`);
  for (const t of contenders) {
    const got = await post(t.url, bodyOf(batch, t.route), t.route);
    if (!answersAlike(t.route, got, expected, batch))
      throw new Error(
        `${t.server} ${t.route} answers batch ${batch} unlike mlflow: ${got.status} ${got.text.slice(0, 500)} / ${expected.text.slice(0, 500)}`,
      );
  }
  log(`pyfunc: batch ${batch}: the ${contenders.length} contenders answer with mlflow's predictions`);
}

/**
 * MLServer is a second peer: when it cannot start, the run goes on without it and says why (as bench/serving.ts).
 * Two tries of 150 s each (a start took 30-50 s at load 17-21): once, on this machine, `mlserver start` 1.7.1 hung
 * with its workers up, its main thread in wait() and its HTTP port never open. A hung try is said in the results.
 */
async function startMlserverPeer(): Promise<{
  peer: MlserverPeer | null;
  ms: number | null;
  error: string | null;
  failedTries: string[];
}> {
  if (!MLSERVER) return { peer: null, ms: null, error: 'left out (BENCH_MLSERVER=0)', failedTries: [] };
  const failedTries: string[] = [];
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      const { server, ms } = await coldStart(
        () =>
          startMlserver({
            modelDir: MODEL,
            name: MODEL_NAME,
            workers: WORKERS,
            maxBatchSize: MLSERVER_BATCH,
            maxBatchTimeS: MLSERVER_BATCH_TIME_MS / 1000,
            startTimeoutMs: 150_000,
          }),
        'v2',
      );
      return { peer: server, ms, error: null, failedTries };
    } catch (err) {
      log(`pyfunc: MLServer did not start (try ${attempt}): ${String(err).slice(0, 1500)}`);
      failedTries.push(`${String(err).split('\n')[0]!.replace(/:$/, '').slice(0, 300)} within 150 s`);
    }
  }
  return { peer: null, ms: null, error: failedTries.at(-1)!, failedTries };
}

interface Row {
  server: string;
  route: Route;
  batch: number;
  connections: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  cpu_ms_per_req: number;
}

/** `ours` over `theirs` at each batch and connection count. */
function ratiosOf(rows: Row[], ours: { server: string; route: Route }, theirs: { server: string; route: Route }) {
  const find = (k: { server: string; route: Route }, batch: number, c: number) =>
    rows.find((r) => r.server === k.server && r.route === k.route && r.batch === batch && r.connections === c)!;
  return BATCHES.flatMap((batch) =>
    CONNECTIONS.map((c) => {
      const o = find(ours, batch, c);
      const p = find(theirs, batch, c);
      return {
        server: ours.server,
        batch,
        connections: c,
        rps_ratio: round(o.rps / p.rps, 2),
        p99_ratio: round(o.p99_ms / p.p99_ms, 2),
        cpu_per_req_ratio: round(o.cpu_ms_per_req / p.cpu_ms_per_req, 2),
      };
    }),
  );
}

interface Servers {
  ours?: ModelctlProcess;
  unbatched?: ModelctlProcess;
  mlflow?: MlflowModelsServe;
  mlserver?: MlserverPeer | null;
}

/** Starts the servers one at a time, so no start pays for another's; their cold starts (ms). */
async function startServers(s: Servers, python: string, runDir: string) {
  const a = await coldStart(() =>
    startModelctlServe(
      { MODEL_LOCAL_PATH: MODEL, SERVE_PYTHON: python, SERVE_MAX_CONCURRENCY: String(WORKERS) },
      { readyTimeoutMs: 300_000 },
    ),
  );
  s.ours = a.server;
  log(`pyfunc: modelctl cold start ${a.ms} ms (${WORKERS} workers)`);
  const b = await coldStart(() =>
    startMlflowModelsServe({ runDir, modelPath: MODEL, workers: WORKERS, startTimeoutMs: 300_000 }),
  );
  s.mlflow = b.server;
  log(`pyfunc: mlflow models serve cold start ${b.ms} ms (-w ${WORKERS})`);
  const m = await startMlserverPeer();
  s.mlserver = m.peer;
  if (m.peer)
    log(
      `pyfunc: MLServer ${m.peer.version} cold start ${m.ms} ms (parallel_workers ${WORKERS}, max_batch_size ${MLSERVER_BATCH}, max_batch_time ${MLSERVER_BATCH_TIME_MS} ms)`,
    );
  s.unbatched = await startModelctlServe(
    {
      MODEL_LOCAL_PATH: MODEL,
      SERVE_PYTHON: python,
      SERVE_MAX_CONCURRENCY: String(WORKERS),
      SERVE_PYFUNC_BATCHING: 'off',
    },
    { readyTimeoutMs: 300_000 },
  );
  return { modelctl: a.ms, mlflow: b.ms, mlserver: m.ms, mlserverError: m.error, mlserverFailedTries: m.failedTries };
}

function contendersOf(s: Required<Servers>): Contender[] {
  const oursPid = s.ours.child.pid!;
  const unbatchedPid = s.unbatched.child.pid!;
  const mlserverPid = s.mlserver?.pid;
  return [
    { server: 'modelctl', route: 'invocations', url: s.ours.url, pids: () => processTree(oursPid) },
    { server: 'modelctl-unbatched', route: 'invocations', url: s.unbatched.url, pids: () => processTree(unbatchedPid) },
    { server: 'mlflow', route: 'invocations', url: s.mlflow.url, pids: mlflowProcesses },
    ...(s.mlserver && mlserverPid
      ? ([
          { server: 'modelctl', route: 'v2', url: s.ours.url, pids: () => processTree(oursPid) },
          { server: 'mlserver', route: 'v2', url: s.mlserver.url, pids: () => processTree(mlserverPid) },
        ] as const)
      : []),
  ];
}

/** Every (round, batch, connections, contender), interleaved so the servers share the machine's conditions; medians. */
async function measureRounds(contenders: Contender[]): Promise<Row[]> {
  const samples = new Map<string, Sample[]>();
  const runs = Array.from({ length: ROUNDS }).flatMap(() =>
    BATCHES.flatMap((batch) => CONNECTIONS.flatMap((c) => contenders.map((t) => ({ batch, c, t })))),
  );
  for (const { batch, c, t } of runs) {
    const s = await measure(t, batch, c);
    const key = `${t.server}|${t.route}|${batch}|${c}`;
    samples.set(key, [...(samples.get(key) ?? []), s]);
    log(
      `pyfunc ${t.server} ${t.route} batch ${batch} c=${c}: ${round(s.rps)} req/s p50 ${s.p50_ms} p99 ${s.p99_ms} errors ${s.errors} cpu ${s.cpu_ms_per_req} ms/req (load ${conditions().loadavg_1m})`,
    );
  }
  return [...samples.entries()].map(([key, list]) => {
    const [server, route, batch, c] = key.split('|');
    return {
      server: server!,
      route: route as Route,
      batch: Number(batch),
      connections: Number(c),
      rps: round(median(list.map((s) => s.rps))),
      p50_ms: round(median(list.map((s) => s.p50_ms)), 2),
      p99_ms: round(median(list.map((s) => s.p99_ms)), 2),
      errors: list.reduce((n, s) => n + s.errors, 0),
      cpu_ms_per_req: round(median(list.map((s) => s.cpu_ms_per_req)), 2),
    };
  });
}

/** VmRSS per worker of each server, after the load. */
function memoryOf(ours: ModelctlProcess, mlserver: MlserverPeer | null) {
  const ourPid = `PPid:\t${ours.child.pid}\n`;
  const mlserverPPid = `PPid:\t${mlserver?.pid}\n`;
  return {
    modelctl_worker_rss_mb: rssOf(
      (cmd, _env, status) => cmd.includes('pyfunc_worker.py') && cmd.includes(MODEL) && status.includes(ourPid),
    ),
    // uvicorn's workers: multiprocessing children whose environment names this model (mlflow's get_cmd sets it)
    mlflow_worker_rss_mb: rssOf(
      (cmd, env) => cmd.includes('spawn_main') && env.includes(`__pyfunc_model_path__=file://${MODEL}`),
    ),
    // MLServer's inference workers: the multiprocessing (spawn) children of `mlserver start` (not its resource tracker)
    mlserver_worker_rss_mb: mlserver
      ? rssOf((cmd, _env, status) => cmd.includes('spawn_main') && status.includes(mlserverPPid))
      : [],
  };
}

/** The figures written to bench/results/pyfunc.json. */
function resultOf(
  rows: Row[],
  cold: Awaited<ReturnType<typeof startServers>>,
  memory: ReturnType<typeof memoryOf>,
  mlserver: MlserverPeer | null,
) {
  const mlflowKey = { server: 'mlflow', route: 'invocations' } as const;
  const ratios = [
    ...ratiosOf(rows, { server: 'modelctl', route: 'invocations' }, mlflowKey),
    ...ratiosOf(rows, { server: 'modelctl-unbatched', route: 'invocations' }, mlflowKey),
  ];
  const mlserverRatios = mlserver
    ? ratiosOf(rows, { server: 'modelctl', route: 'v2' }, { server: 'mlserver', route: 'v2' })
    : [];
  const rssRatio = (x: number[], y: number[]) => (x.length && y.length ? round(median(x) / median(y), 2) : null);
  return {
    description:
      'pyfunc runtime (modelctl: as deployed by default, SERVE_PYFUNC_BATCHING=auto, which batches this model up to 1024 rows per predict call; modelctl-unbatched: SERVE_PYFUNC_BATCHING=off, each request its own predict call) vs mlflow models serve (/invocations) and vs MLServer with its MLflow runtime (OIP v2, adaptive batching on; modelctl sent the same v2 request), same sklearn model (iris-sklearn, mlflow.sklearn predict_proba), same number of Python workers',
    conditions: { ...conditions(), quick: QUICK, seconds: SECONDS, rounds: ROUNDS, workers: WORKERS },
    targets: TARGETS,
    mlserver: mlserver
      ? {
          version: mlserver.version,
          settings: mlserver.settings,
          route: 'v2',
          body: 'columns a..d, FP64, shape [rows, 1]',
        }
      : null,
    mlserver_error: cold.mlserverError,
    mlserver_failed_starts: cold.mlserverFailedTries,
    cold_start_ms: {
      modelctl: cold.modelctl,
      mlflow: cold.mlflow,
      ratio: round(cold.modelctl / cold.mlflow, 2),
      mlserver: cold.mlserver,
      ratio_vs_mlserver: cold.mlserver ? round(cold.modelctl / cold.mlserver, 2) : null,
    },
    rows,
    ratios,
    mlserver_ratios: mlserverRatios,
    memory,
    memory_ratio_vs_mlserver: rssRatio(memory.modelctl_worker_rss_mb, memory.mlserver_worker_rss_mb),
  };
}

async function main(): Promise<void> {
  const python = await venvPython();
  const runDir = await mkdtemp(path.join(tmpdir(), 'modelctl-bench-pyfunc-'));
  const s: Servers = {};
  try {
    const cold = await startServers(s, python, runDir);
    const mlserver = s.mlserver ?? null;
    const contenders = contendersOf(s as Required<Servers>);
    for (const batch of BATCHES) await expectSameAnswers(contenders, batch);
    for (const t of contenders) await measure(t, 1, 16); // warm-up
    const rows = await measureRounds(contenders);
    const result = resultOf(rows, cold, memoryOf(s.ours!, mlserver), mlserver);
    log(
      `pyfunc: ratios ${JSON.stringify(result.ratios)} mlserver ratios ${JSON.stringify(result.mlserver_ratios)} memory ${JSON.stringify(result.memory)}`,
    );
    await writeResult('pyfunc', result);
  } finally {
    await s.ours?.stop();
    await s.unbatched?.stop();
    await s.mlflow?.stop();
    await s.mlserver?.stop();
    await rm(runDir, { recursive: true, force: true });
  }
}

await main();
