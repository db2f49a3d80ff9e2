import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readlink, rename, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import { blobLinkTarget, snapshotFilePath, type RepoCachePaths } from './cache-paths.js';

/**
 * Makes `snapshots/{commit}/{filePath}` a relative symlink to `blobs/{etag}`, so a reader sees either no file or the
 * complete one: made in place when the path is free, else under a temp name in the same folder and renamed over.
 * Call it only after `blobs/{etag}` is published.
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
  const current = await readLinkOrNull(linkPath);
  if (current === target) return false;
  await mkdir(path.dirname(linkPath), { recursive: true });
  // Nothing there yet: the link is made in place (symlink is atomic), so a kill leaves nothing half-made behind.
  if (current === null) {
    if (await symlinkUnlessExists(target, linkPath)) return true;
    if ((await readLinkOrNull(linkPath)) === target) return false; // another process made it meanwhile
  }
  // Replacing another entry: under a hidden, unique temp name, then renamed over, so a reader never sees the
  // path missing. A kill between the two leaves the temp name: removeStaleTempLinks clears it on a later pass.
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

/** symlink(target, p); false when `p` exists (a regular file, or a link another process has just made). */
async function symlinkUnlessExists(target: string, p: string): Promise<boolean> {
  try {
    await symlink(target, p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
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

/** The name `linkSnapshotFile` gives a link before renaming it into place. */
const TEMP_LINK_NAME = /^\..+\.modelctl-[0-9a-f]{12}\.tmp$/;
/**
 * A temp link lives for one symlink-to-rename gap; one older than this was left by a process killed in that gap
 * (another process linking the same snapshot right now, on a shared PVC cache, has younger ones).
 */
const STALE_TEMP_LINK_MS = 60_000;

/**
 * Removes the temp links that killed processes left in `snapshotDir` (any depth): huggingface_hub lists every
 * entry of a snapshot folder as a file of the model. Symlinks only; anything else with such a name is left alone.
 * @returns how many it removed
 */
export async function removeStaleTempLinks(snapshotDir: string, now = Date.now()): Promise<number> {
  const names = await readdir(snapshotDir, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  let removed = 0;
  for (const name of names.filter((n) => TEMP_LINK_NAME.test(path.basename(n)))) {
    const p = path.join(snapshotDir, name);
    const st = await lstat(p).catch(() => null);
    if (!st?.isSymbolicLink() || now - st.mtimeMs < STALE_TEMP_LINK_MS) continue;
    await unlink(p).catch(() => undefined);
    removed += 1;
  }
  return removed;
}
