import { randomBytes } from 'node:crypto';
import { readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';

/** The model folder inside OUTPUT_PATH that serve reads (`MODEL_LOCAL_PATH=$OUTPUT_PATH/model`). */
export const OUTPUT_MODEL_DIR = 'model';

/** A unique name beside `target` for staging it (same folder, so rename stays atomic). */
export function stagingName(target: string, tag: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${tag}-${randomBytes(6).toString('hex')}`);
}

/**
 * Puts the finished folder `staged` at `target` by rename. An existing `target` (an earlier run) is first
 * renamed aside and removed afterwards, so `target` is either the old complete model or the new one.
 */
export async function publishDirectory(staged: string, target: string): Promise<void> {
  const old = stagingName(target, 'old');
  const hadOld = await rename(target, old).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    },
  );
  await rename(staged, target);
  if (hadOld) await rm(old, { recursive: true, force: true });
}

/**
 * Makes `link` a symlink to `target`, atomically: a symlink made under a temp name replaces `link` by rename
 * (rename over a symlink or a missing path is atomic; over a real folder it fails, so that case is cleared).
 */
export async function publishSymlink(target: string, link: string): Promise<void> {
  if ((await readlink(link).catch(() => null)) === target) return;
  const temp = stagingName(link, 'link');
  await symlink(target, temp, 'dir');
  try {
    await rename(temp, link);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EISDIR' && (err as NodeJS.ErrnoException).code !== 'ENOTEMPTY')
      throw err;
    // an emptydir run left a real folder here: set it aside, then the rename is atomic again
    const old = stagingName(link, 'old');
    await rename(link, old);
    await rename(temp, link);
    await rm(old, { recursive: true, force: true });
  }
}
