import { stat } from 'node:fs/promises';
import { isCommitHash, repoCachePaths, snapshotDir } from './cache-paths.js';
import { readRef } from './write-ref.js';

/**
 * Where a Hugging Face cache holds `repo` at `revision`, read the way huggingface_hub does offline: a commit
 * hash names `snapshots/{commit}` directly, a branch or tag goes through `refs/{revision}`.
 * Used by `fetch` for `hf://` URIs. Completeness is the writer's promise: the agent writes the ref last.
 * @returns the snapshot folder `<cacheDir>/models--org--name/snapshots/<commit>`, or null when not cached
 */
export async function findSnapshot(params: {
  cacheDir: string;
  repo: string;
  /** @default 'main' */
  revision?: string;
}): Promise<{ path: string; commit: string } | null> {
  const paths = repoCachePaths(params.cacheDir, params.repo);
  const revision = params.revision ?? 'main';
  const commit = isCommitHash(revision) ? revision : await readRef(paths, revision);
  if (commit === null) return null;
  const folder = snapshotDir(paths, commit);
  const isDir = await stat(folder).then(
    (s) => s.isDirectory(),
    () => false,
  );
  return isDir ? { path: folder, commit } : null;
}
