import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { refPath, isCommitHash, type RepoCachePaths } from './cache-paths.js';

/**
 * Points `refs/{revision}` at `commit`: exactly the 40 hex characters, no trailing newline (huggingface_hub and
 * TGI read it without strip()). Written to a temp file OUTSIDE `refs/` (scan_cache_dir reads every file under
 * refs/ as a ref) and renamed into place. Does nothing when `revision` is the commit itself.
 * Call it last, once every snapshot link of the commit exists.
 * @returns true when the ref file changed
 */
export async function writeRef(params: { paths: RepoCachePaths; revision: string; commit: string }): Promise<boolean> {
  const { paths, revision, commit } = params;
  if (!isCommitHash(commit)) throw new Error(`not a commit hash: ${commit}`);
  if (revision === commit) return false;
  const target = refPath(paths, revision);
  if ((await readRef(paths, revision)) === commit) return false;
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = path.join(paths.repoDir, `.ref-${randomBytes(6).toString('hex')}.modelctl.tmp`);
  await writeFile(tmp, commit, { flush: true });
  try {
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return true;
}

/** The commit `refs/{revision}` holds, or null when there is no such ref (or it holds no commit hash). */
export async function readRef(paths: RepoCachePaths, revision: string): Promise<string | null> {
  try {
    const value = await readFile(refPath(paths, revision), 'utf8');
    return isCommitHash(value) ? value : null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return null;
    throw err;
  }
}
