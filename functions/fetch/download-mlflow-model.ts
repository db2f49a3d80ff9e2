import { cp, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../shared/errors/app-error.js';
import { downloadArtifacts, listArtifacts, type ArtifactFile } from '../../shared/mlflow/download-artifacts.js';
import type { MlflowClient } from '../../shared/mlflow/mlflow-client.js';
import { MlflowError } from '../../shared/mlflow/mlflow-error.js';
import { artifactLocation, type ResolvedModel } from '../../shared/mlflow/resolve-model-uri.js';
import { describeFiles, type ManifestFile } from '../../shared/model-cache/manifest.js';
import { checkFreeSpace } from '../../shared/disk/check-free-space.js';
import { formatBytes } from '../../shared/disk/format-bytes.js';
import { BYTES_PER_GIB } from '../../shared/disk/byte-units.js';
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
  /** `FETCH_FILE_ARTIFACT_ROOTS`: the only folders a `file:` location may be read from */
  fileRoots: readonly string[];
}): Promise<MlflowDownloadPlan> {
  const { client, resolved } = params;
  const location = artifactLocation(resolved, client.origin);
  if (location.kind === 'local') return planLocal(location.dir, resolved, client.origin, params.fileRoots);
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

/**
 * A `file:` (or bare absolute) artifact location is read only under one of `fileRoots` (a volume the tracking
 * server really shares with this pod), and only when it holds an MLflow model: the tracking server must not make
 * fetch copy the pod's own files (issue 14). Checked on the path as given, then on its real path (symlinks).
 */
async function planLocal(
  dir: string,
  resolved: ResolvedModel,
  origin: string,
  fileRoots: readonly string[],
): Promise<MlflowDownloadPlan> {
  const refused = (shown: string): MlflowError =>
    new MlflowError({
      code: 'ARTIFACT_STORE_UNSUPPORTED',
      message:
        `the tracking server at ${origin} says the files of ${resolved.what} are at ${shown} on a local disk, which ` +
        `is not under FETCH_FILE_ARTIFACT_ROOTS (${fileRoots.join(',') || 'none set'}): run the server with ` +
        `--serve-artifacts, or mount the volume it shares and list that folder in FETCH_FILE_ARTIFACT_ROOTS`,
    });
  if (!isUnder(path.resolve(dir), fileRoots)) throw refused(dir);
  const info = await stat(dir).catch(() => null);
  if (info?.isDirectory() !== true) {
    throw new MlflowError({
      code: 'ARTIFACT_STORE_UNSUPPORTED',
      message:
        `the files of ${resolved.what} are at a path on the tracking server (${dir}) that this pod cannot read: run the ` +
        `server at ${origin} with --serve-artifacts so clients read artifacts through /api/2.0/mlflow-artifacts`,
    });
  }
  const real = await realpath(dir);
  const realRoots = await Promise.all(fileRoots.map((r) => realpath(r).catch(() => path.resolve(r))));
  if (!isUnder(real, realRoots)) throw refused(`${dir} (really ${real})`);
  const mlmodel = await stat(path.join(real, 'MLmodel')).catch(() => null);
  if (mlmodel?.isFile() !== true) {
    throw new AppError({
      code: 'NOT_AN_MLFLOW_MODEL',
      statusCode: 422,
      message: `${resolved.what} at ${dir} holds no MLmodel file: point MODEL_URI at an MLflow model`,
    });
  }
  return { kind: 'local', dir: real, what: resolved.what };
}

function isUnder(p: string, roots: readonly string[]): boolean {
  return roots.some((root) => {
    const rel = path.relative(path.resolve(root), p);
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  });
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
  /** `FETCH_MAX_MODEL_GB` in bytes: a larger model is refused, listed or counted */
  maxBytes: number;
  signal?: AbortSignal;
}): Promise<ManifestFile[]> {
  const { plan } = params;
  if (plan.kind === 'local') {
    // destDir may exist already, empty (the pvc flow makes it): copy into it, never over a file
    await cp(plan.dir, params.destDir, { recursive: true, errorOnExist: false, force: false });
    return describeFiles(params.destDir);
  }
  if (plan.totalBytes > params.maxBytes)
    throw tooLarge(plan.what, `lists ${formatBytes(plan.totalBytes)}`, params.maxBytes);
  await checkFreeSpace({ dir: params.spaceDir, bytes: plan.totalBytes, what: plan.what });
  params.progress.start(plan.totalBytes, plan.files.length);
  let written = 0;
  try {
    return await downloadArtifacts({
      client: params.client,
      proxyPath: plan.proxyPath,
      files: plan.files,
      destDir: params.destDir,
      what: plan.what,
      concurrency: params.concurrency,
      onBytes: (d) => {
        written += d;
        // files without a listed size are counted as they arrive
        if (written > params.maxBytes)
          throw tooLarge(plan.what, `sent more than ${formatBytes(written)}`, params.maxBytes);
        params.progress.add(d);
      },
      signal: params.signal,
    });
  } finally {
    params.progress.finish();
  }
}

export function tooLarge(what: string, detail: string, maxBytes: number): AppError {
  return new AppError({
    code: 'MODEL_TOO_LARGE',
    statusCode: 413,
    message: `${what} ${detail}, over FETCH_MAX_MODEL_GB (${Number((maxBytes / BYTES_PER_GIB).toPrecision(6))}): raise it if the model is really this large`,
  });
}
