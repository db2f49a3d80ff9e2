// Bench: download throughput of the agent's downloader vs Python huggingface_hub `snapshot_download`, vs
// hf_transfer (the Rust downloader, driven as huggingface_hub < 1.0 did: bench/hf-transfer-download.py), vs
// parallel curl piped through a SHA-256 to disk (download + hash + write: the agent's work without the cache
// layout; the hash is OpenSSL's, SHA-NI, see runCurlSha256), and vs parallel curl alone (no hashing), all from the
// same local Hub server into the same disk, plus the agent's peak RSS while it downloads a big repo (10 GiB by
// default). The agent runs with the DaemonSet's runtime settings (NODE_OPTIONS, MALLOC_* of
// knative/agent/daemonset.yaml; recorded as settings.agent_env).
// Writes bench/results/download.json.
// usage: node --import ./testkit/hub-server/register-ts.ts bench/download.ts   (needs `make build`)
//   env: BENCH_QUICK=1 (1 GiB throughput repo, 2 GiB RSS repo), BENCH_DOWNLOAD_FILES=8, BENCH_DOWNLOAD_FILE_MIB=256,
//        BENCH_DOWNLOAD_SMALL_FILES=200 (git files of 0.5–64 KiB besides the shards; curl fetches them too; 0: none),
//        BENCH_DOWNLOAD_RSS_GIB=10 (0: no RSS run), BENCH_DOWNLOAD_RUNS=3
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildBenchRepo } from '../testkit/hub-server/fixtures.js';
import { HubAdmin } from '../testkit/hub-server/hub-admin.js';
import { hfSnapshotDownload, runHfOracle } from '../testkit/peers/hf-oracle.js';
import { venvPython } from '../testkit/peers/mlflow.js';
import { spawnHubServer } from '../testkit/peers/hub.js';
import { PeerRun } from '../testkit/peers/peer-run.js';
import { MODELCTL } from '../testkit/modelctl-process.js';
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
const SMALL_FILES = envCount('BENCH_DOWNLOAD_SMALL_FILES', 200);
const RSS_GIB = envCount('BENCH_DOWNLOAD_RSS_GIB', QUICK ? 2 : 10);
const execFileP = promisify(execFile);
const HF_TRANSFER_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'hf-transfer-download.py');
const RUNS = envNumber('BENCH_DOWNLOAD_RUNS', QUICK ? 1 : 3);
const CONCURRENCY = 8;
/** the agent runs with the DaemonSet's runtime settings (NODE_OPTIONS, MALLOC_*): throughput and RSS as shipped */
const AGENT_ENV = shippedAgentEnv();

/** A count from the environment where 0 means none (envNumber reads 0 as unset). */
function envCount(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isInteger(v) && v >= 0 ? v : fallback;
}

/** user + system CPU seconds of a live process so far (/proc/<pid>/stat utime + stime), null once it is gone */
function cpuSeconds(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux)
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** The children's CPU seconds (user + system) from the second line of the shell's `times`. */
function childrenCpuSeconds(timesOutput: string): number {
  const line = timesOutput.trim().split('\n').at(-1) ?? '';
  const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(line);
  if (!m) throw new Error(`cannot read the CPU time in ${JSON.stringify(line)}`);
  return Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]);
}

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
}): Promise<{ code: number | string; seconds: number; cpuSeconds: number; peakRssMb: number; output: string }> {
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
    let cpu = 0;
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // bin/modelctl execs node: the pid is the agent's own
    // CPU time: the last reading, at most 50 ms before the process exits
    const poll = setInterval(() => {
      peak = Math.max(peak, peakRssMb(child.pid!) ?? 0);
      cpu = cpuSeconds(child.pid!) ?? cpu;
    }, 50);
    child.once('exit', (code, signal) => {
      clearInterval(poll);
      const seconds = (performance.now() - started) / 1000;
      resolve({ code: code ?? signal ?? -1, seconds, cpuSeconds: cpu, peakRssMb: peak, output });
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
}): Promise<{ seconds: number; cpuSeconds: number }> {
  await mkdir(params.dir, { recursive: true });
  const config = path.join(params.dir, 'curl.config');
  await writeFile(
    config,
    params.files
      .map((f, i) => `url = "${params.hubUrl}/${params.repo}/resolve/${params.commit}/${f}"\noutput = "f${i}"\n`)
      .join(''),
  );
  const started = performance.now();
  const curlArgs = ['-sSfL', '--parallel', '--parallel-max', String(CONCURRENCY), '-K', config];
  const { stdout } = await execFileP('sh', ['-c', 'curl "$@" || exit $?; times', 'sh', ...curlArgs], {
    cwd: params.dir,
    maxBuffer: 1 << 20,
  });
  return { seconds: (performance.now() - started) / 1000, cpuSeconds: childrenCpuSeconds(stdout) };
}

/**
 * The limit with the agent's work: every file through `curl | tee <file> | openssl dgst -sha256`, CONCURRENCY
 * pipelines at a time (xargs -P): downloaded, written and hashed, no cache layout. Each LFS file's sha256 is
 * checked after. The hash is OpenSSL's (SHA-NI, ~1.3 GB/s per core here, the speed the issue's limit assumes), not
 * coreutils' `sha256sum`: Debian's is not built with OpenSSL and hashes in portable C at 3.8 s of CPU per GiB on
 * this machine (openssl: 0.77 s), which would make the limit a quarter as fast as it is.
 */
async function runCurlSha256(params: {
  hubUrl: string;
  repo: string;
  commit: string;
  files: Record<string, { sha256: string; lfs: boolean }>;
  dir: string;
}): Promise<{ seconds: number; cpuSeconds: number }> {
  await mkdir(params.dir, { recursive: true });
  const names = Object.keys(params.files);
  const list = path.join(params.dir, 'list');
  await writeFile(
    list,
    names.map((f, i) => `${params.hubUrl}/${params.repo}/resolve/${params.commit}/${f} f${i}\n`).join(''),
  );
  const pipeline = 'set -o pipefail; curl -sSfL "$0" | tee "$1" | openssl dgst -sha256 -r > "$1.sha256"';
  const started = performance.now();
  const { stdout } = await execFileP('sh', ['-c', `xargs -P ${CONCURRENCY} -n 2 bash -c '${pipeline}' < list; times`], {
    cwd: params.dir,
    maxBuffer: 1 << 20,
  });
  const seconds = (performance.now() - started) / 1000;
  for (const [i, name] of names.entries()) {
    const file = params.files[name]!;
    const digest = readFileSync(path.join(params.dir, `f${i}.sha256`), 'utf8').split(' ')[0];
    if (file.lfs && digest !== file.sha256) throw new Error(`curl | openssl sha256: ${name} hashes to ${digest}`);
  }
  return { seconds, cpuSeconds: childrenCpuSeconds(stdout) };
}

/** The peers' versions, as the report shows them. */
async function peerVersions(): Promise<Record<string, string>> {
  const first = async (cmd: string, args: string[]) => (await execFileP(cmd, args)).stdout.split('\n')[0]!.trim();
  const python = await venvPython();
  const py = await first(python, [
    '-c',
    'import importlib.metadata as m; print(m.version("huggingface_hub"), m.version("hf_transfer"))',
  ]);
  const [huggingfaceHub = '', hfTransfer = ''] = py.split(' ');
  return {
    huggingface_hub: huggingfaceHub,
    hf_transfer: hfTransfer,
    curl: (await first('curl', ['--version'])).split(' ').slice(0, 2).join(' '),
    openssl: await first('openssl', ['version']),
  };
}

/** bench/hf-transfer-download.py in the testing ground's venv: wall and CPU seconds inside Python. */
async function runHfTransfer(params: {
  hubUrl: string;
  repo: string;
  commit: string;
  files: string[];
  cacheDir: string;
}): Promise<{ seconds: number; cpuSeconds: number | undefined }> {
  const python = await venvPython();
  const child = execFile(python, [HF_TRANSFER_SCRIPT], { maxBuffer: 1 << 20, timeout: 1_800_000 });
  child.stdin!.end(
    JSON.stringify({
      endpoint: params.hubUrl,
      repo: params.repo,
      commit: params.commit,
      files: params.files,
      cache_dir: params.cacheDir,
      max_workers: CONCURRENCY,
    }),
  );
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const last = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
    ok?: boolean;
    seconds?: number;
    cpu_seconds?: number;
    error?: string;
  };
  if (code !== 0 || !last.ok || last.seconds === undefined)
    throw new Error(`hf_transfer failed (${code}): ${last.error ?? stderr.slice(-2000)}`);
  return { seconds: last.seconds, cpuSeconds: last.cpu_seconds };
}

/** The agent downloading the big repo alone: its peak RSS (VmHWM) and time. */
async function measureRss(params: { hubUrl: string; repoId: string; work: string }) {
  log(`RSS: agent downloading ${RSS_GIB} GiB`);
  const bigConfig = path.join(params.work, 'big.yaml');
  await writeFile(bigConfig, `minFreeSpaceGB: 1\nmodels:\n  ${params.repoId}: {}\n`);
  await execFileP('sync');
  const rss = await runAgent({
    hubUrl: params.hubUrl,
    configFile: bigConfig,
    cacheDir: path.join(params.work, 'big', 'hub'),
    stateDir: path.join(params.work, 'big', 'state'),
  });
  if (rss.code !== 0) throw new Error(`agent (big) failed: ${rss.output.slice(-2000)}`);
  await rm(path.join(params.work, 'big'), { recursive: true, force: true });
  return rss;
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
  const big =
    RSS_GIB > 0
      ? await buildBenchRepo({
          root: reposDir,
          repo: 'bench-org/download-big',
          fileCount: RSS_GIB * 2,
          fileSize: 512 * MIB,
        })
      : null;
  const { url } = await startHub(run, reposDir);
  const totalBytes = Object.values(repo.files).reduce((s, f) => s + f.size, 0);
  const allFiles = Object.keys(repo.files);
  const configFile = path.join(work, 'models.yaml');
  await writeFile(configFile, `minFreeSpaceGB: 1\nmodels:\n  ${repo.id}: {}\n`);
  const agentS: number[] = [];
  const agentCpuS: number[] = [];
  const curlShaCpuS: number[] = [];
  const pythonCpuS: number[] = [];
  const hfTransferCpuS: number[] = [];
  const curlCpuS: number[] = [];
  const pythonS: number[] = [];
  const hfTransferS: number[] = [];
  const curlShaS: number[] = [];
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
          agentCpuS.push(a.cpuSeconds);
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
          if (py.cpu_seconds !== undefined) pythonCpuS.push(py.cpu_seconds);
        },
      ],
      [
        'hf_transfer',
        async () => {
          const t = await runHfTransfer({
            hubUrl: url,
            repo: repo.id,
            commit: repo.commit,
            files: allFiles,
            cacheDir: path.join(dir, 'hf_transfer', 'hub'),
          });
          hfTransferS.push(t.seconds);
          if (t.cpuSeconds !== undefined) hfTransferCpuS.push(t.cpuSeconds);
        },
      ],
      [
        'curl_sha256',
        async () => {
          const c = await runCurlSha256({
            hubUrl: url,
            repo: repo.id,
            commit: repo.commit,
            files: repo.files,
            dir: path.join(dir, 'curl_sha256'),
          });
          curlShaS.push(c.seconds);
          curlShaCpuS.push(c.cpuSeconds);
        },
      ],
      [
        'curl',
        async () => {
          const c = await runCurl({
            hubUrl: url,
            repo: repo.id,
            commit: repo.commit,
            files: allFiles,
            dir: path.join(dir, 'curl'),
          });
          curlS.push(c.seconds);
          curlCpuS.push(c.cpuSeconds);
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
      `run ${i + 1}/${RUNS} (${order.map(([name]) => name).join(', ')}; load ${conditions().loadavg_1m}): agent ${agentS.at(-1)!.toFixed(2)} s (process), python ${pythonS.at(-1)!.toFixed(2)} s, hf_transfer ${hfTransferS.at(-1)!.toFixed(2)} s (in-Python), curl | openssl sha256 ${curlShaS.at(-1)!.toFixed(2)} s, curl ${curlS.at(-1)!.toFixed(2)} s`,
    );
  }
  const mibps = (s: number) => round(totalBytes / MIB / s, 1);
  /** median CPU seconds per GiB downloaded (user + system, every thread and child of the contender) */
  const cpuPerGib = (cpu: number[]) => (cpu.length === 0 ? null : round(median(cpu) / (totalBytes / 1024 ** 3), 2));
  const rss = big === null ? null : await measureRss({ hubUrl: url, repoId: big.id, work });
  const bigBytes = big === null ? 0 : Object.values(big.files).reduce((s, f) => s + f.size, 0);
  const result = {
    bench: 'download',
    description:
      'Same local Hub, same disk, same concurrency: `modelctl agent --once` (whole process: start, resolve, list, download, sha256-verify, publish) vs huggingface_hub snapshot_download and hf_transfer as huggingface_hub < 1.0 drove it (time inside Python, interpreter start excluded; neither checks a hash) vs parallel curl piped through tee (to disk) and `openssl dgst -sha256` (download + write + hash, no cache layout; the SHA-NI hash of OpenSSL, not the 5x slower coreutils sha256sum) vs parallel curl (no hashing, no cache layout)',
    settings: {
      files: FILES,
      file_mib: FILE_MIB,
      small_files: SMALL_FILES,
      total_mib: round(totalBytes / MIB, 1),
      runs: RUNS,
      concurrency: CONCURRENCY,
      quick: QUICK,
      agent_env: AGENT_ENV,
      versions: await peerVersions(),
    },
    agent: {
      seconds_median: round(median(agentS), 2),
      mib_per_s: mibps(median(agentS)),
      runs_s: agentS.map((s) => round(s, 2)),
      cpu_s_per_gib: cpuPerGib(agentCpuS),
    },
    huggingface_hub: {
      seconds_median: round(median(pythonS), 2),
      mib_per_s: mibps(median(pythonS)),
      runs_s: pythonS.map((s) => round(s, 2)),
      cpu_s_per_gib: cpuPerGib(pythonCpuS),
    },
    hf_transfer: {
      seconds_median: round(median(hfTransferS), 2),
      mib_per_s: mibps(median(hfTransferS)),
      runs_s: hfTransferS.map((s) => round(s, 2)),
      cpu_s_per_gib: cpuPerGib(hfTransferCpuS),
    },
    parallel_curl_sha256: {
      seconds_median: round(median(curlShaS), 2),
      mib_per_s: mibps(median(curlShaS)),
      runs_s: curlShaS.map((s) => round(s, 2)),
      /** curl, tee, openssl and their shells together */
      cpu_s_per_gib: cpuPerGib(curlShaCpuS),
    },
    parallel_curl: {
      seconds_median: round(median(curlS), 2),
      mib_per_s: mibps(median(curlS)),
      runs_s: curlS.map((s) => round(s, 2)),
      cpu_s_per_gib: cpuPerGib(curlCpuS),
    },
    agent_vs_python: round(median(pythonS) / median(agentS), 2),
    agent_vs_hf_transfer: round(median(hfTransferS) / median(agentS), 2),
    agent_vs_curl_sha256: round(median(curlShaS) / median(agentS), 2),
    agent_vs_curl: round(median(curlS) / median(agentS), 2),
    rss:
      rss === null
        ? null
        : {
            gib: round(bigBytes / 1024 ** 3, 2),
            seconds: round(rss.seconds, 1),
            mib_per_s: round(bigBytes / MIB / rss.seconds, 1),
            agent_peak_rss_mb: round(rss.peakRssMb, 1),
            cpu_s_per_gib: round(rss.cpuSeconds / (bigBytes / 1024 ** 3), 2),
          },
    conditions_start: started,
    conditions_end: conditions(),
  };
  log(
    `agent ${result.agent.mib_per_s} MiB/s, python ${result.huggingface_hub.mib_per_s} MiB/s, hf_transfer ${result.hf_transfer.mib_per_s} MiB/s, curl | openssl sha256 ${result.parallel_curl_sha256.mib_per_s} MiB/s, curl ${result.parallel_curl.mib_per_s} MiB/s; peak RSS ${result.rss?.agent_peak_rss_mb ?? '—'} MB over ${result.rss?.gib ?? 0} GiB`,
  );
  await writeResult('download', result);
} finally {
  await run.stopAll();
  await rm(work, { recursive: true, force: true });
}
