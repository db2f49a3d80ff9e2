import path from 'node:path';
import type { RepoCachePaths } from './cache-paths.js';
import { readJsonOrNull, writeJsonAtomic } from './write-json-atomic.js';

/**
 * Writes `trees/{commit}.json` in huggingface_hub's format (`format_version` 1), which its
 * `snapshot_download(local_files_only=True)` uses to refuse an incomplete snapshot. Call it only when `files`
 * is EVERY file of the commit: a listing of more files than the snapshot holds would make those calls fail.
 * An existing listing (e.g. huggingface_hub's own) is left as it is.
 */
export async function writeTreeCache(params: {
  paths: RepoCachePaths;
  commit: string;
  files: readonly { path: string; size: number; blobId: string; etag: string; isLfs: boolean }[];
}): Promise<void> {
  const file = path.join(params.paths.repoDir, 'trees', `${params.commit}.json`);
  if ((await readJsonOrNull(file)) !== null) return;
  const entries: Record<string, Record<string, unknown>> = {};
  for (const f of [...params.files].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    entries[f.path] = f.isLfs
      ? { size: f.size, blob_id: f.blobId, lfs_sha256: f.etag, lfs_size: f.size }
      : { size: f.size, blob_id: f.blobId };
  }
  await writeJsonAtomic(file, { format_version: 1, files: entries });
}
