import { execFile, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const HELPER = path.join(here, 'hf-oracle.py');

/** A huggingface_hub exception, as the helper reports it. */
export interface PyError {
  /** class name, e.g. GatedRepoError, LocalEntryNotFoundError, HfHubHTTPError */
  type: string;
  message: string;
  /** HTTP status of the failed response, when there was one */
  status: number | null;
  /** the class and its bases, e.g. ["GatedRepoError", "RepositoryNotFoundError", "HfHubHTTPError", …] */
  mro: string[];
}

/** What to read back from the cache offline. */
export interface OracleCheck {
  repo: string;
  /** branch, tag or commit @default "main" */
  revision?: string;
  /** files to `hf_hub_download`; default: every file `snapshot_download(local_files_only=True)` finds */
  files?: string[];
}

export interface OracleDownload {
  repo: string;
  revision: string | null;
  path: string;
  ok: boolean;
  /** path returned (inside snapshots/) and where its symlink leads (blobs/) */
  resolvedPath?: string;
  realPath?: string;
  size?: number;
  sha256?: string;
  error?: PyError;
}

export interface OracleSnapshot {
  repo: string;
  revision: string | null;
  ok: boolean;
  snapshotPath?: string;
  /** files found under the snapshot folder, relative, sorted */
  files?: string[];
  error?: PyError;
}

/** `scan_cache_dir()` summarised. */
export interface OracleScan {
  repos: {
    repoId: string;
    repoType: string;
    sizeOnDisk: number;
    nbFiles: number;
    /** ref name → commit */
    refs: Record<string, string>;
    revisions: { commitHash: string; refs: string[]; files: { path: string; blob: string; size: number }[] }[];
  }[];
  /** CorruptedCacheException messages: must be empty for a cache we wrote */
  warnings: string[];
  /** set when the scan itself failed (e.g. no cache folder) */
  error?: PyError;
}

export interface OracleReport {
  downloads: OracleDownload[];
  snapshots: OracleSnapshot[];
  scan: OracleScan;
}

let pythonPath: Promise<string> | undefined;

/** The testing ground's venv python (huggingface_hub pinned), built once by ensure-python.sh. */
function venvPython(): Promise<string> {
  pythonPath ??= promisify(execFile)('bash', [path.join(here, 'ensure-python.sh'), '--print-python'], {
    maxBuffer: 1 << 20,
  }).then(({ stdout }) => stdout.trim());
  return pythonPath;
}

/** Environment of every oracle run: no telemetry, no progress bars, no Xet, no token from the machine. */
function oracleEnv(cacheDir: string, offline: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HF_HUB_CACHE: cacheDir,
    // never the machine's ~/.cache/huggingface (tokens), never beside the cache under test
    HF_HOME: path.join(tmpdir(), 'modelctl-hf-oracle-home'),
    HF_HUB_DISABLE_TELEMETRY: '1',
    HF_HUB_DISABLE_PROGRESS_BARS: '1',
    HF_HUB_DISABLE_XET: '1',
    HF_HUB_DISABLE_IMPLICIT_TOKEN: '1',
    HF_HUB_DISABLE_SYMLINKS_WARNING: '1',
    PYTHONDONTWRITEBYTECODE: '1',
  };
  if (offline) env.HF_HUB_OFFLINE = '1';
  return env;
}

/** Runs Python (async: never blocks the event loop) with stdin; returns stdout, stderr and exit code. */
async function runPython(params: {
  args: string[];
  stdin: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
}): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const python = await venvPython();
  return new Promise((resolve, reject) => {
    const child = spawn(python, params.args, { env: params.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), params.timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
    child.stdin.end(params.stdin);
  });
}

function lastJsonLine<T>(out: { stdout: string; stderr: string; code: number | null }, what: string): T {
  const line = out.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(
      `${what}: no JSON answer (exit ${out.code})\nstdout: ${out.stdout.slice(-2000)}\nstderr: ${out.stderr.slice(-4000)}`,
    );
  }
}

async function runHelper<T>(params: {
  request: Record<string, unknown>;
  cacheDir: string;
  offline: boolean;
  timeoutMs?: number;
}): Promise<T> {
  const out = await runPython({
    args: [HELPER],
    stdin: JSON.stringify(params.request),
    env: oracleEnv(params.cacheDir, params.offline),
    timeoutMs: params.timeoutMs ?? 300_000,
  });
  return lastJsonLine<T>(out, `hf-oracle ${String(params.request.op)}`);
}

/**
 * Reads a Hugging Face cache the way its consumers do, offline (`HF_HUB_OFFLINE=1`, `HF_HUB_CACHE=cacheDir`):
 * `hf_hub_download(local_files_only=True)` of each file (path + sha256 of what it returns),
 * `snapshot_download(local_files_only=True)` (file list), `scan_cache_dir()` (repos, revisions, refs, warnings).
 * With `script` instead of `checks`, runs that Python code (same env) and returns the JSON it prints last.
 */
export async function runHfOracle(params: { cacheDir: string; checks: OracleCheck[] }): Promise<OracleReport>;
export async function runHfOracle<T = unknown>(params: { cacheDir: string; script: string }): Promise<T>;
export async function runHfOracle(
  params: { cacheDir: string; checks: OracleCheck[] } | { cacheDir: string; script: string },
): Promise<unknown> {
  if ('script' in params) return runHfScript({ cacheDir: params.cacheDir, script: params.script });
  return runHelper<OracleReport>({
    request: { op: 'offline-check', checks: params.checks },
    cacheDir: params.cacheDir,
    offline: true,
  });
}

/** Runs arbitrary Python against a cache offline and returns the JSON it prints last (any shape). */
export async function runHfScript<T>(params: { cacheDir: string; script: string; offline?: boolean }): Promise<T> {
  const out = await runPython({
    args: ['-c', params.script],
    stdin: '',
    env: oracleEnv(params.cacheDir, params.offline ?? true),
    timeoutMs: 300_000,
  });
  return lastJsonLine<T>(out, 'hf-oracle script');
}

export interface HfSnapshotResult {
  ok: boolean;
  /** snapshot folder */
  path?: string;
  files?: string[];
  /** wall time inside Python (excludes interpreter start) */
  seconds: number;
  /** CPU seconds (user + system, every thread) inside Python, when the download succeeded */
  cpu_seconds?: number;
  error?: PyError;
}

/** Online parameters shared by the download helpers. */
export interface HfOnlineParams {
  /** the Hub endpoint (e.g. `readHub().url`) */
  endpoint: string;
  repo: string;
  revision?: string;
  cacheDir: string;
  token?: string;
}

/**
 * The real `snapshot_download(endpoint=…)` into `cacheDir`: the compatibility and download-speed peer.
 * Never throws for a Hub error: returns `{ ok: false, error }`.
 */
export async function hfSnapshotDownload(
  params: HfOnlineParams & {
    allowPatterns?: string[];
    ignorePatterns?: string[];
    maxWorkers?: number;
    timeoutMs?: number;
  },
): Promise<HfSnapshotResult> {
  return runHelper<HfSnapshotResult>({
    request: {
      op: 'snapshot-download',
      endpoint: params.endpoint,
      repo: params.repo,
      revision: params.revision,
      token: params.token,
      allow_patterns: params.allowPatterns,
      ignore_patterns: params.ignorePatterns,
      max_workers: params.maxWorkers,
    },
    cacheDir: params.cacheDir,
    offline: false,
    ...(params.timeoutMs ? { timeoutMs: params.timeoutMs } : {}),
  });
}

/** The real `hf_hub_download(endpoint=…)` of one file. */
export async function hfHubDownload(
  params: HfOnlineParams & { filename: string },
): Promise<{ ok: boolean; path?: string; realPath?: string; sha256?: string; size?: number; error?: PyError }> {
  return runHelper({
    request: { op: 'hf-hub-download', ...params, cacheDir: undefined },
    cacheDir: params.cacheDir,
    offline: false,
  });
}

/** The real `HfApi.list_repo_tree` (follows the `Link` pages). */
export async function hfListRepoTree(
  params: Omit<HfOnlineParams, 'cacheDir'> & { path?: string; recursive?: boolean; cacheDir?: string },
): Promise<{
  ok: boolean;
  entries?: { type: 'file' | 'directory'; path: string; size?: number; oid?: string; lfsSha256?: string | null }[];
  error?: PyError;
}> {
  return runHelper({
    request: { op: 'list-repo-tree', ...params, cacheDir: undefined },
    cacheDir: params.cacheDir ?? path.join(tmpdir(), 'modelctl-hf-oracle-unused-cache'),
    offline: false,
  });
}

export interface HfVerifyResult {
  ok: boolean;
  /** the commit checked */
  revision?: string;
  checkedCount?: number;
  mismatches?: { path: string; expected: string; actual: string; algorithm: string }[];
  /** in the Hub's tree but not in the cached snapshot */
  missingPaths?: string[];
  /** in the cached snapshot but not in the Hub's tree */
  extraPaths?: string[];
  error?: PyError;
}

/**
 * The real `HfApi.verify_repo_checksums(cache_dir=…)`: hashes every file of the cached snapshot of
 * `revision` against the Hub's tree (online, lists the tree at the cached commit).
 */
export async function hfVerifyChecksums(params: HfOnlineParams): Promise<HfVerifyResult> {
  return runHelper({
    request: { op: 'verify-checksums', ...params, cacheDir: undefined },
    cacheDir: params.cacheDir,
    offline: false,
  });
}
