import type { Command } from 'commander';
import { addEnvOptions, envFromOptions, type EnvOption } from '../env-options.js';

const OPTIONS: readonly EnvOption[] = [
  {
    flag: '--model-uri <uri>',
    env: 'MODEL_URI',
    description:
      'models:/name/version|Stage|latest, models:/name@alias, models:/m-<id>, runs:/<run>/<path>, mlflow-artifacts:/<path>, a local path, hf://org/name[@rev]',
  },
  {
    flag: '--output-path <dir>',
    env: 'OUTPUT_PATH',
    description: 'the model appears at <dir>/model (serve: MODEL_LOCAL_PATH=<dir>/model)',
    defaultText: '/models',
  },
  {
    flag: '--storage-strategy <s>',
    env: 'STORAGE_STRATEGY',
    description: 'emptydir (download into OUTPUT_PATH) or pvc (shared cache at CACHE_PATH)',
    defaultText: 'emptydir',
  },
  {
    flag: '--cache-path <dir>',
    env: 'CACHE_PATH',
    description: 'the shared PVC cache (pvc)',
    defaultText: '/model-cache',
  },
  {
    flag: '--max-retries <n>',
    env: 'MAX_RETRIES',
    description: 'retries of each request on 408/429/5xx and connection errors',
    defaultText: '3',
  },
  {
    flag: '--backoff-seconds <s>',
    env: 'BACKOFF_SECONDS',
    description: 'exponential backoff base (full jitter; Retry-After honoured)',
    defaultText: '5',
  },
  { flag: '--tracking-uri <url>', env: 'MLFLOW_TRACKING_URI', description: 'MLflow tracking server' },
  {
    flag: '--insecure-tls',
    env: 'MLFLOW_TRACKING_INSECURE_TLS',
    description: "accept the server's certificate unverified",
  },
  {
    flag: '--timeout-seconds <s>',
    env: 'FETCH_TIMEOUT_SECONDS',
    description: 'connect/headers/idle-body timeout of each request',
    defaultText: '30',
  },
  {
    flag: '--max-model-gb <n>',
    env: 'FETCH_MAX_MODEL_GB',
    description: 'refuse a model larger than this many GiB (listed, or counted while downloading)',
    defaultText: '256',
  },
  {
    flag: '--file-artifact-roots <dirs>',
    env: 'FETCH_FILE_ARTIFACT_ROOTS',
    description: 'comma-separated folders a file: artifact location from the tracking server may be read from',
    defaultText: 'none',
  },
  { flag: '--concurrency <n>', env: 'FETCH_CONCURRENCY', description: 'files downloaded at once', defaultText: '4' },
  {
    flag: '--lock-stale-seconds <s>',
    env: 'LOCK_STALE_SECONDS',
    description: 'take over a cache lock whose holder stopped its heartbeat this long',
    defaultText: '30',
  },
  {
    flag: '--verify <mode>',
    env: 'CACHE_VERIFY',
    description: 'cache hit check: quick (sizes) or full (sha256 of every file)',
    defaultText: 'quick',
  },
  {
    flag: '--progress <mode>',
    env: 'PROGRESS',
    description: 'auto (bar on a terminal, JSON lines otherwise), bar, json, none',
    defaultText: 'auto',
  },
  {
    flag: '--progress-interval <s>',
    env: 'PROGRESS_INTERVAL_SECONDS',
    description: 'seconds between JSON progress lines',
    defaultText: '5',
  },
  { flag: '--log-level <level>', env: 'LOG_LEVEL', description: 'pino level', defaultText: 'info' },
];

const HELP = `
Also read: MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD (basic auth) or MLFLOW_TRACKING_TOKEN (bearer),
from a Secret; never logged. Artifacts are read through the tracking server's artifact proxy
(mlflow server --serve-artifacts); models whose artifacts live elsewhere (s3://, gs://, …) are refused, and so
is a file: (or absolute) location unless it lies under FETCH_FILE_ARTIFACT_ROOTS (a volume the server shares,
mounted at the same path) and holds an MLmodel. What a server sends is bounded: never more bytes than a file's
listed size, FETCH_MAX_MODEL_GB per model, an artifact tree of at most 32 folders deep, 2000 folder listings and
100000 files, 64 MiB per JSON answer, 64 KiB read of an error body; a body silent for FETCH_TIMEOUT_SECONDS is cut.

Where the model goes:
  emptydir  downloaded into OUTPUT_PATH/.model.staging-*, then renamed to OUTPUT_PATH/model.
  pvc       CACHE_PATH/entries/<key>/model, keyed by the resolved artifact location (a stage, an alias and
            a version number of the same model version share one entry); one pod downloads, the others
            wait; OUTPUT_PATH/model becomes a symlink to the entry, no bytes copied. Mount the cache volume
            at the same CACHE_PATH in the serve container (read-only is enough). An hf:// repo missing
            from the node cache (HF_HUB_CACHE) gets an entry too, keyed by Hub, repo and commit, holding
            the repo's files; cleanup evicts both kinds alike.
OUTPUT_PATH itself also shows the model: each top-level file of OUTPUT_PATH/model is linked as
OUTPUT_PATH/<name> -> model/<name>. So serve reads MODEL_LOCAL_PATH=OUTPUT_PATH or OUTPUT_PATH/model
(a folder with MLmodel); hf:// models are the snapshot folder (config.json, weights, …).

Exit codes:
  0  the model is at OUTPUT_PATH/model
  1  bad configuration or MODEL_URI
  2  permanent failure: model/version/alias/stage not found, credentials refused (401/403),
     artifact store not served by the proxy or not allowed, not an MLflow model, an answer that breaks
     the API or a bound (unsafe file name, more bytes than listed, tree too large, over FETCH_MAX_MODEL_GB)
  3  the server stayed unavailable (408/429/5xx, connection errors) through MAX_RETRIES retries
  4  not enough disk space for the model
  5  anything else (I/O error, lost cache lock)`;

/** `modelctl fetch`: the serving pod's init container — put a model on local disk. */
export function registerFetchCommand(program: Command): void {
  const cmd = program
    .command('fetch')
    .description('put a model on local disk: from the shared PVC cache, the node cache, or MLflow (init container)')
    .addHelpText('after', HELP);
  addEnvOptions(cmd, OPTIONS).action(async (opts: Record<string, unknown>) => {
    // imported on use: the cache-hit path must not load what other commands need
    const { runFetch } = await import('../../functions/fetch/index.js');
    await runFetch(envFromOptions(opts, OPTIONS));
  });
}
