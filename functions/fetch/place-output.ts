import { randomBytes } from 'node:crypto';
import { lstat, readdir, readlink, rename, rm, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';

/** The model folder inside OUTPUT_PATH (`MODEL_LOCAL_PATH=$OUTPUT_PATH/model`, or `$OUTPUT_PATH`: see below). */
export const OUTPUT_MODEL_DIR = 'model';

/** Temp names of links being placed in OUTPUT_PATH; a killed run's leftovers are removed by the next. */
export const LINK_TEMP_PREFIX = '.modelctl-link-';

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

/**
 * Makes OUTPUT_PATH itself show the model too, so `MODEL_LOCAL_PATH=$OUTPUT_PATH` works (OUTPUT_PATH is the
 * volume's mount point: it cannot be renamed or replaced by a symlink). Each top-level name of
 * `OUTPUT_PATH/model` gets a relative link `OUTPUT_PATH/<name>` → `model/<name>` (temp name + rename), and
 * links left by an earlier model are removed. The links go through `OUTPUT_PATH/model`, so they switch with it.
 * @returns names that could not be linked because something else (not our link) is in the way
 */
export async function linkModelIntoOutput(outputPath: string): Promise<string[]> {
  const names = (await readdir(path.join(outputPath, OUTPUT_MODEL_DIR))).filter((n) => n !== OUTPUT_MODEL_DIR);
  const blocked: string[] = [];
  for (const name of names) {
    if (!(await placeLink(outputPath, name))) blocked.push(name);
  }
  const wanted = new Set(names);
  for (const name of await readdir(outputPath)) {
    if (name === OUTPUT_MODEL_DIR || wanted.has(name)) continue;
    if (isOurLink(await readlink(path.join(outputPath, name)).catch(() => null)))
      await unlink(path.join(outputPath, name));
  }
  return blocked;
}

async function placeLink(outputPath: string, name: string): Promise<boolean> {
  const link = path.join(outputPath, name);
  const target = `${OUTPUT_MODEL_DIR}/${name}`;
  const existing = await lstat(link).catch(() => null);
  if (existing !== null && !existing.isSymbolicLink()) return false;
  if (existing !== null && (await readlink(link)) === target) return true;
  const temp = path.join(outputPath, `${LINK_TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
  await symlink(target, temp);
  await rename(temp, link);
  return true;
}

function isOurLink(target: string | null): boolean {
  return (
    target !== null &&
    target.startsWith(`${OUTPUT_MODEL_DIR}/`) &&
    !target.slice(OUTPUT_MODEL_DIR.length + 1).includes('/')
  );
}
