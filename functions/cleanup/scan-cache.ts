import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { cacheDirs, entryPaths, isEntryKey } from '../../shared/model-cache/cache-layout.js';
import { readLastUsed } from '../../shared/model-cache/last-used.js';
import { readManifest } from '../../shared/model-cache/manifest.js';

/** One folder under `entries/`, as cleanup sees it. */
export interface ScannedEntry {
  key: string;
  dir: string;
  /** bytes of every regular file under the entry (symlinks counted as links, never followed) */
  bytes: number;
  /** last use (the `last-used` mtime, else the manifest's, else the folder's) */
  lastUsed: Date;
  /** what the entry holds, from its manifest (null: no valid manifest, an incomplete or corrupt entry) */
  source: { uri: string; resolved: string; name?: string | undefined; version?: string | undefined } | null;
}

/** Something under `entries/` that cleanup leaves alone, and why. */
export interface SkippedPath {
  name: string;
  /** `unreadable`: a folder or file cleanup may not read; `odd-file`: a FIFO, socket or device inside an entry */
  reason: 'symlink-not-followed' | 'not-an-entry' | 'unreadable' | 'odd-file';
  /** what was found, for the unreadable and odd cases (`EACCES on model`, `FIFO manifest.json`) */
  detail?: string;
}

/**
 * Lists the entries of the shared cache at `cacheRoot` (the fetch role's layout, shared/model-cache/).
 * Reads only below `cacheRoot`: a symlink in place of an entry (or of `entries/` itself) is reported, not followed.
 * @throws Error when `entries/`, `locks/`, `refs/` or `tmp/` is a symlink (its target may be outside the cache)
 */
export async function scanCache(cacheRoot: string): Promise<{ entries: ScannedEntry[]; skipped: SkippedPath[] }> {
  await assertNoSymlinkedFolders(cacheRoot);
  const entriesDir = cacheDirs(cacheRoot).entries;
  const top = await lstat(entriesDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (top === null) return { entries: [], skipped: [] };
  const entries: ScannedEntry[] = [];
  const skipped: SkippedPath[] = [];
  for (const name of (await readdir(entriesDir)).sort()) {
    const info = await lstat(path.join(entriesDir, name)).catch(() => null);
    if (info === null) continue; // removed meanwhile
    if (info.isSymbolicLink()) skipped.push({ name, reason: 'symlink-not-followed' });
    else if (!info.isDirectory() || !isEntryKey(name)) skipped.push({ name, reason: 'not-an-entry' });
    else {
      // one odd entry is reported and skipped; the rest of the pass goes on (issue 14)
      const described = await describeEntry(cacheRoot, name, info.mtime).catch((err: unknown) => oddEntry(name, err));
      if ('reason' in described) skipped.push(described);
      else entries.push(described);
    }
  }
  return { entries, skipped };
}

/** Something inside an entry that cleanup will not touch: not a folder, regular file or symlink. */
class OddFileError extends Error {}

function oddEntry(name: string, err: unknown): SkippedPath {
  if (err instanceof OddFileError) return { name, reason: 'odd-file', detail: err.message };
  const code = (err as NodeJS.ErrnoException).code;
  if (code === undefined) throw err;
  const where = (err as NodeJS.ErrnoException).path;
  return { name, reason: 'unreadable', detail: `${code}${where ? ` on ${where}` : ''}` };
}

/**
 * Cleanup reads `entries/` and `refs/`, writes locks in `locks/` and moves entries into `tmp/`: if any of them
 * is a symlink, it could reach outside the cache, so the pass stops.
 * @throws Error naming the folder
 */
async function assertNoSymlinkedFolders(cacheRoot: string): Promise<void> {
  for (const dir of Object.values(cacheDirs(cacheRoot))) {
    const info = await lstat(dir).catch(() => null);
    if (info?.isSymbolicLink()) throw new Error(`${dir} is a symlink: refusing to follow it out of the cache`);
  }
}

async function describeEntry(cacheRoot: string, key: string, dirMtime: Date): Promise<ScannedEntry> {
  const { dir } = entryPaths(cacheRoot, key);
  const bytes = await treeBytes(dir);
  const manifest = await readManifest(dir);
  return {
    key,
    dir,
    bytes,
    lastUsed: (await readLastUsed(dir)) ?? dirMtime,
    source: manifest
      ? {
          uri: manifest.source.uri,
          resolved: manifest.source.resolved,
          name: manifest.source.name,
          version: manifest.source.version,
        }
      : null,
  };
}

/**
 * Sum of regular file sizes under `dir`, walking with lstat (symlinks are not followed, never read).
 * @throws OddFileError at a FIFO, socket or device (no cache writer makes one); an errno error when unreadable
 */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  const pending = [dir];
  for (let current = pending.pop(); current !== undefined; current = pending.pop()) {
    for (const item of await readdir(current, { withFileTypes: true })) {
      const full = path.join(current, item.name);
      if (item.isDirectory()) pending.push(full);
      else if (item.isFile()) total += (await lstat(full)).size;
      else if (!item.isSymbolicLink()) throw new OddFileError(`${kindOf(item)} ${path.relative(dir, full)}`);
    }
  }
  return total;
}

function kindOf(item: { isFIFO: () => boolean; isSocket: () => boolean }): string {
  if (item.isFIFO()) return 'FIFO';
  return item.isSocket() ? 'socket' : 'device';
}
