// Bench: download throughput of the agent's downloader vs Python huggingface_hub `snapshot_download` vs parallel
// curl (the limit: no hashing, no cache layout), all from the same local Hub server into the same disk, plus the
// agent's peak RSS while it downloads a big repo (10 GiB by default). The agent runs with the DaemonSet's runtime
// settings (NODE_OPTIONS, MALLOC_* of knative/agent/daemonset.yaml; recorded as settings.agent_env).
// Writes bench/results/download.json.
// usage: node --import ./test/hub-server/register-ts.ts bench/download.ts   (needs `make build`)
//   env: BENCH_QUICK=1 (1 GiB throughput repo, 2 GiB RSS repo), BENCH_DOWNLOAD_FILES=8, BENCH_DOWNLOAD_FILE_MIB=256,
//        BENCH_DOWNLOAD_SMALL_FILES=200 (git files of 0.5–64 KiB besides the shards; curl fetches them too),
//        BENCH_DOWNLOAD_RSS_GIB=10, BENCH_DOWNLOAD_RUNS=3
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildBenchRepo } from '../test/hub-server/fixtures.js';
import { HubAdmin } from '../test/hub-server/hub-admin.js';
import { hfSnapshotDownload, runHfOracle } from '../test/peers/hf-oracle.js';
import { spawnHubServer } from '../test/peers/hub.js';
import { PeerRun } from '../test/peers/peer-run.js';
import { MODELCTL } from '../test/modelctl-process.js';
import {
  QUICK,
  conditions,
  envNumber,
  log,
  median,
  round,
  agentProcessEnv,
  shippedAgentEnv,
  writeResult,
} from './bench-kit.js';

const MIB = 1024 * 1024;
const FILES = envNumber('BENCH_DOWNLOAD_FILES', QUICK ? 4 : 8);
const FILE_MIB = envNumber('BENCH_DOWNLOAD_FILE_MIB', QUICK ? 256 : 256);
/** small git files besides the shards (tokenizer- and config-sized, 0.5–64 KiB) */
const SMALL_FILES = envNumber('BENCH_DOWNLOAD_SMALL_FILES', 200);
const RSS_GIB = envNumber('BENCH_DOWNLOAD_RSS_GIB', QUICK ? 2 : 10);
const execFileP = promisify(execFile);
const RUNS = envNumber('BENCH_DOWNLOAD_RUNS', QUICK ? 1 : 3);
const CONCURRENCY = 8;
/** the agent runs with the DaemonSet's runtime settings (NODE_OPTIONS, MALLOC_*): throughput and RSS as shipped */
const AGENT_ENV = shippedAgentEnv();

function peakRssMb(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** `modelctl agent --once` on one repo into `cacheDir`: wall time and peak RSS of the process. */
function runAgent(params: {
  hubUrl: string;
  configFile: string;
  cacheDir: string;
  stateDir: string;
}): Promise<{ code: number | string; seconds: number; peakRssMb: number; output: string }> {
  return new Promise((resolve) => {
    const args = [
      'agent',
      '--once',
      '--config',
      params.configFile,
      '--cache-dir',
      params.cacheDir,
      '--state-dir',
      params.stateDir,
      '--concurrency',
      String(CONCURRENCY),
      '--log-level',
      'warn',
    ];
    const env = agentProcessEnv(AGENT_ENV);
    delete env.HF_TOKEN; // anonymous, as public repos need
    const started = performance.now();
    const child = spawn(MODELCTL, args, {
      env: { ...env, HF_ENDPOINT: params.hubUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let peak = 0;
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // bin/modelctl execs node: the pid is the agent's own
    const poll = setInterval(() => (peak = Math.max(peak, peakRssMb(child.pid!) ?? 0)), 50);
    child.once('exit', (code, signal) => {
      clearInterval(poll);
      resolve({ code: code ?? signal ?? -1, seconds: (performance.now() - started) / 1000, peakRssMb: peak, output });
    });
  });
}

/**
 * The limit: one `curl --parallel` fetching every file, CONCURRENCY at a time (following the CDN redirect), into
 * plain files: no hashing, no cache layout.
 */
async function runCurl(params: {
  hubUrl: string;
  repo: string;
  commit: string;
  files: string[];
  dir: string;
}): Promise<number> {
  await mkdir(params.dir, { recursive: true });
  const config = path.join(params.dir, 'curl.config');
  await writeFile(
    config,
    params.files
      .map((f, i) => `url = "${params.hubUrl}/${params.repo}/resolve/${params.commit}/${f}"\noutput = "f${i}"\n`)
      .join(''),
  );
  const started = performance.now();
  await execFileP('curl', ['-sSfL', '--parallel', '--parallel-max', String(CONCURRENCY), '-K', config], {
    cwd: params.dir,
    maxBuffer: 1 << 20,
  });
  return (performance.now() - started) / 1000;
}

async function startHub(run: PeerRun, reposDir: string): Promise<{ url: string; admin: HubAdmin }> {
  const hub = await spawnHubServer(run, { reposDir });
  return { url: hub.url, admin: new HubAdmin(hub.adminUrl) };
}

const run = await PeerRun.create();
// the same disk for every contender: one work folder, each run into a fresh sub-folder, removed after
const work = await mkdtemp(path.join(process.env.BENCH_DOWNLOAD_DIR ?? tmpdir(), 'modelctl-bench-download-'));
try {
  const started = conditions();
  const reposDir = path.join(work, 'repos');
  log(`building repos: ${FILES} × ${FILE_MIB} MiB, and ${RSS_GIB} GiB for RSS`);
  const repo = await buildBenchRepo({
    root: reposDir,
    repo: 'bench-org/download',
    fileCount: FILES,
    fileSize: FILE_MIB * MIB,
    smallFiles: SMALL_FILES,
  });
  const big = await buildBenchRepo({
    root: reposDir,
    repo: 'bench-org/download-big',
    fileCount: RSS_GIB * 2,
    fileSize: 512 * MIB,
  });
  const { url } = await startHub(run, reposDir);
  const totalBytes = Object.values(repo.files).reduce((s, f) => s + f.size, 0);
  const allFiles = Object.keys(repo.files);
  const configFile = path.join(work, 'models.yaml');
  await writeFile(configFile, `minFreeSpaceGB: 1\nmodels:\n  ${repo.id}: {}\n`);
  const agentS: number[] = [];
  const pythonS: number[] = [];
  const curlS: number[] = [];
  // Each contender starts with no dirty pages of the one before (sync), and the order rotates per run: the
  // first to write after the repos were built (or after another contender) would otherwise pay for that writeback.
  for (let i = 0; i < RUNS; i++) {
    const dir = path.join(work, `run-${i}`);
    const contenders: [string, () => Promise<void>][] = [
      [
        'agent',
        async () => {
          const a = await runAgent({
            hubUrl: url,
            configFile,
            cacheDir: path.join(dir, 'agent', 'hub'),
            stateDir: path.join(dir, 'agent', 'state'),
          });
          if (a.code !== 0) throw new Error(`agent failed: ${a.output.slice(-2000)}`);
          agentS.push(a.seconds);
          if (i > 0) return;
          const report = await runHfOracle({
            cacheDir: path.join(dir, 'agent', 'hub'),
            checks: [{ repo: repo.id, files: ['config.json'] }],
          });
          if (report.scan.warnings.length > 0 || report.scan.repos[0]?.sizeOnDisk !== totalBytes)
            throw new Error('agent cache is not what huggingface_hub expects');
        },
      ],
      [
        'python',
        async () => {
          const py = await hfSnapshotDownload({
            endpoint: url,
            repo: repo.id,
            cacheDir: path.join(dir, 'python', 'hub'),
            maxWorkers: CONCURRENCY,
            timeoutMs: 1_800_000,
          });
          if (!py.ok) throw new Error(`snapshot_download failed: ${JSON.stringify(py.error)}`);
          pythonS.push(py.seconds);
        },
      ],
      [
        'curl',
        async () => {
          curlS.push(
            await runCurl({
              hubUrl: url,
              repo: repo.id,
              commit: repo.commit,
              files: allFiles,
              dir: path.join(dir, 'curl'),
            }),
          );
        },
      ],
    ];
    const order = contenders.map((_c, k) => contenders[(k + i) % contenders.length]!);
    for (const [, runContender] of order) {
      await execFileP('sync');
      await runContender();
    }
    await rm(dir, { recursive: true, force: true });
    log(
      `run ${i + 1}/${RUNS} (${order.map(([name]) => name).join(', ')}): agent ${agentS.at(-1)!.toFixed(2)} s (process), python ${pythonS.at(-1)!.toFixed(2)} s (in-Python), curl ${curlS.at(-1)!.toFixed(2)} s`,
    );
  }
  const mibps = (s: number) => round(totalBytes / MIB / s, 1);
  log(`RSS: agent downloading ${RSS_GIB} GiB`);
  const bigConfig = path.join(work, 'big.yaml');
  await writeFile(bigConfig, `minFreeSpaceGB: 1\nmodels:\n  ${big.id}: {}\n`);
  const rss = await runAgent({
    hubUrl: url,
    configFile: bigConfig,
    cacheDir: path.join(work, 'big', 'hub'),
    stateDir: path.join(work, 'big', 'state'),
  });
  if (rss.code !== 0) throw new Error(`agent (big) failed: ${rss.output.slice(-2000)}`);
  const bigBytes = Object.values(big.files).reduce((s, f) => s + f.size, 0);
  await rm(path.join(work, 'big'), { recursive: true, force: true });
  const result = {
    bench: 'download',
    description:
      'Same local Hub, same disk: `modelctl agent --once` (whole process: start, resolve, list, download, sha256-verify, publish) vs huggingface_hub snapshot_download (time inside Python, interpreter start excluded) vs parallel curl (no hashing, no cache layout)',
    settings: {
      files: FILES,
      file_mib: FILE_MIB,
      small_files: SMALL_FILES,
      total_mib: round(totalBytes / MIB, 1),
      runs: RUNS,
      concurrency: CONCURRENCY,
      quick: QUICK,
      agent_env: AGENT_ENV,
    },
    agent: {
      seconds_median: round(median(agentS), 2),
      mib_per_s: mibps(median(agentS)),
      runs_s: agentS.map((s) => round(s, 2)),
    },
    huggingface_hub: {
      seconds_median: round(median(pythonS), 2),
      mib_per_s: mibps(median(pythonS)),
      runs_s: pythonS.map((s) => round(s, 2)),
    },
    parallel_curl: {
      seconds_median: round(median(curlS), 2),
      mib_per_s: mibps(median(curlS)),
      runs_s: curlS.map((s) => round(s, 2)),
    },
    agent_vs_python: round(median(pythonS) / median(agentS), 2),
    agent_vs_curl: round(median(curlS) / median(agentS), 2),
    rss: {
      gib: round(bigBytes / 1024 ** 3, 2),
      seconds: round(rss.seconds, 1),
      mib_per_s: round(bigBytes / MIB / rss.seconds, 1),
      agent_peak_rss_mb: round(rss.peakRssMb, 1),
    },
    conditions_start: started,
    conditions_end: conditions(),
  };
  log(
    `agent ${result.agent.mib_per_s} MiB/s, python ${result.huggingface_hub.mib_per_s} MiB/s, curl ${result.parallel_curl.mib_per_s} MiB/s; peak RSS ${result.rss.agent_peak_rss_mb} MB over ${result.rss.gib} GiB`,
  );
  await writeResult('download', result);
} finally {
  await run.stopAll();
  await rm(work, { recursive: true, force: true });
}
