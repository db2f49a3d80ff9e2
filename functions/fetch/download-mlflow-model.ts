import { cp, stat } from 'node:fs/promises';
import { AppError } from '../../shared/errors/app-error.js';
import { downloadArtifacts, listArtifacts, type ArtifactFile } from '../../shared/mlflow/download-artifacts.js';
import type { MlflowClient } from '../../shared/mlflow/mlflow-client.js';
import { MlflowError } from '../../shared/mlflow/mlflow-error.js';
import { artifactLocation, type ResolvedModel } from '../../shared/mlflow/resolve-model-uri.js';
import { describeFiles, type ManifestFile } from '../../shared/model-cache/manifest.js';
import { checkFreeSpace } from './check-free-space.js';
import type { Progress } from './progress.js';

/** What to download for a resolved MLflow model: the folder that holds `MLmodel` and its files. */
export type MlflowDownloadPlan =
  | { kind: 'proxy'; proxyPath: string; files: ArtifactFile[]; totalBytes: number; what: string }
  | { kind: 'local'; dir: string; what: string };

/**
 * Lists the model's files through the proxy and picks the MLflow model folder: the artifact root when it
 * has `MLmodel`, else its one sub-folder that does (e.g. `runs:/<id>` whose model was logged under `model/`).
 * @throws AppError NOT_AN_MLFLOW_MODEL when no folder (or more than one) holds `MLmodel`
 */
export async function planMlflowDownload(params: {
  client: MlflowClient;
  resolved: ResolvedModel;
  concurrency: number;
}): Promise<MlflowDownloadPlan> {
  const { client, resolved } = params;
  const location = artifactLocation(resolved, client.origin);
  if (location.kind === 'local') return planLocal(location.dir, resolved, client.origin);
  const listed = await listArtifacts({
    client,
    proxyPath: location.proxyPath,
    what: resolved.what,
    concurrency: params.concurrency,
  });
  const prefix = modelFolder(listed, resolved.what);
  const files = listed
    .filter((f) => prefix === '' || f.path.startsWith(`${prefix}/`))
    .map((f) => ({ ...f, path: prefix === '' ? f.path : f.path.slice(prefix.length + 1) }));
  return {
    kind: 'proxy',
    proxyPath: prefix === '' ? location.proxyPath : `${location.proxyPath}/${prefix}`,
    files,
    totalBytes: files.reduce((sum, f) => sum + (f.size ?? 0), 0),
    what: resolved.what,
  };
}

function modelFolder(files: readonly ArtifactFile[], what: string): string {
  if (files.some((f) => f.path === 'MLmodel')) return '';
  const folders = files.filter((f) => f.path.endsWith('/MLmodel')).map((f) => f.path.slice(0, -'/MLmodel'.length));
  const [only, ...others] = folders;
  if (only !== undefined && others.length === 0) return only;
  throw new AppError({
    code: 'NOT_AN_MLFLOW_MODEL',
    statusCode: 422,
    message:
      folders.length === 0
        ? `${what} holds no MLmodel file: point MODEL_URI at an MLflow model (e.g. runs:/<run>/model)`
        : `${what} holds several MLflow models (${folders.join(', ')}): name one in MODEL_URI`,
  });
}

/** A `file:` artifact location is readable only when this machine mounts it (the MLflow client's behaviour). */
async function planLocal(dir: string, resolved: ResolvedModel, origin: string): Promise<MlflowDownloadPlan> {
  const info = await stat(dir).catch(() => null);
  if (info?.isDirectory() !== true) {
    throw new MlflowError({
      code: 'ARTIFACT_STORE_UNSUPPORTED',
      message:
        `the files of ${resolved.what} are at a path on the tracking server (${dir}) that this pod cannot read: run the ` +
        `server at ${origin} with --serve-artifacts so clients read artifacts through /api/2.0/mlflow-artifacts`,
    });
  }
  return { kind: 'local', dir, what: resolved.what };
}

/**
 * Downloads (or copies) a planned model into `destDir`, after checking `spaceDir` has room for it.
 * @returns the manifest's file list
 */
export async function downloadPlanned(params: {
  client: MlflowClient;
  plan: MlflowDownloadPlan;
  destDir: string;
  spaceDir: string;
  concurrency: number;
  progress: Progress;
  signal?: AbortSignal;
}): Promise<ManifestFile[]> {
  const { plan } = params;
  if (plan.kind === 'local') {
    await cp(plan.dir, params.destDir, { recursive: true, errorOnExist: true, force: false });
    return describeFiles(params.destDir);
  }
  await checkFreeSpace({ dir: params.spaceDir, bytes: plan.totalBytes, what: plan.what });
  params.progress.start(plan.totalBytes, plan.files.length);
  try {
    return await downloadArtifacts({
      client: params.client,
      proxyPath: plan.proxyPath,
      files: plan.files,
      destDir: params.destDir,
      what: plan.what,
      concurrency: params.concurrency,
      onBytes: (d) => params.progress.add(d),
      signal: params.signal,
    });
  } finally {
    params.progress.finish();
  }
}
