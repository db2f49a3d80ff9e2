import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { findSnapshot } from '../../shared/hf-cache/find-snapshot.js';
import type { ModelUri } from '../../shared/mlflow/parse-model-uri.js';
import type { FetchContext, FetchResult } from './fetch-model.js';
import type { RepoFile } from '../../shared/hub/list-repo-files.js';
import { publishSymlink } from './place-output.js';

type HfUri = Extract<ModelUri, { kind: 'hf' }>;

/**
 * `hf://org/name[@revision]`: OUTPUT_PATH/model becomes a symlink to the snapshot folder
 * (`models--org--name/snapshots/<commit>`, whose files are relative links into `blobs/`):
 * 1. from the node's Hugging Face cache (`HF_HUB_CACHE`, the agent's hostPath) when it holds the revision
 *    (a commit, or `refs/<revision>`, which the agent writes last);
 * 2. else downloaded from `HF_ENDPOINT` in the same layout, by the agent's downloader (shared/hub), into
 *    `CACHE_PATH/hf` (pvc) or `OUTPUT_PATH/.hf-cache` (emptydir); a repeat fetch re-uses verified blobs.
 */
export async function fetchHf(ctx: FetchContext, uri: HfUri): Promise<FetchResult> {
  const nodeCache = ctx.config.HF_HUB_CACHE;
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
  const { cacheDir, stateDir } = downloadDirs(ctx);
  ctx.log.info(
    { repo: uri.repo, revision: uri.revision, nodeCache: nodeCache ?? null, cacheDir },
    'not in the node cache, downloading',
  );
  const { downloadSnapshot } = await import('../../shared/hub/download-snapshot.js');
  const access = {
    hubUrl: ctx.config.HF_ENDPOINT,
    token: ctx.config.HF_TOKEN,
  };
  // the commit and its file list first, so progress has real totals (bytes and files) from the start
  const { commit, files } = await listSnapshotFiles(access, uri.repo, uri.revision ?? 'main');
  ctx.progress.start(
    files.reduce((n, f) => n + f.size, 0),
    files.length,
  );
  try {
    const result = await downloadSnapshot({
      access,
      cacheDir,
      repo: uri.repo,
      revision: uri.revision,
      commit,
      files,
      filesAreComplete: true,
      stateDir,
      concurrency: ctx.config.FETCH_CONCURRENCY,
      retry: { maxRetries: ctx.config.MAX_RETRIES, baseDelayMs: ctx.config.BACKOFF_SECONDS * 1000 },
      onBytes: (n) => ctx.progress.add(n),
      log: ctx.log,
    });
    return await publishSnapshot(ctx, result.snapshotPath, 'hf-downloaded');
  } finally {
    ctx.progress.finish();
  }
}

/** The commit `revision` names and every file of it (what a download will fetch, sizes included). */
async function listSnapshotFiles(
  access: { hubUrl: string; token?: string | undefined },
  repo: string,
  revision: string,
): Promise<{ commit: string; files: RepoFile[] }> {
  const [{ resolveRevision }, { listRepoFiles }, { isCommitHash }] = await Promise.all([
    import('../../shared/hub/resolve-revision.js'),
    import('../../shared/hub/list-repo-files.js'),
    import('../../shared/hf-cache/cache-paths.js'),
  ]);
  const commit = isCommitHash(revision) ? revision : (await resolveRevision({ access, repo, revision })).commit;
  return { commit, files: await listRepoFiles({ access, repo, commit }) };
}

/** Where a download goes: the PVC (shared by pods) or the pod's own emptyDir; resume state beside, outside the cache. */
function downloadDirs(ctx: FetchContext): { cacheDir: string; stateDir: string } {
  const base = ctx.config.STORAGE_STRATEGY === 'pvc' ? ctx.config.CACHE_PATH : ctx.config.OUTPUT_PATH;
  const prefix = ctx.config.STORAGE_STRATEGY === 'pvc' ? '' : '.';
  return { cacheDir: path.join(base, `${prefix}hf-cache`), stateDir: path.join(base, `${prefix}hf-state`) };
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
