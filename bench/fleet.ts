// Bench 6: fleet simulation, through the warm plan. Peers: the local Hub server (testkit/peers/hub.ts) and the
// testing ground's kube-apiserver with the Knative CRDs (testkit/peers/kube.ts; binaries built once by
// testkit/peers/ensure-kube.sh). For each fleet size N, in a fresh namespace:
//   1. the models ConfigMap `modelctl-models` (three models, gpu_compatible [nvidia-l4]);
//   2. `modelctl warm` (the built CLI, as its Knative Service runs it) gets one ApiServerSource "add" CloudEvent
//      for it, resolves each model's revision to a commit once and publishes the plan ConfigMap `modelctl-plan`;
//      warm then drains and exits;
//   3. N Node objects labelled nvidia.com/gpu.product=NVIDIA-L4, and knative/agent/rbac.yaml in the namespace;
//   4. N `modelctl agent` processes in cluster mode (NODE_NAME each, own empty cache and state dir, the agent
//      ServiceAccount's token from the TokenRequest API, AGENT_START_JITTER_SECONDS=0: the whole fleet at once),
//      run until every Node carries every model's ready label (`models.modelctl.dev/<org>--<name>=ready`);
//   5. the Hub's request log (HubAdmin) split at the marks: warm's window and the agents' window.
// API calls are model-info, revision, tree, paths-info, refs; file traffic is resolve, resolve-cache, cdn.
// Writes bench/results/fleet.json:
//   { bench, description, settings: { sizes, models, lfs_mib_per_node, quick, plan_used: true }, plan_note,
//     fleets: [ { agents, ok, failed, wall_s, agent_median_s,
//                 api_calls_total, api_calls_per_node, api_calls_per_model_per_node,   (the agents' window only)
//                 agent_api_calls: [ { endpoint, repo, status, count } ],             (what agents asked, if any)
//                 file_requests_total, bytes_served_total, bytes_served_per_node_mib,
//                 bytes_per_node_mib: { min, median, max },   (each agent's modelctl_agent_download_bytes_total)
//                 time_to_ready_s: { median, p90, max },      (agent spawn → Node status with every model ready)
//                 agent_peak_rss_mb: { median, max },         (VmHWM of each agent once all are ready; the agents
//                                                              run with the DaemonSet's NODE_OPTIONS and MALLOC_*)
//                 nodes_source_plan,                          (Nodes whose status annotation says source "plan")
//                 warm: { api_calls, by_endpoint, reported_hub_requests, action, event_ms, peak_rss_mb },
//                 by_endpoint,                                (agents' window)
//                 loadavg_1m_end } ],
//     api_calls_per_node_constant, warm_api_calls_constant, conditions_start, conditions_end }
// usage: node --import ./testkit/hub-server/register-ts.ts bench/fleet.ts   (needs `make build`)
//   env: BENCH_QUICK=1 (N = 1,5,20), BENCH_FLEET_SIZES=1,10,50
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api, type V1Node } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { HubAdmin } from '../testkit/hub-server/hub-admin.js';
import { buildBenchRepo } from '../testkit/hub-server/fixtures.js';
import type { HubStats } from '../testkit/hub-server/request-log.js';
import {
  adminKubeConfig,
  createTestNamespace,
  kubePeer,
  modelsConfigMapAddEvent,
  runKubectl,
  writeServiceAccountKubeconfig,
} from '../testkit/kube-helpers.js';
import { spawnHubServer } from '../testkit/peers/hub.js';
import { startKube } from '../testkit/peers/kube.js';
import { PeerRun, freePort } from '../testkit/peers/peer-run.js';
import { REPO_ROOT, runModelctl } from '../testkit/modelctl-process.js';
import { parsePlan, PLAN_KEY } from '../shared/plan/plan.js';
import { modelReadyLabelKey } from '../shared/k8s/node-labels.js';
import {
  QUICK,
  conditions,
  envList,
  log,
  median,
  percentile,
  round,
  shippedAgentEnv,
  writeResult,
} from './bench-kit.js';

const SIZES = envList('BENCH_FLEET_SIZES', QUICK ? [1, 5, 20] : [1, 10, 50]);
const MIB = 1024 * 1024;
/** The plan: three models of config.json + LFS shards (count × MiB). */
const MODELS = [
  { repo: 'bench-org/fleet-a', count: 2, mib: 4 },
  { repo: 'bench-org/fleet-b', count: 1, mib: 8 },
  { repo: 'bench-org/fleet-c', count: 3, mib: 1 },
];
const API = new Set(['model-info', 'revision', 'tree', 'paths-info', 'refs']);
const FILES = new Set(['resolve', 'resolve-cache', 'cdn']);
const GPU_LABEL = { 'nvidia.com/gpu.product': 'NVIDIA-L4' };
const FLEET_LABEL = 'modelctl.bench/fleet';
const READY_LABELS = MODELS.map((m) => modelReadyLabelKey(m.repo));
const STATUS_ANNOTATION = 'modelctl.dev/agent-status';
/** the agents run with the DaemonSet's runtime settings (NODE_OPTIONS, MALLOC_*), as in a cluster */
const AGENT_ENV = shippedAgentEnv();

type Core = CoreV1Api;
type Proc = ReturnType<typeof runModelctl>;

/** Peak RSS so far of a live process (VmHWM, a high-water mark). */
function readPeakRssMb(pid: number | undefined): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

function sumOf(stats: HubStats, keys: Set<string>, field: 'requests' | 'bytes'): number {
  return Object.entries(stats.byEndpoint).reduce((s, [ep, v]) => s + (keys.has(ep) ? v[field] : 0), 0);
}

/** knative/agent/rbac.yaml moved into `ns` (cluster-scoped names suffixed), as test/agent-kube.test.ts does. */
async function applyAgentRbac(ns: string): Promise<void> {
  interface Doc {
    kind: string;
    metadata: { name: string; namespace?: string };
    roleRef?: { name: string };
    subjects?: { namespace?: string }[];
  }
  const text = await readFile(path.join(REPO_ROOT, 'knative/agent/rbac.yaml'), 'utf8');
  const docs = parseAllDocuments(text).map((d) => d.toJS() as Doc);
  for (const doc of docs) {
    if (doc.metadata.namespace) doc.metadata.namespace = ns;
    if (doc.kind === 'ClusterRole' || doc.kind === 'ClusterRoleBinding') doc.metadata.name += `-${ns}`;
    if (doc.kind === 'ClusterRoleBinding' && doc.roleRef) doc.roleRef.name += `-${ns}`;
    for (const s of doc.subjects ?? []) s.namespace = ns;
  }
  const applied = await runKubectl(['apply', '-f', '-'], { stdin: docs.map((d) => JSON.stringify(d)).join('\n') });
  if (applied.code !== 0) throw new Error(`kubectl apply of the agent RBAC failed: ${applied.stderr}`);
}

/** The models ConfigMap, created the way test/warm-cli.test.ts does; returns the object an ApiServerSource sends. */
async function createModelsConfigMap(ns: string): Promise<Record<string, unknown>> {
  const yaml = [
    'minFreeSpaceGB: 1',
    'checkIntervalSeconds: 3600',
    'models:',
    ...MODELS.map((m) => `  ${m.repo}:\n    revision: main\n    gpu_compatible: [nvidia-l4]`),
  ].join('\n');
  const created = await runKubectl([
    'create',
    'configmap',
    'modelctl-models',
    '-n',
    ns,
    `--from-literal=models.yaml=${yaml}\n`,
  ]);
  if (created.code !== 0) throw new Error(`kubectl create configmap failed: ${created.stderr}`);
  const got = await runKubectl(['get', 'configmap', 'modelctl-models', '-n', ns, '-o', 'json']);
  return JSON.parse(got.stdout) as Record<string, unknown>;
}

/**
 * Runs `modelctl warm` for `ns`, posts one ApiServerSource add event for the models ConfigMap (as
 * test/warm-cli.test.ts does), checks the published plan, then stops warm (SIGTERM, drain).
 */
async function warmOnce(ns: string, cm: Record<string, unknown>, hubUrl: string) {
  const warm = runModelctl(['warm', '--port', '0', '--host', '127.0.0.1'], {
    POD_NAMESPACE: ns,
    KUBECONFIG: kubePeer().kubeconfig,
    HF_ENDPOINT: hubUrl,
    LOG_LEVEL: 'info',
  });
  try {
    const port = await waitForPort(warm);
    const message = modelsConfigMapAddEvent(ns, cm);
    const started = performance.now();
    const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', ...message });
    const eventMs = performance.now() - started;
    const reply = (await res.json()) as { action?: string; hubRequests?: Record<string, number> };
    if (res.status !== 200 || res.headers.get('ce-type') !== 'dev.modelctl.warm.planned')
      throw new Error(`warm answered ${res.status} ${JSON.stringify(reply)}\n${warm.output().slice(-3000)}`);
    const planCm = await adminKubeConfig()
      .makeApiClient(CoreV1Api)
      .readNamespacedConfigMap({ namespace: ns, name: 'modelctl-plan' });
    const plan = parsePlan(planCm.data?.[PLAN_KEY] ?? '');
    const bad = plan.models.filter((m) => m.status !== 'ok' || !m.commit);
    if (plan.models.length !== MODELS.length || bad.length > 0)
      throw new Error(
        `warm published an unexpected plan: ${JSON.stringify(plan.models.map((m) => [m.repo, m.status]))}`,
      );
    return { action: reply.action, hubRequests: reply.hubRequests, eventMs, peakRssMb: readPeakRssMb(warm.child.pid) };
  } finally {
    const code = await warm.stop();
    if (code !== 0) log(`warm exited ${String(code)}:\n${warm.output().slice(-2000)}`);
  }
}

async function waitForPort(proc: Proc): Promise<number> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const m = /"port":(\d+),[^\n]*"msg":"warm listening"/.exec(proc.output());
    if (m) return Number(m[1]);
    if (proc.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`modelctl warm did not start:\n${proc.output()}`);
}

interface AgentProc {
  node: string;
  proc: Proc;
  metricsPort: number;
  spawnedAt: number;
  readyAt?: number;
  source?: string;
}

function startAgent(params: { ns: string; node: string; nodeDir: string; kubeconfig: string; hubUrl: string }) {
  return async (): Promise<AgentProc> => {
    const metricsPort = await freePort();
    const spawnedAt = Date.now();
    const proc = runModelctl(['agent'], {
      NODE_NAME: params.node,
      POD_NAMESPACE: params.ns,
      KUBECONFIG: params.kubeconfig,
      HF_ENDPOINT: params.hubUrl,
      HF_HUB_CACHE: path.join(params.nodeDir, 'hub'),
      AGENT_STATE_DIR: path.join(params.nodeDir, 'state'),
      AGENT_START_JITTER_SECONDS: '0',
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'info',
      ...AGENT_ENV,
    });
    return { node: params.node, proc, metricsPort, spawnedAt };
  };
}

/** Ready: every model's ready label on the Node. Time: the status annotation's `updatedAt` (the agent's report). */
function readyAt(node: V1Node): { at: number; source: string } | null {
  const labels = node.metadata?.labels ?? {};
  if (!READY_LABELS.every((k) => labels[k] === 'ready')) return null;
  const raw = node.metadata?.annotations?.[STATUS_ANNOTATION];
  const status = raw ? (JSON.parse(raw) as { updatedAt?: string; source?: string }) : {};
  return { at: status.updatedAt ? Date.parse(status.updatedAt) : Date.now(), source: status.source ?? '?' };
}

async function waitAllReady(core: Core, ns: string, agents: Map<string, AgentProc>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await core.listNode({ labelSelector: `${FLEET_LABEL}=${ns}` });
    for (const node of list.items) {
      const agent = agents.get(node.metadata!.name!);
      if (!agent || agent.readyAt !== undefined) continue;
      const ready = readyAt(node);
      if (ready) Object.assign(agent, { readyAt: ready.at, source: ready.source });
    }
    const waiting = [...agents.values()].filter((a) => a.readyAt === undefined);
    if (waiting.length === 0) return;
    const dead = waiting.filter((a) => a.proc.child.exitCode !== null || a.proc.child.signalCode !== null);
    if (dead.length > 0 || Date.now() > deadline) {
      const first = dead[0] ?? waiting[0]!;
      log(
        `${waiting.length} agent(s) not ready (${dead.length} exited); ${first.node}:\n${first.proc.output().slice(-3000)}`,
      );
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function downloadBytes(agent: AgentProc): Promise<number | null> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    const m = /^modelctl_agent_download_bytes_total(?:\{[^}]*\})? (\S+)$/m.exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The Hub API requests counted by endpoint, repo and status. */
function apiCallCounts(requests: { endpoint: string; repo?: string | undefined; status: number }[]) {
  const calls = new Map<string, { endpoint: string; repo: string; status: number; count: number }>();
  for (const r of requests) {
    const key = `${r.endpoint} ${r.repo ?? ''} ${r.status}`;
    const c = calls.get(key) ?? { endpoint: r.endpoint, repo: r.repo ?? '', status: r.status, count: 0 };
    c.count++;
    calls.set(key, c);
  }
  return calls;
}

async function fleetOf(n: number, ctx: { work: string; hubUrl: string; admin: HubAdmin; core: Core }) {
  const { admin, core } = ctx;
  const ns = await createTestNamespace(`fleet-${n}`);
  const dir = path.join(ctx.work, `fleet-${n}`);
  await mkdir(dir, { recursive: true });
  // 1-2. the models ConfigMap, and warm publishing the plan once
  const cm = await createModelsConfigMap(ns);
  const warmMark = await admin.mark();
  const warm = await warmOnce(ns, cm, ctx.hubUrl);
  const warmStats = await admin.stats(warmMark);
  // 3. Nodes and the agent's RBAC
  await applyAgentRbac(ns);
  const kubeconfig = path.join(dir, 'kubeconfig');
  await writeServiceAccountKubeconfig(ns, 'modelctl-agent', kubeconfig);
  const nodes = Array.from({ length: n }, (_v, i) => `${ns}-gpu-${i}`);
  for (const name of nodes)
    await core.createNode({ body: { metadata: { name, labels: { ...GPU_LABEL, [FLEET_LABEL]: ns } } } });
  // 4. the fleet, all at once
  const agentMark = await admin.mark();
  const started = Date.now();
  const agents = new Map<string, AgentProc>();
  const spawned = await Promise.all(
    nodes.map((node, i) =>
      startAgent({ ns, node, nodeDir: path.join(dir, `node-${i}`), kubeconfig, hubUrl: ctx.hubUrl })(),
    ),
  );
  for (const a of spawned) agents.set(a.node, a);
  await waitAllReady(core, ns, agents, (120 + 6 * n) * 1000);
  const all = [...agents.values()];
  const ready = all.filter((a) => a.readyAt !== undefined);
  const wallMs = Math.max(...ready.map((a) => a.readyAt!), started) - started;
  const rss = all.map((a) => readPeakRssMb(a.proc.child.pid) ?? 0);
  const bytes = (await Promise.all(all.map(downloadBytes))).map((b) => b ?? 0);
  const loadEnd = round(loadavg()[0]!, 2);
  await Promise.all(all.map((a) => a.proc.stop()));
  // 5. the request log: what the agents asked, from their start until they stopped
  const stats = await admin.stats(agentMark);
  const calls = apiCallCounts((await admin.requests({ since: agentMark })).filter((r) => API.has(r.endpoint)));
  await rm(dir, { recursive: true, force: true });
  const apiCalls = sumOf(stats, API, 'requests');
  const fileBytes = sumOf(stats, FILES, 'bytes');
  const readyS = ready.map((a) => (a.readyAt! - a.spawnedAt) / 1000);
  return {
    agents: n,
    namespace: ns,
    ok: ready.length,
    failed: n - ready.length,
    wall_s: round(wallMs / 1000, 2),
    agent_median_s: round(median(readyS), 2),
    api_calls_total: apiCalls,
    api_calls_per_node: round(apiCalls / n, 2),
    api_calls_per_model_per_node: round(apiCalls / n / MODELS.length, 2),
    agent_api_calls: [...calls.values()],
    file_requests_total: sumOf(stats, FILES, 'requests'),
    bytes_served_total: fileBytes,
    bytes_served_per_node_mib: round(fileBytes / n / MIB, 2),
    bytes_per_node_mib: {
      min: round(Math.min(...bytes) / MIB, 2),
      median: round(median(bytes) / MIB, 2),
      max: round(Math.max(...bytes) / MIB, 2),
    },
    time_to_ready_s: readyS.length
      ? { median: round(median(readyS), 2), p90: round(percentile(readyS, 90), 2), max: round(Math.max(...readyS), 2) }
      : null,
    agent_peak_rss_mb: { median: round(median(rss)), max: round(Math.max(...rss)) },
    nodes_source_plan: ready.filter((a) => a.source === 'plan').length,
    warm: {
      api_calls: sumOf(warmStats, API, 'requests'),
      file_requests: sumOf(warmStats, FILES, 'requests'),
      by_endpoint: warmStats.byEndpoint,
      reported_hub_requests: warm.hubRequests ?? null,
      action: warm.action ?? null,
      event_ms: round(warm.eventMs),
      peak_rss_mb: warm.peakRssMb === null ? null : round(warm.peakRssMb),
    },
    by_endpoint: stats.byEndpoint,
    loadavg_1m_end: loadEnd,
  };
}

delete process.env.HF_TOKEN; // anonymous, as for a public repo
const run = await PeerRun.create();
const work = await mkdtemp(path.join(tmpdir(), 'modelctl-bench-fleet-'));
try {
  const started = conditions();
  const reposDir = path.join(work, 'repos');
  for (const m of MODELS)
    await buildBenchRepo({ root: reposDir, repo: m.repo, fileCount: m.count, fileSize: m.mib * MIB });
  log('fleet: starting the local Hub and the kube-apiserver peer');
  const [hub] = await Promise.all([spawnHubServer(run, { reposDir }), startKube(run)]);
  run.publish(); // testkit/kube-helpers.ts reads the kube peer's coordinates from what the run publishes
  const admin = new HubAdmin(hub.adminUrl);
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const fleets = [];
  for (const n of SIZES) {
    log(`fleet: warm plans ${MODELS.length} models, then ${n} agent(s) follow the plan`);
    const f = await fleetOf(n, { work, hubUrl: hub.url, admin, core });
    log(
      `fleet N=${n}: ${f.ok}/${n} ready in ${f.wall_s} s; Hub API calls: warm ${f.warm.api_calls}, agents ${f.api_calls_total} (${f.api_calls_per_node}/node); MiB/node ${f.bytes_served_per_node_mib}; peak RSS max ${f.agent_peak_rss_mb.max} MB; load ${f.loadavg_1m_end}`,
    );
    fleets.push(f);
  }
  const repoMib = MODELS.reduce((s, m) => s + m.count * m.mib, 0);
  await writeResult('fleet', {
    bench: 'fleet',
    description:
      '`modelctl warm` publishes the plan once (one ApiServerSource event), then N `modelctl agent` processes in cluster mode (one Node each, own empty cache, AGENT_START_JITTER_SECONDS=0) follow it from the local Hub at once, against a real kube-apiserver',
    settings: {
      sizes: SIZES,
      models: MODELS,
      lfs_mib_per_node: repoMib,
      quick: QUICK,
      plan_used: true,
      agent_env: AGENT_ENV,
    },
    plan_note:
      'warm pinned each revision to a commit and listed the files once per fleet; Hub API calls are split by window: warm (plan) and agents (spawn until stopped, after every Node was ready)',
    fleets,
    api_calls_per_node_constant: new Set(fleets.map((f) => f.api_calls_per_node)).size === 1,
    warm_api_calls_constant: new Set(fleets.map((f) => f.warm.api_calls)).size === 1,
    conditions_start: started,
    conditions_end: conditions(),
  });
  if (fleets.some((f) => f.failed > 0)) process.exitCode = 1;
} finally {
  await run.stopAll();
  await rm(work, { recursive: true, force: true });
}
