import { hostname } from 'node:os';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ModelUri } from '../../shared/mlflow/parse-model-uri.js';
import type { ResolvedModel } from '../../shared/mlflow/resolve-model-uri.js';
import { trackingOrigin } from '../../shared/mlflow/tracking-origin.js';
import {
  cacheDirs,
  entryKey,
  entryPaths,
  isEntryKey,
  requestRefPath,
  ENTRY_MODEL_DIR,
  type EntryPaths,
} from '../../shared/model-cache/cache-layout.js';
import { acquireOrWait, type HeldLock } from '../../shared/model-cache/cache-lock.js';
import { touchLastUsed } from '../../shared/model-cache/last-used.js';
import { verifyEntry, writeManifest, type Manifest } from '../../shared/model-cache/manifest.js';
import type { FetchContext, FetchResult, FetchSource } from './fetch-model.js';
import { sum } from './fetch-model.js';
import { publishSymlink, stagingName } from './place-output.js';

type MlflowUri = Exclude<ModelUri, { kind: 'local' | 'hf' }>;

/**
 * `pvc`: the model through the shared cache at `CACHE_PATH`, then `OUTPUT_PATH/model` → symlink to
 * `CACHE_PATH/entries/<key>/model` (mount the cache at the same path, read-only, in the serve container).
 *
 * 1. an immutable URI (version number, logged model, run, artifact path) whose `refs/` record names a complete
 *    entry is a hit without any network call;
 * 2. else resolve the URI with MLflow → the entry key (server + artifact location), so a stage, an alias and
 *    a version number that mean the same files share one entry;
 * 3. a complete entry is a hit; else wait for the download lease (one process downloads, the rest wait)
 *    and download into `tmp/`, write `manifest.json` last, rename into `entries/`;
 * 4. record last-used, the ref, and point `OUTPUT_PATH/model` at the entry.
 */
export async function fetchViaCache(ctx: FetchContext, uri: MlflowUri): Promise<FetchResult> {
  const root = ctx.settings.cachePath;
  const origin = trackingOrigin(ctx.settings.mlflow.trackingUri ?? '');
  const request = immutableRequest(uri);
  const ref = request === null ? null : requestRefPath(root, [origin, request]);
  const known = ref === null ? null : await readRef(ref);
  if (known !== null) {
    const manifest = await completeManifest(entryPaths(root, known), ctx.settings.cacheVerify);
    if (manifest !== null)
      return finish({ ctx, paths: entryPaths(root, known), manifest, ref: null, source: 'cache-hit' });
  }
  const client = await ctx.mlflow();
  const { resolveModelUri } = await import('../../shared/mlflow/resolve-model-uri.js');
  const resolved = await resolveModelUri(client, uri);
  const paths = entryPaths(root, entryKey('mlflow', [origin, resolved.artifactUri]));
  ctx.log.info({ what: resolved.what, artifactUri: resolved.artifactUri, key: paths.key }, 'model resolved');
  return fetchThroughEntry({
    ctx,
    paths,
    ref,
    kind: 'mlflow',
    source: {
      uri: ctx.settings.modelUri,
      server: origin,
      resolved: resolved.artifactUri,
      ...(resolved.name === undefined ? {} : { name: resolved.name }),
      ...(resolved.version === undefined ? {} : { version: resolved.version }),
    },
    downloadedAs: 'downloaded',
    download: (modelDir, lock) => downloadMlflowModel({ ctx, root, resolved, modelDir, lock }),
  });
}

/**
 * Steps 3 and 4 for an entry of any kind: a complete entry is a hit; else wait for the entry's lease (one
 * process downloads, the rest wait), `download` into `tmp/<key>.<token>/model` under it, write `manifest.json`
 * last and rename the folder into `entries/`; then record last-used (and `ref`) and point `OUTPUT_PATH/model` at
 * the entry. What cleanup then governs: lease, last-used, manifest (shared/model-cache/cache-layout.ts).
 */
export async function fetchThroughEntry(params: {
  ctx: FetchContext;
  paths: EntryPaths;
  /** the `refs/` file to point at the entry once it is there, or null */
  ref: string | null;
  kind: Manifest['kind'];
  /** what was asked and what it resolved to, credential-free (cleanup matches pods' model URIs against it) */
  source: Manifest['source'];
  /** the result's source when this process downloaded the entry */
  downloadedAs: FetchSource;
  /** downloads the model's files into `modelDir` under `lock` (aborting with its signal); their manifest lines */
  download: (modelDir: string, lock: HeldLock) => Promise<Manifest['files']>;
}): Promise<FetchResult> {
  const { ctx, paths } = params;
  const isDone = completionCheck(paths, ctx);
  const waited = await acquireOrWait({
    lockPath: paths.lock,
    isDone: async () => (await isDone()) !== null,
    staleMs: ctx.settings.lockStaleMs,
    // a few heartbeats fit in one stale period, whatever LOCK_STALE_SECONDS is
    heartbeatMs: Math.min(5000, ctx.settings.lockStaleMs / 3),
    onWait: (owner) => ctx.log.info({ key: paths.key, holder: owner }, 'waiting for the download of another pod'),
    onBreak: (owner) => ctx.log.warn({ key: paths.key, holder: owner }, 'took over a stale cache lock'),
  });
  if (!waited.done) {
    try {
      await populateEntry({ ...params, root: ctx.settings.cachePath, lock: waited.lock });
    } finally {
      await waited.lock.release();
    }
  }
  const manifest = await isDone();
  if (manifest === null) throw new Error(`cache entry ${paths.key} is not complete after its download`);
  return finish({ ctx, paths, manifest, ref: params.ref, source: waited.done ? 'cache-hit' : params.downloadedAs });
}

/**
 * The "is the entry complete?" check used while waiting: the first look verifies in CACHE_VERIFY mode and
 * remembers a broken entry (partial, truncated, digest mismatch); later looks are quick and accept only an
 * entry other than that broken one (the one a holder re-downloaded and published).
 */
function completionCheck(paths: EntryPaths, ctx: FetchContext): () => Promise<Manifest | null> {
  let first = true;
  let broken: string | null = null;
  return async () => {
    const mode = first ? ctx.settings.cacheVerify : 'quick';
    first = false;
    const check = await verifyEntry({ entryDir: paths.dir, mode });
    if (check.problem === null && check.manifest.createdAt !== broken) return check.manifest;
    if (check.problem !== null && check.manifest !== null) {
      broken ??= check.manifest.createdAt;
      ctx.log.warn({ key: paths.key, problem: check.problem }, 'cache entry is broken, fetching it again');
    }
    return null;
  };
}

/** The request a `refs/` record stands for, or null for URIs that can move (stages, aliases). */
function immutableRequest(uri: MlflowUri): string | null {
  switch (uri.kind) {
    case 'registry-version':
      return `models:/${uri.name}/${uri.version}`;
    case 'logged-model':
      return `models:/${uri.modelId}`;
    case 'run':
      return `runs:/${uri.runId}/${uri.artifactPath}`;
    case 'mlflow-artifacts':
      return `mlflow-artifacts:/${uri.artifactPath}`;
    default:
      return null;
  }
}

async function readRef(file: string): Promise<string | null> {
  const key = (await readFile(file, 'utf8').catch(() => '')).trim();
  return isEntryKey(key) ? key : null;
}

async function writeRequestRef(file: string, key: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = stagingName(file, 'ref');
  await writeFile(temp, key);
  await rename(temp, file);
}

async function completeManifest(paths: EntryPaths, mode: 'quick' | 'full'): Promise<Manifest | null> {
  const check = await verifyEntry({ entryDir: paths.dir, mode });
  return check.problem === null ? check.manifest : null;
}

async function moveAsideAndRemove(root: string, paths: EntryPaths): Promise<void> {
  const tmp = cacheDirs(root).tmp;
  await mkdir(tmp, { recursive: true });
  const aside = path.join(tmp, path.basename(stagingName(paths.dir, 'broken')).slice(1));
  await rename(paths.dir, aside).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await rm(aside, { recursive: true, force: true });
}

async function exists(p: string): Promise<boolean> {
  return readdir(p).then(
    () => true,
    () => false,
  );
}

/** Downloads the entry under the lease: tmp folder → files → manifest last → rename into `entries/`. */
async function populateEntry(params: {
  ctx: FetchContext;
  root: string;
  paths: EntryPaths;
  lock: HeldLock;
  kind: Manifest['kind'];
  source: Manifest['source'];
  download: (modelDir: string, lock: HeldLock) => Promise<Manifest['files']>;
}): Promise<void> {
  const { root, paths, lock } = params;
  const tmpRoot = cacheDirs(root).tmp;
  await removeDeadDownloads(tmpRoot, paths.key);
  const staged = path.join(tmpRoot, `${paths.key}.${lock.owner.token}`);
  await mkdir(path.join(staged, ENTRY_MODEL_DIR), { recursive: true });
  try {
    const files = await params.download(path.join(staged, ENTRY_MODEL_DIR), lock);
    await writeManifest(staged, manifestFor({ ...params, files }));
    await lock.assertHeld();
    if (await exists(paths.dir)) await moveAsideAndRemove(root, paths);
    await mkdir(path.dirname(paths.dir), { recursive: true });
    await rename(staged, paths.dir);
  } finally {
    await rm(staged, { recursive: true, force: true });
  }
}

/** An MLflow model's artifacts into `modelDir`, after the free-space check on the cache's volume. */
async function downloadMlflowModel(params: {
  ctx: FetchContext;
  root: string;
  resolved: ResolvedModel;
  modelDir: string;
  lock: HeldLock;
}): Promise<Manifest['files']> {
  const { ctx } = params;
  const { downloadPlanned, planMlflowDownload } = await import('./download-mlflow-model.js');
  const client = await ctx.mlflow();
  const plan = await planMlflowDownload({
    client,
    resolved: params.resolved,
    concurrency: ctx.settings.concurrency,
    fileRoots: ctx.settings.fileArtifactRoots,
  });
  return downloadPlanned({
    client,
    plan,
    destDir: params.modelDir,
    spaceDir: params.root,
    concurrency: ctx.settings.concurrency,
    progress: ctx.progress,
    maxBytes: ctx.settings.maxModelBytes,
    signal: params.lock.signal,
  });
}

/** Under the lease, other `tmp/<key>.*` folders belong to holders that died or lost the lease. */
async function removeDeadDownloads(tmpRoot: string, key: string): Promise<void> {
  const names = await readdir(tmpRoot).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((n) => n.startsWith(`${key}.`))
      .map((n) => rm(path.join(tmpRoot, n), { recursive: true, force: true })),
  );
}

function manifestFor(params: {
  paths: EntryPaths;
  kind: Manifest['kind'];
  source: Manifest['source'];
  files: Manifest['files'];
}): Manifest {
  return {
    format: 1,
    key: params.paths.key,
    kind: params.kind,
    source: params.source,
    files: params.files,
    totalBytes: sum(params.files),
    createdAt: new Date().toISOString(),
    createdBy: { host: hostname(), pid: process.pid },
  };
}

async function finish(params: {
  ctx: FetchContext;
  paths: EntryPaths;
  manifest: Manifest;
  ref: string | null;
  source: FetchSource;
}): Promise<FetchResult> {
  const { ctx, paths, manifest } = params;
  await touchLastUsed(paths.dir);
  if (params.ref !== null) await writeRequestRef(params.ref, paths.key);
  await publishSymlink(paths.modelDir, ctx.target);
  return {
    modelPath: ctx.target,
    realPath: paths.modelDir,
    source: params.source,
    key: paths.key,
    files: manifest.files.length,
    bytes: manifest.totalBytes,
  };
}
