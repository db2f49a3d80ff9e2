import { randomBytes } from 'node:crypto';
import { mkdir, readlink, rename, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import { blobLinkTarget, snapshotFilePath, type RepoCachePaths } from './cache-paths.js';

/**
 * Makes `snapshots/{commit}/{filePath}` a relative symlink to `blobs/{etag}`: created under a temp name in the
 * same folder, then renamed over, so a reader sees either no file or the complete one. Call it only after
 * `blobs/{etag}` is published.
 * @returns true when it created or replaced the link, false when the right link was already there
 */
export async function linkSnapshotFile(params: {
  paths: RepoCachePaths;
  commit: string;
  filePath: string;
  etag: string;
}): Promise<boolean> {
  const linkPath = snapshotFilePath(params.paths, params.commit, params.filePath);
  const target = blobLinkTarget(params.filePath, params.etag);
  if ((await readLinkOrNull(linkPath)) === target) return false;
  await mkdir(path.dirname(linkPath), { recursive: true });
  // The temp name is hidden and unique; the rename makes the swap atomic (no moment without a file).
  const tmp = path.join(
    path.dirname(linkPath),
    `.${path.basename(linkPath)}.modelctl-${randomBytes(6).toString('hex')}.tmp`,
  );
  await symlink(target, tmp);
  try {
    await rename(tmp, linkPath);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return true;
}

/** The target of the symlink at `p`, or null when `p` is missing or not a symlink. */
export async function readLinkOrNull(p: string): Promise<string | null> {
  try {
    return await readlink(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EINVAL' || code === 'ENOTDIR') return null;
    throw err;
  }
}
