import { copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { findSnapshot } from '../../shared/hf-cache/find-snapshot.js';
import type { ModelUri } from '../../shared/mlflow/parse-model-uri.js';
import type { FetchContext, FetchResult } from './fetch-model.js';
import type { RepoFile } from '../../shared/hub/list-repo-files.js';
import type { HeldLock } from '../../shared/model-cache/cache-lock.js';
import type { ManifestFile } from '../../shared/model-cache/manifest.js';
import { publishSymlink } from './place-output.js';

type HfUri = Extract<ModelUri, { kind: 'hf' }>;
type HubAccess = { hubUrl: string; token?: string | undefined };

/**
 * `hf://org/name[@revision]`:
 * 1. from the node's Hugging Face cache (`HF_HUB_CACHE`, the agent's hostPath) when it holds the revision
 *    (a commit, or `refs/<revision>`, which the agent writes last): OUTPUT_PATH/model becomes a symlink to the
 *    snapshot folder (`models--org--name/snapshots/<commit>`, whose files are relative links into `blobs/`);
 * 2. else downloaded from `HF_ENDPOINT` by the agent's downloader (shared/hub): with `pvc` into an entry of the
 *    shared cache at `CACHE_PATH` (the layout cleanup governs: lease, free-space check, manifest, eviction), with
 *    `emptydir` into `OUTPUT_PATH/.hf-cache` in the Hugging Face layout (a repeat fetch re-uses verified blobs).
 */
export async function fetchHf(ctx: FetchContext, uri: HfUri): Promise<FetchResult> {
  const nodeCache = ctx.settings.hub.nodeCache;
  const cached =
    nodeCache === undefined
      ? null
      : await findSnapshot({ cacheDir: nodeCache, repo: uri.repo, revision: uri.revision });
  if (cached !== null) {
    ctx.log.info(
      { repo: uri.repo, revision: uri.revision, commit: cached.commit, cacheDir: nodeCache },
      'found in the node cache',
    );
    return publishSnapshot(ctx, cached.path, 'hf-node-cache');
  }
  const access: HubAccess = { hubUrl: ctx.settings.hub.endpoint, token: ctx.settings.hub.token };
  if (ctx.settings.storageStrategy === 'pvc') return fetchHfViaCache(ctx, uri, access);
  const cacheDir = path.join(ctx.settings.outputPath, '.hf-cache');
  ctx.log.info(
    { repo: uri.repo, revision: uri.revision, nodeCache: nodeCache ?? null, cacheDir },
    'not in the node cache, downloading',
  );
  const { downloadSnapshot } = await import('../../shared/hub/download-snapshot.js');
  // the commit and its file list first, so progress has real totals (bytes and files) from the start
  const { commit, files } = await listSnapshotFiles(access, uri.repo, uri.revision ?? 'main');
  ctx.progress.start(
    files.reduce((n, f) => n + f.size, 0),
    files.length,
  );
  try {
    const result = await downloadSnapshot({
      ...downloadSettings(ctx),
      access,
      cacheDir,
      repo: uri.repo,
      revision: uri.revision,
      commit,
      files,
      filesAreComplete: true,
      stateDir: path.join(ctx.settings.outputPath, '.hf-state'),
    });
    return await publishSnapshot(ctx, result.snapshotPath, 'hf-downloaded');
  } finally {
    ctx.progress.finish();
  }
}

/** What every snapshot download of fetch shares: concurrency, retries, progress, log. */
function downloadSettings(ctx: FetchContext) {
  return {
    concurrency: ctx.settings.concurrency,
    retry: ctx.settings.retry,
    onBytes: (n: number) => ctx.progress.add(n),
    log: ctx.log,
  };
}

/**
 * `pvc`: the revision pinned to its commit (no Hub call when it is one), then the entry of (Hub, repo, commit) in
 * the shared cache, through the same steps as an MLflow model (fetch-via-cache.ts): a complete entry is a hit,
 * else one pod downloads it under the entry's lease while the others wait. `OUTPUT_PATH/model` → the entry's
 * `model/`, which holds the repo's files (not the Hugging Face layout: no symlinks, so cleanup counts every byte).
 */
async function fetchHfViaCache(ctx: FetchContext, uri: HfUri, access: HubAccess): Promise<FetchResult> {
  const [{ fetchThroughEntry }, { entryKey, entryPaths }, { trackingOrigin }] = await Promise.all([
    import('./fetch-via-cache.js'),
    import('../../shared/model-cache/cache-layout.js'),
    import('../../shared/mlflow/tracking-origin.js'),
  ]);
  const revision = uri.revision ?? 'main';
  const commit = await resolveCommit(access, uri.repo, revision);
  const hub = trackingOrigin(ctx.settings.hub.endpoint); // credential-free
  const paths = entryPaths(ctx.settings.cachePath, entryKey('hf', [hub, uri.repo, commit]));
  ctx.log.info({ repo: uri.repo, revision, commit, key: paths.key }, 'model resolved');
  return fetchThroughEntry({
    ctx,
    paths,
    ref: null, // the key needs only the commit: a commit URI finds its entry without the Hub already
    kind: 'hf',
    source: {
      uri: ctx.settings.modelUri,
      server: hub,
      resolved: `hf://${uri.repo}@${commit}`,
      name: uri.repo,
      version: commit,
    },
    downloadedAs: 'hf-downloaded',
    download: (modelDir, lock) => downloadRepoFiles({ ctx, access, repo: uri.repo, commit, modelDir, lock }),
  });
}

/**
 * The repo's files at `commit` into `modelDir` (under the entry's lease): refused over FETCH_MAX_MODEL_GB,
 * downloaded by the agent's downloader with the free-space check on the cache's volume into a scratch Hugging
 * Face cache beside `modelDir` (blobs verified by size and hash), then each blob renamed to its path.
 * @returns the manifest's lines: sha256 is the LFS object id the download verified, or hashed here (small files)
 */
async function downloadRepoFiles(params: {
  ctx: FetchContext;
  access: HubAccess;
  repo: string;
  commit: string;
  modelDir: string;
  lock: HeldLock;
}): Promise<ManifestFile[]> {
  const { ctx, repo, commit } = params;
  const [{ downloadSnapshot }, { DiskGuard }, { formatBytes }, { tooLarge }] = await Promise.all([
    import('../../shared/hub/download-snapshot.js'),
    import('../../shared/disk/disk-guard.js'),
    import('../../shared/disk/format-bytes.js'),
    import('./download-mlflow-model.js'),
  ]);
  const { files } = await listSnapshotFiles(params.access, repo, commit);
  const total = files.reduce((n, f) => n + f.size, 0);
  const maxBytes = ctx.settings.maxModelBytes;
  if (total > maxBytes) throw tooLarge(`hf://${repo}@${commit}`, `lists ${formatBytes(total)}`, maxBytes);
  const scratch = path.join(path.dirname(params.modelDir), 'hf-download');
  // the downloader flocks each blob (huggingface_hub's protocol); the lease already makes this process the one
  // writer, and flock on a network volume may fail (ENOLCK): the scratch cache's .locks is on the pod's own disk
  const locks = await mkdtemp(path.join(tmpdir(), 'modelctl-hf-locks-'));
  await mkdir(path.join(scratch, 'cache'), { recursive: true });
  await symlink(locks, path.join(scratch, 'cache', '.locks'));
  ctx.progress.start(total, files.length);
  try {
    await downloadSnapshot({
      ...downloadSettings(ctx),
      access: params.access,
      cacheDir: path.join(scratch, 'cache'),
      repo,
      revision: commit,
      commit,
      files,
      stateDir: path.join(scratch, 'state'),
      diskGuard: new DiskGuard({
        dir: ctx.settings.cachePath,
        minFreeBytes: 64 * 1024 * 1024,
        hint: 'enlarge the PVC, or have cleanup evict more (TTL_DAYS, MAX_SIZE_GB)',
      }),
      signal: params.lock.signal,
    });
    return await placeRepoFiles({ cacheDir: path.join(scratch, 'cache'), repo, files, modelDir: params.modelDir });
  } finally {
    ctx.progress.finish();
    await Promise.all([rm(scratch, { recursive: true, force: true }), rm(locks, { recursive: true, force: true })]);
  }
}

/** Each file's verified blob renamed to `modelDir/<path>` (a blob that two paths share is copied for the second). */
async function placeRepoFiles(params: {
  cacheDir: string;
  repo: string;
  files: readonly RepoFile[];
  modelDir: string;
}): Promise<ManifestFile[]> {
  const { blobPath, repoCachePaths } = await import('../../shared/hf-cache/cache-paths.js');
  const paths = repoCachePaths(params.cacheDir, params.repo);
  const placed = new Map<string, string>();
  const lines: ManifestFile[] = [];
  for (const file of params.files) {
    // repo paths were checked safe (no "..", no absolute path) when listed
    const dest = path.join(params.modelDir, ...file.path.split('/'));
    await mkdir(path.dirname(dest), { recursive: true });
    const first = placed.get(file.etag);
    if (first === undefined) await rename(blobPath(paths, file.etag), dest);
    else await copyFile(first, dest);
    placed.set(file.etag, dest);
    const sha256 = file.isLfs
      ? file.etag
      : createHash('sha256')
          .update(await readFile(dest))
          .digest('hex');
    lines.push({ path: file.path, size: file.size, sha256 });
  }
  return lines.sort((a, b) => a.path.localeCompare(b.path));
}

/** The commit `revision` names: itself when it is one (no Hub call), else the Hub's answer. */
async function resolveCommit(access: HubAccess, repo: string, revision: string): Promise<string> {
  const [{ resolveRevision }, { isCommitHash }] = await Promise.all([
    import('../../shared/hub/resolve-revision.js'),
    import('../../shared/hf-cache/cache-paths.js'),
  ]);
  return isCommitHash(revision) ? revision : (await resolveRevision({ access, repo, revision })).commit;
}

/** The commit `revision` names and every file of it (what a download will fetch, sizes included). */
async function listSnapshotFiles(
  access: HubAccess,
  repo: string,
  revision: string,
): Promise<{ commit: string; files: RepoFile[] }> {
  const { listRepoFiles } = await import('../../shared/hub/list-repo-files.js');
  const commit = await resolveCommit(access, repo, revision);
  return { commit, files: await listRepoFiles({ access, repo, commit }) };
}

async function publishSnapshot(
  ctx: FetchContext,
  snapshot: string,
  source: 'hf-node-cache' | 'hf-downloaded',
): Promise<FetchResult> {
  await publishSymlink(snapshot, ctx.target);
  const names = await readdir(snapshot, { recursive: true });
  const sizes = await Promise.all(
    names.map((n) => stat(path.join(snapshot, n)).then((s) => (s.isFile() ? s.size : -1))),
  );
  const files = sizes.filter((s) => s >= 0);
  return {
    modelPath: ctx.target,
    realPath: snapshot,
    source,
    files: files.length,
    bytes: files.reduce((a, b) => a + b, 0),
  };
}
