import { open, stat, utimes } from 'node:fs/promises';
import { ENTRY_LAST_USED } from './cache-layout.js';
import path from 'node:path';

/**
 * Records that entry `entryDir` was just used: sets the mtime of `<entryDir>/last-used` (creating the empty
 * file when missing). Cleanup evicts by this time; an mtime update is one metadata write, cheap on NFS.
 */
export async function touchLastUsed(entryDir: string, now: Date = new Date()): Promise<void> {
  const file = path.join(entryDir, ENTRY_LAST_USED);
  try {
    await utimes(file, now, now);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await (await open(file, 'a')).close();
    await utimes(file, now, now);
  }
}

/**
 * When entry `entryDir` was last used: the mtime of `last-used`, else (never recorded) the mtime of its
 * `manifest.json`; null when neither exists.
 */
export async function readLastUsed(entryDir: string): Promise<Date | null> {
  for (const name of [ENTRY_LAST_USED, 'manifest.json']) {
    const info = await stat(path.join(entryDir, name)).catch(() => null);
    if (info !== null) return info.mtime;
  }
  return null;
}
