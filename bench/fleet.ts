// Bench 6: fleet simulation. N agent processes (`modelctl agent --once`, one per simulated node, each with its
// own empty cache) warm the same models from the local Hub server at once; the Hub's request log counts the API
// calls (model-info, revision, tree, paths-info, refs) and the file bytes (resolve, resolve-cache, cdn) per node.
// The warm plan (modelctl warm → plan ConfigMap → agents in cluster mode) needs a cluster: `--once` reads the
// models config file, so here every agent resolves the revision and lists the files itself.
// Writes bench/results/fleet.json.
// usage: node --import ./test/hub-server/register-ts.ts bench/fleet.ts   (needs `make build`)
//   env: BENCH_QUICK=1 (N = 1,5,20), BENCH_FLEET_SIZES=1,10,50
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HubAdmin } from '../test/hub-server/hub-admin.js';
import { buildBenchRepo } from '../test/hub-server/fixtures.js';
import { spawnHubServer } from '../test/peers/hub.js';
import { PeerRun } from '../test/peers/peer-run.js';
import { MODELCTL } from '../test/modelctl-process.js';
import { QUICK, conditions, envList, log, median, round, writeResult } from './bench-kit.js';

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

interface AgentRun {
  code: number | string;
  ms: number;
  peakRssMb: number;
  output: string;
}

/** Peak RSS of a live process (VmHWM, a high-water mark): the last reading before exit is its peak. */
function readPeakRssMb(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

function runAgent(params: { configFile: string; nodeDir: string; hubUrl: string }): Promise<AgentRun> {
  return new Promise((resolve) => {
    const started = performance.now();
    const args = [
      'agent',
      '--once',
      '--config',
      params.configFile,
      '--cache-dir',
      path.join(params.nodeDir, 'hub'),
      '--state-dir',
      path.join(params.nodeDir, 'state'),
    ];
    args.push('--start-jitter', '0', '--metrics-port', '0', '--log-level', 'warn');
    const env: NodeJS.ProcessEnv = { ...process.env, HF_ENDPOINT: params.hubUrl };
    delete env.HF_TOKEN; // anonymous, as for a public repo
    const child = spawn(MODELCTL, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let peak = 0;
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const poll = setInterval(() => (peak = Math.max(peak, readPeakRssMb(child.pid!) ?? 0)), 100);
    child.once('exit', (code, signal) => {
      clearInterval(poll);
      resolve({ code: code ?? signal ?? -1, ms: performance.now() - started, peakRssMb: peak, output });
    });
  });
}

/** The local Hub on `reposDir`, as a peer of `run` (test/peers/hub.ts starts it the same way for tests). */
async function startHubPeer(run: PeerRun, reposDir: string): Promise<{ url: string; admin: HubAdmin }> {
  const hub = await spawnHubServer(run, { reposDir });
  return { url: hub.url, admin: new HubAdmin(hub.adminUrl) };
}

async function fleetOf(n: number, ctx: { work: string; configFile: string; url: string; admin: HubAdmin }) {
  const since = await ctx.admin.mark();
  const dir = path.join(ctx.work, `fleet-${n}`);
  await mkdir(dir, { recursive: true });
  const started = performance.now();
  const runs = await Promise.all(
    Array.from({ length: n }, (_v, i) =>
      runAgent({ configFile: ctx.configFile, nodeDir: path.join(dir, `node-${i}`), hubUrl: ctx.url }),
    ),
  );
  const wallMs = performance.now() - started;
  const stats = await ctx.admin.stats(since);
  await rm(dir, { recursive: true, force: true });
  const failed = runs.filter((r) => r.code !== 0);
  if (failed.length) log(`fleet N=${n}: ${failed.length} agent(s) failed, first:\n${failed[0]!.output.slice(-2000)}`);
  const sum = (keys: Set<string>, field: 'requests' | 'bytes') =>
    Object.entries(stats.byEndpoint).reduce((s, [ep, v]) => s + (keys.has(ep) ? v[field] : 0), 0);
  const apiCalls = sum(API, 'requests');
  const fileBytes = sum(FILES, 'bytes');
  return {
    agents: n,
    ok: runs.length - failed.length,
    failed: failed.length,
    wall_s: round(wallMs / 1000, 2),
    agent_median_s: round(median(runs.map((r) => r.ms)) / 1000, 2),
    api_calls_total: apiCalls,
    api_calls_per_node: round(apiCalls / n, 2),
    api_calls_per_model_per_node: round(apiCalls / n / MODELS.length, 2),
    file_requests_total: sum(FILES, 'requests'),
    bytes_served_total: fileBytes,
    bytes_served_per_node_mib: round(fileBytes / n / MIB, 2),
    agent_peak_rss_mb: {
      median: round(median(runs.map((r) => r.peakRssMb))),
      max: round(Math.max(...runs.map((r) => r.peakRssMb))),
    },
    by_endpoint: stats.byEndpoint,
  };
}

const run = await PeerRun.create();
const work = await mkdtemp(path.join(tmpdir(), 'modelctl-bench-fleet-'));
try {
  const started = conditions();
  const reposDir = path.join(work, 'repos');
  for (const m of MODELS)
    await buildBenchRepo({ root: reposDir, repo: m.repo, fileCount: m.count, fileSize: m.mib * MIB });
  const { url, admin } = await startHubPeer(run, reposDir);
  const configFile = path.join(work, 'models.yaml');
  const yaml = [
    'nodeHostPath: /unused',
    'minFreeSpaceGB: 1',
    'models:',
    ...MODELS.map((m) => `  ${m.repo}:\n    revision: main`),
  ].join('\n');
  await writeFile(configFile, `${yaml}\n`);
  const fleets = [];
  for (const n of SIZES) {
    log(`fleet: ${n} agent(s) warming ${MODELS.length} models`);
    const f = await fleetOf(n, { work, configFile, url, admin });
    log(
      `fleet N=${n}: ${f.ok}/${n} ok in ${f.wall_s} s, API calls/node ${f.api_calls_per_node}, MiB/node ${f.bytes_served_per_node_mib}, peak RSS max ${f.agent_peak_rss_mb.max} MB`,
    );
    fleets.push(f);
  }
  const repoMib = MODELS.reduce((s, m) => s + m.count * m.mib, 0);
  await writeResult('fleet', {
    bench: 'fleet',
    description:
      'N `modelctl agent --once` processes (own empty cache each, --start-jitter 0) warming the same models from the local Hub at once',
    settings: { sizes: SIZES, models: MODELS, lfs_mib_per_node: repoMib, quick: QUICK, plan_used: false },
    plan_note:
      '--once reads the models config: each agent resolves revision and lists the tree itself; the warm plan (commit + file list pinned once by `modelctl warm`) is read only by agents in cluster mode, not measured here',
    fleets,
    api_calls_per_node_constant: new Set(fleets.map((f) => f.api_calls_per_node)).size === 1,
    conditions_start: started,
    conditions_end: conditions(),
  });
  if (fleets.some((f) => f.failed > 0)) process.exitCode = 1;
} finally {
  await run.stopAll();
  await rm(work, { recursive: true, force: true });
}
