// `make bench-e2e` (bench/cold-start-e2e.sh prepares the cluster and the image, then runs this): cold start from
// zero on the real single-node Kubernetes + Knative cluster, request sent through the ingress → first 200, for a
// 1 GiB ONNX model and the tiny iris one, from each source: MLflow download (emptyDir), shared PVC cache hit, and
// the agent-warmed node cache (hf://). Each start is split into phases from a pod watch and fetch's and serve's
// JSON logs. Also: steady-state /invocations req/s through the whole Knative path vs straight to the pod, and the
// image's size. Writes bench/results/cold-start-e2e.json and BENCHMARKS.md's section on the cluster.
//   BENCH_E2E_RUNS=5              measured cold starts per cell (after the first start, which primes the PVC)
//   BENCH_E2E_SOURCES=mlflow,pvc,hf   which sources (hf needs the Hub stand-in: testkit/e2e/hub.ts)
//   BENCH_E2E_KEEP=1              leave the bench's Knative Services in place afterwards
//   BENCH_QUICK=1                 shorter steady-state runs
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { CACHE, INGRESS, REPO_ROOT, getJson, kubectl, postThroughIngress, waitReady } from '../testkit/e2e/cluster.js';
import { MLFLOW_IN_CLUSTER, MLFLOW_NS, ensureMlflow, installModelctl, venvPython } from '../testkit/e2e/mlflow.js';
import { QUICK, ROOT, RESULTS_DIR, conditions, envNumber, log, median, round, writeResult } from './bench-kit.js';
import {
  FAST_SCALE_DOWN,
  applyCell,
  commonArgs,
  deleteServices,
  servicePods,
  waitForCpu,
  type Cell,
  type ModelKey,
  type Source,
} from './e2e-cells.js';
import { loggedTimes, phasesOf, recordedTimes, watchNewPod, type Phases } from './e2e-pod-timeline.js';
import { measureRoutes, onlyPodIp } from './e2e-rps.js';

const NS = 'modelctl-system';
const KUBECONFIG = process.env.KUBECONFIG ?? path.join(CACHE, 'cluster', 'kubeconfig');
const IMAGE = process.env.BENCH_E2E_IMAGE_REF ?? 'dev.local/modelctl:bench-e2e';
const DOCKER_IMAGE = process.env.BENCH_E2E_DOCKER_IMAGE ?? 'modelctl:bench-e2e';
const RUNS = envNumber('BENCH_E2E_RUNS', 5);
/**
 * CPU per serving pod (request = limit). The node has 2 cores, about 0.65 of them requested by Kubernetes and
 * Knative: at 0.5 a new pod fits beside a terminating one (queue-proxy drains for ~30 s after scale-down).
 */
const CORES = envNumber('BENCH_E2E_CORES', 0.5);
/** queue-proxy's CPU request (Knative's default 25m) */
const QUEUE_PROXY_MILLI = 25;
const SOURCES = (process.env.BENCH_E2E_SOURCES ?? 'mlflow,pvc,hf').split(',') as Source[];
const MODELS: ModelKey[] = ['tiny', 'embed-1g'];
const INPUTS: Record<ModelKey, unknown> = {
  tiny: { inputs: [[5.1, 3.5, 1.4, 0.2]] },
  'embed-1g': { inputs: [0, 524288, 1048575] },
};
const RPS_SERVICE = 'bench-e2e-rps';
const WORK = path.join(CACHE, 'bench-e2e');

interface LoggedModel {
  dir: string;
  bytes: number;
  modelUri: string;
}

/** The two models, logged and registered once per MLflow pod (its store is an emptyDir): bench/e2e-models.py. */
async function logModels(): Promise<Record<ModelKey, LoggedModel>> {
  await ensureMlflow();
  const pods = await getJson<{ items: { metadata: { uid: string } }[] }>(
    ...['pods', '-n', MLFLOW_NS, '-l', 'app=mlflow', '--field-selector=status.phase=Running'],
  );
  const uid = pods.items[0]?.metadata.uid;
  if (uid === undefined) throw new Error('no Running MLflow pod');
  const out = path.join(WORK, `mlflow-${uid}.json`);
  const cached = await readFile(out, 'utf8').catch(() => null);
  if (cached !== null) return JSON.parse(cached) as Record<ModelKey, LoggedModel>;
  const svc = await getJson<{ spec: { clusterIP: string } }>('service', 'mlflow', '-n', MLFLOW_NS);
  log('generating (once) and logging the models into the in-cluster MLflow');
  const stdout = execFileSync(
    await venvPython(),
    [
      path.join(ROOT, 'bench', 'e2e-models.py'),
      'log',
      ...['--work-dir', path.join(WORK, 'models'), '--tracking-uri', `http://${svc.spec.clusterIP}:5000`],
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 1_200_000, maxBuffer: 1 << 20 },
  );
  // MLflow prints its run links on stdout too: the description is the last line
  const described = stdout.trim().split('\n').pop() ?? '';
  const models = JSON.parse(described) as Record<ModelKey, LoggedModel>;
  await mkdir(WORK, { recursive: true });
  await writeFile(out, described);
  return models;
}

const serviceName = (source: Source, model: ModelKey) => `bench-e2e-${model === 'tiny' ? 'tiny' : '1g'}-${source}`;

function mlflowCells(models: Record<ModelKey, LoggedModel>): Cell[] {
  const cells: Cell[] = [];
  for (const source of SOURCES.filter((s): s is 'mlflow' | 'pvc' => s === 'mlflow' || s === 'pvc')) {
    for (const model of MODELS) {
      cells.push({
        source,
        model,
        service: serviceName(source, model),
        hasInit: true,
        args: [
          ...['--model-uri', models[model].modelUri, '--mlflow-tracking-uri', MLFLOW_IN_CLUSTER],
          ...(source === 'pvc' ? ['--storage', 'pvc'] : []),
        ],
      });
    }
  }
  return cells;
}

/** The hf:// cells, when the Hub stand-in's helpers are there (bench/cold-start-e2e-hf.ts). */
async function hfCells(
  models: Record<ModelKey, LoggedModel>,
): Promise<{ cells: Cell[]; note: string | null; restore: () => Promise<void> }> {
  const none = async () => undefined;
  if (!SOURCES.includes('hf')) return { cells: [], note: 'hf:// not asked for (BENCH_E2E_SOURCES)', restore: none };
  const { prepareHfCells } = await import('./cold-start-e2e-hf.js');
  const prepared = await prepareHfCells({ models, serviceName: (m) => serviceName('hf', m) });
  return { ...prepared, note: null };
}

interface Run {
  round: number;
  ok: boolean;
  status: number;
  total_ms: number;
  phases: Phases;
  pod: string | null;
  fetch_source: string | null;
  fetch_ms: number | null;
  serve_load_ms: number | null;
  input_example_ms: number | null;
  terminating_pods_at_start: number;
  waited_for_cpu_ms: number;
  loadavg_1m: number;
  recorded: Record<string, number | null>;
}

/** Waits until no pod of the Service serves (terminating ones may remain: they take no traffic). */
async function waitScaledToZero(service: string): Promise<number> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const pods = await servicePods(NS, service);
    if (pods.live === 0) return pods.names.length;
    if (Date.now() > deadline) throw new Error(`${service} did not scale to zero in 300 s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** POSTs the model's input through the ingress until it answers 200; the activator holds it during the start. */
async function firstOk(cell: Cell): Promise<{ status: number; t1: number }> {
  const deadline = Date.now() + 900_000;
  let status = 0;
  while (Date.now() < deadline) {
    const res = await postThroughIngress(cell.service, NS, '/invocations', INPUTS[cell.model]).catch(
      (err: unknown) => ({ status: 0, body: String(err) }),
    );
    const body = res.body;
    status = res.status;
    if (status === 200 && body.includes('predictions')) return { status, t1: Date.now() };
    log(`${cell.service}: answered ${status} ${body.slice(0, 200)}; retrying`);
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${cell.service}: no 200 within 900 s (last status ${status})`);
}

async function coldStart(cell: Cell, roundNo: number): Promise<Run> {
  await cell.ensure?.();
  const terminating = await waitScaledToZero(cell.service);
  const cpuWaitMs = await waitForCpu(Math.round(CORES * 1000) + QUEUE_PROXY_MILLI);
  const before = await servicePods(NS, cell.service);
  const watch = await watchNewPod({
    kubeconfig: KUBECONFIG,
    namespace: NS,
    service: cell.service,
    ignore: new Set(before.names),
  });
  const load = loadavg()[0]!;
  const t0 = Date.now();
  const { status, t1 } = await firstOk(cell);
  // the watch may see Ready a moment after the answer
  await new Promise((r) => setTimeout(r, 1500));
  const seen = watch.stop();
  const logged = seen.pod
    ? await loggedTimes(NS, seen.pod, cell.hasInit)
    : {
        fetch_first_line: null,
        fetch_ready: null,
        fetch_ms: null,
        fetch_source: null,
        serve_listening: null,
        serve_model_ready: null,
        serve_load_ms: null,
        input_example_ms: null,
      };
  const phases = phasesOf(t0, t1, seen.observed, logged);
  log(`${cell.service} round ${roundNo}: ${t1 - t0} ms ${JSON.stringify(phases)}`);
  return {
    round: roundNo,
    ok: status === 200,
    status,
    total_ms: t1 - t0,
    phases,
    pod: seen.pod,
    fetch_source: cell.source === 'hf' ? 'hf-node-cache (serve reads the hostPath)' : logged.fetch_source,
    fetch_ms: logged.fetch_ms,
    serve_load_ms: logged.serve_load_ms,
    input_example_ms: logged.input_example_ms,
    terminating_pods_at_start: terminating,
    waited_for_cpu_ms: cpuWaitMs,
    loadavg_1m: round(load, 2),
    recorded: Object.fromEntries(
      Object.entries(recordedTimes(seen.last)).map(([k, v]) => [k, v === null ? null : v - t0]),
    ),
  };
}

function summarizeCell(cell: Cell, runs: Run[]) {
  const counted = runs.filter((r) => r.ok);
  const medianOf = (xs: (number | null)[]) => {
    const ys = xs.filter((x): x is number => x !== null);
    return ys.length ? round(median(ys)) : null;
  };
  const phaseNames = Object.keys(counted[0]?.phases ?? {}) as (keyof Phases)[];
  const phaseMedians = Object.fromEntries(
    phaseNames.map((k) => {
      const xs = counted.map((r) => r.phases[k]).filter((x): x is number => x !== null);
      return [k, xs.length ? round(median(xs)) : null];
    }),
  );
  return {
    source: cell.source,
    model: cell.model,
    service: cell.service,
    median_ms: round(median(counted.map((r) => r.total_ms))),
    runs_ms: counted.map((r) => r.total_ms),
    phases_median_ms: phaseMedians,
    fetch_sources: [...new Set(counted.map((r) => r.fetch_source))],
    serve_load_median_ms: medianOf(counted.map((r) => r.serve_load_ms)),
    input_example_median_ms: medianOf(counted.map((r) => r.input_example_ms)),
    fetch_median_ms: medianOf(counted.map((r) => r.fetch_ms)),
    runs,
  };
}

type CellSummary = ReturnType<typeof summarizeCell>;

function ratios(cells: CellSummary[]) {
  const at = (source: Source, model: ModelKey) =>
    cells.find((c) => c.source === source && c.model === model)?.median_ms ?? null;
  const div = (a: number | null, b: number | null) => (a === null || b === null ? null : round(a / b, 2));
  const sizeRatio = (source: Source) => div(at(source, 'embed-1g'), at(source, 'tiny'));
  const speedup = (source: Source) => div(at('mlflow', 'embed-1g'), at(source, 'embed-1g'));
  const r = {
    pvc_1g_vs_tiny: sizeRatio('pvc'),
    hf_1g_vs_tiny: sizeRatio('hf'),
    mlflow_1g_vs_tiny: sizeRatio('mlflow'),
    mlflow_vs_pvc_1g: speedup('pvc'),
    mlflow_vs_hf_1g: speedup('hf'),
  };
  const le = (x: number | null, t: number) => (x === null ? null : x <= t);
  const ge = (x: number | null, t: number) => (x === null ? null : x >= t);
  return {
    ratios: r,
    pass: {
      pvc_size_free: le(r.pvc_1g_vs_tiny, 1.3),
      hf_size_free: le(r.hf_1g_vs_tiny, 1.3),
      pvc_5x_mlflow: ge(r.mlflow_vs_pvc_1g, 5),
      hf_5x_mlflow: ge(r.mlflow_vs_hf_1g, 5),
    },
  };
}

/** Steady state on one warm pod of the tiny model (min = max = 1 pod, 1 core). */
async function steadyState(models: Record<ModelKey, LoggedModel>) {
  const cell: Cell = {
    source: 'mlflow',
    model: 'tiny',
    service: RPS_SERVICE,
    hasInit: true,
    args: ['--model-uri', models.tiny.modelUri, '--mlflow-tracking-uri', MLFLOW_IN_CLUSTER],
  };
  await applyCell({
    args: [
      ...commonArgs({ cell, namespace: NS, image: IMAGE, cores: 1 }),
      ...cell.args,
      '--min-scale',
      '1',
      '--max-scale',
      '1',
    ],
    annotations: {},
    namespace: NS,
    service: RPS_SERVICE,
  });
  await firstOk(cell);
  const sks = await getJson<{ spec: { mode?: string } }>('sks', `${RPS_SERVICE}-v1`, '-n', NS).catch(() => null);
  const connections = envNumber('BENCH_E2E_RPS_CONNECTIONS', 8);
  const seconds = envNumber('BENCH_E2E_RPS_SECONDS', QUICK ? 5 : 10);
  const rounds = envNumber('BENCH_E2E_RPS_ROUNDS', QUICK ? 1 : 2);
  const routes = await measureRoutes({
    ingress: INGRESS,
    host: `${RPS_SERVICE}.${NS}.example.com`,
    podIp: await onlyPodIp(NS, RPS_SERVICE),
    body: JSON.stringify(INPUTS.tiny),
    connections,
    seconds,
    rounds,
  });
  const pod = routes.find((r) => r.route === 'pod')!.rps;
  return {
    model: 'tiny',
    connections,
    seconds,
    rounds,
    activator_mode: sks?.spec.mode ?? null,
    routes,
    vs_pod: Object.fromEntries(routes.map((r) => [r.route, round(r.rps / pod, 3)])),
  };
}

function imageSize(): { image: string; bytes: number | null } {
  try {
    const out = execFileSync('/usr/bin/docker', ['image', 'inspect', '--format', '{{.Size}}', DOCKER_IMAGE], {
      encoding: 'utf8',
    });
    return { image: DOCKER_IMAGE, bytes: Number(out.trim()) };
  } catch {
    return { image: DOCKER_IMAGE, bytes: null };
  }
}

async function measureCells(cells: Cell[]): Promise<CellSummary[]> {
  const runs = new Map<string, Run[]>(cells.map((c) => [c.service, []]));
  for (let r = 1; r <= RUNS; r++) {
    for (const cell of cells) runs.get(cell.service)!.push(await coldStart(cell, r));
  }
  return cells.map((c) => summarizeCell(c, runs.get(c.service)!));
}

async function main(): Promise<void> {
  const started = conditions();
  // the code this run runs: read now, a checkout may move while it runs
  const commit = execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const loadStart = loadavg().map((x) => round(x, 2));
  log(`bench-e2e: load ${loadStart.join(' ')}; ${RUNS} runs per cell; sources ${SOURCES.join(',')}`);
  await installModelctl();
  const models = await logModels();
  const hf = await hfCells(models);
  const cells = [...mlflowCells(models), ...hf.cells];
  const services = [...cells.map((c) => c.service), RPS_SERVICE];
  await deleteServices(NS, services);
  try {
    const rps = SOURCES.includes('mlflow') ? await steadyState(models) : null;
    await kubectl('delete', 'ksvc', '-n', NS, RPS_SERVICE, '--ignore-not-found', '--wait=false');
    // the first start of each primes the PVC cache; they start together and wait for CPU as they must
    for (const cell of cells) {
      log(`deploying ${cell.service}`);
      await applyCell({
        args: [...commonArgs({ cell, namespace: NS, image: IMAGE, cores: CORES }), ...cell.args],
        annotations: FAST_SCALE_DOWN,
        namespace: NS,
        service: cell.service,
        wait: false,
      });
    }
    for (const c of cells) await c.ensure?.();
    await Promise.all(cells.map((c) => waitReady('ksvc', NS, c.service, 1_200_000)));
    const summaries = await measureCells(cells);
    await writeResult('cold-start-e2e', {
      description:
        'cold start from zero on the single-node cluster: request sent through the ingress → first 200; median of runs per model and source',
      command: 'make bench-e2e',
      started: started.at,
      finished: new Date().toISOString(),
      loadavg_start: loadStart,
      loadavg_end: loadavg().map((x) => round(x, 2)),
      settings: {
        runs: RUNS,
        namespace: NS,
        image: IMAGE,
        ingress: INGRESS,
        annotations: FAST_SCALE_DOWN,
        cores: CORES,
        serve_max_concurrency: 1,
        memory_gib: { tiny: 1, 'embed-1g': 3 },
      },
      models: Object.fromEntries(MODELS.map((m) => [m, { bytes: models[m].bytes, model_uri: models[m].modelUri }])),
      hf_note: hf.note,
      cells: summaries,
      ...ratios(summaries),
      steady_state: rps,
      image_size: imageSize(),
      git_commit: commit,
    });
    const { writeClusterSection } = (await import(path.join(ROOT, 'bench', 'report.js'))) as {
      writeClusterSection: (o: { root: string; resultsDir: string }) => Promise<void>;
    };
    await writeClusterSection({ root: ROOT, resultsDir: RESULTS_DIR });
    log('wrote BENCHMARKS.md (section: cold start on the cluster)');
  } finally {
    if (process.env.BENCH_E2E_KEEP !== '1') {
      await deleteServices(NS, services).catch(() => undefined);
      await hf.restore().catch((err: unknown) => log(`could not restore the models ConfigMap: ${String(err)}`));
    }
  }
}

await main();
