// Bench: the pyfunc runtime (issue 12) against `mlflow models serve` on the same scikit-learn model
// (examples/models/iris-sklearn, logged with mlflow.sklearn), the same number of Python workers.
//
// 1. cold start: spawn -> first 200 of POST /invocations, for each server (modelctl loads its workers and runs the
//    saved input example before ready; mlflow's CLI starts uvicorn, which loads the model).
// 2. throughput and latency: batch 1 and batch 100 rows (dataframe_split), 16 and 64 connections, autocannon,
//    interleaved, ROUNDS times: medians of req/s, p50, p99, errors summed. modelctl runs twice: as deployed by
//    default (SERVE_PYFUNC_BATCHING=auto: an mlflow.sklearn predict_proba model with named columns is batched,
//    up to 1024 rows per predict call) and with SERVE_PYFUNC_BATCHING=off (each request its own predict call,
//    as mlflow does); both against the same mlflow server, in the same run.
//    Also the CPU time of each server's processes per request (/proc utime+stime): on a shared, loaded machine the
//    one figure that the other sessions' load moves little.
// 3. memory per worker: VmRSS of each modelctl pyfunc worker process and of each uvicorn worker, after the load.
// Writes bench/results/pyfunc.json.
// usage: node --import ./testkit/hub-server/register-ts.ts bench/pyfunc.ts   (needs `make build` and `make peers`)
//   env: BENCH_QUICK=1 (2 s runs, 1 round), BENCH_PYFUNC_SECONDS, BENCH_PYFUNC_ROUNDS, BENCH_PYFUNC_WORKERS (2),
//        BENCH_PYFUNC_CONNECTIONS (16,64), BENCH_PYFUNC_BATCHES (1,100)
import autocannon from 'autocannon';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { venvPython } from '../testkit/peers/mlflow.js';
import { startMlflowModelsServe, type MlflowModelsServe } from '../testkit/peers/mlflow-serve.js';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';
import { QUICK, conditions, envList, envNumber, log, median, round, writeResult } from './bench-kit.js';

const SECONDS = envNumber('BENCH_PYFUNC_SECONDS', QUICK ? 2 : 5);
const ROUNDS = envNumber('BENCH_PYFUNC_ROUNDS', QUICK ? 1 : 3);
const WORKERS = envNumber('BENCH_PYFUNC_WORKERS', 2);
const CONNECTIONS = envList('BENCH_PYFUNC_CONNECTIONS', [16, 64]);
const BATCHES = envList('BENCH_PYFUNC_BATCHES', [1, 100]);
const MODEL = path.join(EXAMPLE_MODELS, 'iris-sklearn');
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

/** `batch` iris-like rows as a dataframe_split body (deterministic). */
function bodyOf(batch: number): string {
  const data = Array.from({ length: batch }, (_v, i) => [4 + (i % 4), 2 + (i % 3) / 2, 1 + (i % 6), (i % 5) / 2]);
  return JSON.stringify({ dataframe_split: { columns: ['a', 'b', 'c', 'd'], data } });
}

async function post(url: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/invocations`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body,
  });
  return { status: res.status, text: await res.text() };
}

async function measure(url: string, body: string, connections: number, pids: () => number[]): Promise<Sample> {
  const before = pids();
  const cpuBefore = cpuMs(before);
  const r = await autocannon({
    url: `${url}/invocations`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
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

/** Spawn -> first 200 of POST /invocations. */
async function coldStart<T extends { url: string }>(start: () => Promise<T>): Promise<{ server: T; ms: number }> {
  const started = performance.now();
  const server = await start();
  const body = bodyOf(1);
  for (;;) {
    if ((await post(server.url, body).catch(() => ({ status: 0 }))).status === 200)
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
async function expectSameAnswers(
  servers: readonly (readonly [string, string, unknown])[],
  batch: number,
): Promise<void> {
  const [x, y, z] = await Promise.all(servers.map(([, url]) => post(url, bodyOf(batch))));
  if (x!.status !== 200 || x!.text !== z!.text || y!.text !== z!.text)
    throw new Error(`answers differ at batch ${batch}: ${x!.text} / ${y!.text} / ${z!.text}`);
}

async function main(): Promise<void> {
  const python = await venvPython();
  const runDir = await mkdtemp(path.join(tmpdir(), 'modelctl-bench-pyfunc-'));
  let ours: ModelctlProcess | undefined;
  let unbatched: ModelctlProcess | undefined;
  let theirs: MlflowModelsServe | undefined;
  try {
    // one at a time, so neither start pays for the other's
    const a = await coldStart(() =>
      startModelctlServe(
        { MODEL_LOCAL_PATH: MODEL, SERVE_PYTHON: python, SERVE_MAX_CONCURRENCY: String(WORKERS) },
        { readyTimeoutMs: 300_000 },
      ),
    );
    ours = a.server;
    log(`pyfunc: modelctl cold start ${a.ms} ms (${WORKERS} workers)`);
    const b = await coldStart(() =>
      startMlflowModelsServe({ runDir, modelPath: MODEL, workers: WORKERS, startTimeoutMs: 300_000 }),
    );
    theirs = b.server;
    log(`pyfunc: mlflow models serve cold start ${b.ms} ms (-w ${WORKERS})`);
    unbatched = await startModelctlServe(
      {
        MODEL_LOCAL_PATH: MODEL,
        SERVE_PYTHON: python,
        SERVE_MAX_CONCURRENCY: String(WORKERS),
        SERVE_PYFUNC_BATCHING: 'off',
      },
      { readyTimeoutMs: 300_000 },
    );
    const oursPid = ours.child.pid!;
    const unbatchedPid = unbatched.child.pid!;
    const servers = [
      ['modelctl', ours.url, () => processTree(oursPid)],
      ['modelctl-unbatched', unbatched.url, () => processTree(unbatchedPid)],
      ['mlflow', theirs.url, mlflowProcesses],
    ] as const;

    for (const batch of BATCHES) await expectSameAnswers(servers, batch);
    for (const [, url, pids] of servers) await measure(url, bodyOf(1), 16, pids); // warm-up
    const samples = new Map<string, Sample[]>();
    // every (round, batch, connections, server), interleaved so the servers share the machine's conditions
    const runs = Array.from({ length: ROUNDS }).flatMap(() =>
      BATCHES.flatMap((batch) =>
        CONNECTIONS.flatMap((c) => servers.map(([server, url, pids]) => ({ batch, c, server, url, pids }))),
      ),
    );
    for (const { batch, c, server, url, pids } of runs) {
      const s = await measure(url, bodyOf(batch), c, pids);
      const key = `${server}|${batch}|${c}`;
      samples.set(key, [...(samples.get(key) ?? []), s]);
      log(
        `pyfunc ${server} batch ${batch} c=${c}: ${round(s.rps)} req/s p50 ${s.p50_ms} p99 ${s.p99_ms} errors ${s.errors} cpu ${s.cpu_ms_per_req} ms/req (load ${conditions().loadavg_1m})`,
      );
    }
    const rows = [...samples.entries()].map(([key, list]) => {
      const [server, batch, c] = key.split('|');
      return {
        server,
        batch: Number(batch),
        connections: Number(c),
        rps: round(median(list.map((s) => s.rps))),
        p50_ms: round(median(list.map((s) => s.p50_ms)), 2),
        p99_ms: round(median(list.map((s) => s.p99_ms)), 2),
        errors: list.reduce((n, s) => n + s.errors, 0),
        cpu_ms_per_req: round(median(list.map((s) => s.cpu_ms_per_req)), 2),
      };
    });
    const ratios = (['modelctl', 'modelctl-unbatched'] as const).flatMap((server) =>
      BATCHES.flatMap((batch) =>
        CONNECTIONS.map((c) => {
          const o = rows.find((r) => r.server === server && r.batch === batch && r.connections === c)!;
          const p = rows.find((r) => r.server === 'mlflow' && r.batch === batch && r.connections === c)!;
          return {
            server,
            batch,
            connections: c,
            rps_ratio: round(o.rps / p.rps, 2),
            p99_ratio: round(o.p99_ms / p.p99_ms, 2),
            cpu_per_req_ratio: round(o.cpu_ms_per_req / p.cpu_ms_per_req, 2),
          };
        }),
      ),
    );
    const ourPid = `PPid:\t${ours.child.pid}\n`;
    const memory = {
      modelctl_worker_rss_mb: rssOf(
        (cmd, _env, status) => cmd.includes('pyfunc_worker.py') && cmd.includes(MODEL) && status.includes(ourPid),
      ),
      // uvicorn's workers: multiprocessing children whose environment names this model (mlflow's get_cmd sets it)
      mlflow_worker_rss_mb: rssOf(
        (cmd, env) => cmd.includes('spawn_main') && env.includes(`__pyfunc_model_path__=file://${MODEL}`),
      ),
    };
    const result = {
      description:
        'pyfunc runtime (modelctl: as deployed by default, SERVE_PYFUNC_BATCHING=auto, which batches this model up to 1024 rows per predict call; modelctl-unbatched: SERVE_PYFUNC_BATCHING=off, each request its own predict call) vs mlflow models serve, same sklearn model (iris-sklearn, mlflow.sklearn predict_proba), same number of Python workers',
      conditions: { ...conditions(), quick: QUICK, seconds: SECONDS, rounds: ROUNDS, workers: WORKERS },
      targets: TARGETS,
      cold_start_ms: { modelctl: a.ms, mlflow: b.ms, ratio: round(a.ms / b.ms, 2) },
      rows,
      ratios,
      memory,
    };
    log(`pyfunc: ratios ${JSON.stringify(ratios)} memory ${JSON.stringify(memory)}`);
    await writeResult('pyfunc', result);
  } finally {
    await ours?.stop();
    await unbatched?.stop();
    await theirs?.stop();
    await rm(runDir, { recursive: true, force: true });
  }
}

await main();
