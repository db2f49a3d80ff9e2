import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../shared/errors/app-error.js';
import type { Logger } from '../../shared/log/create-logger.js';
import type { MlflowClient } from '../../shared/mlflow/mlflow-client.js';
import { parseModelUri, type ModelUri } from '../../shared/mlflow/parse-model-uri.js';
import type { FetchSettings } from './fetch-config.js';
import {
  LINK_TEMP_PREFIX,
  OUTPUT_MODEL_DIR,
  linkModelIntoOutput,
  publishDirectory,
  stagingName,
} from './place-output.js';
import type { Progress } from './progress.js';

/** How the model got to OUTPUT_PATH. */
export type FetchSource = 'downloaded' | 'cache-hit' | 'copied' | 'hf-node-cache' | 'hf-downloaded';

export interface FetchResult {
  /** `OUTPUT_PATH/model`: a folder, or (pvc, hf) a symlink to one; serve's MODEL_LOCAL_PATH */
  modelPath: string;
  /** the folder the bytes are really in */
  realPath: string;
  source: FetchSource;
  /** the PVC cache entry, for pvc */
  key?: string;
  /** MODEL_ENV=install: the model's Python env, and whether this fetch built it */
  env?: { source: 'env-cached' | 'env-built'; dir: string; ms: number };
  files: number;
  bytes: number;
}

/** What every fetch flow gets. */
export interface FetchContext {
  settings: FetchSettings;
  uri: ModelUri;
  log: Logger;
  progress: Progress;
  /** `OUTPUT_PATH/model` */
  target: string;
  /** the MLflow client, created on first use (keeps undici off the cache-hit path) */
  mlflow: () => Promise<MlflowClient>;
}

/**
 * Puts the model of `MODEL_URI` at `OUTPUT_PATH/model`, by the configured strategy:
 * - `emptydir`: download into a staging folder beside it, then one rename;
 * - `pvc`: through the shared cache at `CACHE_PATH` (one download per resolved model across pods),
 *   then `OUTPUT_PATH/model` becomes a symlink into the cache entry (no bytes copied);
 * local paths are copied, `hf://` repos come from the node's Hugging Face cache.
 * Then OUTPUT_PATH itself shows the model's top-level files as relative links into `model/`, so serve may read
 * `MODEL_LOCAL_PATH=OUTPUT_PATH` (what `modelctl deploy` renders) or `OUTPUT_PATH/model`.
 */
export async function fetchModel(params: {
  settings: FetchSettings;
  log: Logger;
  progress: Progress;
}): Promise<FetchResult> {
  const { settings } = params;
  const uri = parseUri(settings.modelUri);
  await mkdir(settings.outputPath, { recursive: true });
  let client: MlflowClient | undefined;
  const ctx: FetchContext = {
    ...params,
    uri,
    target: path.join(settings.outputPath, OUTPUT_MODEL_DIR),
    mlflow: async () => (client ??= await createClient(settings, params.log)),
  };
  try {
    const result = await dispatch(ctx);
    if (settings.modelEnv === 'install') result.env = await installEnv(settings, result, params.log);
    const blocked = await linkModelIntoOutput(settings.outputPath);
    if (blocked.length > 0)
      params.log.warn(
        { blocked },
        'files in OUTPUT_PATH hide parts of the model: use MODEL_LOCAL_PATH=OUTPUT_PATH/model',
      );
    return result;
  } finally {
    await client?.close();
  }
}

async function dispatch(ctx: FetchContext): Promise<FetchResult> {
  await removeLeftovers(ctx.settings.outputPath);
  if (ctx.uri.kind === 'local') return copyLocal(ctx, ctx.uri.dir);
  if (ctx.uri.kind === 'hf') return (await import('./fetch-hf.js')).fetchHf(ctx, ctx.uri);
  if (ctx.settings.storageStrategy === 'pvc') return (await import('./fetch-via-cache.js')).fetchViaCache(ctx, ctx.uri);
  return (await import('./fetch-to-output.js')).fetchToOutput(ctx, ctx.uri);
}

/** MODEL_ENV=install: the model's venv beside it (in the PVC entry under the entry's own lease). */
async function installEnv(
  settings: FetchSettings,
  result: FetchResult,
  log: Logger,
): Promise<NonNullable<FetchResult['env']>> {
  const [{ installModelEnv }, { entryPaths }] = await Promise.all([
    import('./install-model-env.js'),
    import('../../shared/model-cache/cache-layout.js'),
  ]);
  const env = await installModelEnv({
    modelDir: result.realPath,
    python: settings.servePython,
    lockPath: result.key === undefined ? null : entryPaths(settings.cachePath, result.key).lock,
    staleMs: settings.lockStaleMs,
    log,
  });
  log.info(env, 'model env ready');
  return env;
}

function parseUri(uri: string): ModelUri {
  try {
    return parseModelUri(uri);
  } catch (err) {
    throw new AppError({
      code: 'INVALID_MODEL_URI',
      statusCode: 400,
      message: `MODEL_URI: ${(err as Error).message}`,
      cause: err,
    });
  }
}

async function createClient(settings: FetchSettings, log: Logger): Promise<MlflowClient> {
  const { MlflowClient: Client } = await import('../../shared/mlflow/mlflow-client.js');
  const { mlflow } = settings;
  return new Client({
    trackingUri: mlflow.trackingUri ?? '',
    username: mlflow.username,
    password: mlflow.password,
    token: mlflow.token,
    insecureTls: mlflow.insecureTls,
    timeoutMs: mlflow.timeoutMs,
    maxRetries: settings.retry.maxRetries,
    backoffMs: settings.retry.baseDelayMs,
    onRetry: (a) =>
      log.warn(
        {
          what: a.what,
          retry: a.retry,
          maxRetries: a.maxRetries,
          delayMs: a.delayMs,
          fromRetryAfter: a.fromRetryAfter,
          err: a.error,
        },
        'retrying',
      ),
  });
}

/** Staging folders of an earlier run that was killed (`.model.staging-*`, `.model.old-*`, `.model.link-*`). */
async function removeLeftovers(outputPath: string): Promise<void> {
  const names = await readdir(outputPath).catch(() => [] as string[]);
  const stale = names.filter(
    (n) => /^\.model\.(staging|old|link)-[0-9a-f]{12}$/.test(n) || n.startsWith(LINK_TEMP_PREFIX),
  );
  await Promise.all(stale.map((n) => rm(path.join(outputPath, n), { recursive: true, force: true })));
}

/** A local folder: copied into OUTPUT_PATH/model through a staging folder (both strategies). */
async function copyLocal(ctx: FetchContext, dir: string): Promise<FetchResult> {
  const { cp } = await import('node:fs/promises');
  const { describeFiles } = await import('../../shared/model-cache/manifest.js');
  const staged = stagingName(ctx.target, 'staging');
  try {
    await cp(dir, staged, { recursive: true, errorOnExist: true, force: false, dereference: true });
  } catch (err) {
    await rm(staged, { recursive: true, force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new AppError({
        code: 'MODEL_NOT_FOUND',
        statusCode: 404,
        message: `MODEL_URI: no folder at ${dir}`,
        cause: err,
      });
    }
    throw err;
  }
  const files = await describeFiles(staged);
  await publishDirectory(staged, ctx.target);
  return { modelPath: ctx.target, realPath: ctx.target, source: 'copied', files: files.length, bytes: sum(files) };
}

/** Total bytes of a file list. */
export function sum(files: readonly { size: number }[]): number {
  return files.reduce((acc, f) => acc + f.size, 0);
}
