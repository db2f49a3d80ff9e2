import { readdir, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import {
  blobLockPath,
  blobPath,
  isCommitHash,
  repoCachePaths,
  snapshotDir,
  snapshotFilePath,
  type RepoCachePaths,
} from './cache-paths.js';
import { readLinkOrNull } from './link-snapshot-file.js';
import { withFileLock } from './with-file-lock.js';
import { readLedger, updateLedger } from './write-ledger.js';
import { readRef } from './write-ref.js';

/** What an eviction removed, or why it kept the snapshot. */
export interface EvictionResult {
  refs: string[];
  links: number;
  blobs: number;
  /** set when nothing was removed on purpose */
  keptBecause?: string;
}

/**
 * Deletes what the agent wrote for `repo` at `commit`, in the order that never shows a broken cache to
 * huggingface_hub's `scan_cache_dir`: refs first, then snapshot links, then blobs no remaining link uses
 * (each under its etag's flock, re-checked there). Only entries in the agent's ledger are touched: a pod's
 * own downloads into the same cache stay, and a commit that a ref the agent did not write points to is kept.
 */
export async function evictSnapshot(params: {
  cacheDir: string;
  stateDir: string;
  repo: string;
  commit: string;
}): Promise<EvictionResult> {
  const { stateDir, repo, commit } = params;
  if (!isCommitHash(commit)) throw new Error(`evictSnapshot needs a commit hash, got ${commit}`);
  const paths = repoCachePaths(params.cacheDir, repo);
  const ledger = await readLedger(stateDir, repo);
  // 1. refs we wrote that still point at the commit; a foreign ref to it means someone still uses it
  const refs: string[] = [];
  for (const revision of ledger.refs) if ((await readRef(paths, revision)) === commit) refs.push(revision);
  const foreign = (await allRefs(paths)).filter((r) => r.commit === commit && !ledger.refs.includes(r.name));
  if (foreign.length > 0)
    return {
      refs: [],
      links: 0,
      blobs: 0,
      keptBecause: `ref ${foreign[0]!.name} (not written by the agent) points to it`,
    };
  for (const revision of refs) await unlink(path.join(paths.refsDir, ...revision.split('/'))).catch(() => undefined);
  await updateLedger(stateDir, repo, (l) => void (l.refs = l.refs.filter((r) => !refs.includes(r))));
  // 2. our snapshot links of the commit, then empty folders
  const prefix = `${commit}/`;
  const links = ledger.links.filter((l) => l.startsWith(prefix));
  for (const link of links)
    await unlink(snapshotFilePath(paths, commit, link.slice(prefix.length))).catch(() => undefined);
  await updateLedger(stateDir, repo, (l) => void (l.links = l.links.filter((x) => !links.includes(x))));
  const snapshotGone = await removeEmptyDirs(snapshotDir(paths, commit));
  if (snapshotGone) await unlink(path.join(paths.repoDir, 'trees', `${commit}.json`)).catch(() => undefined);
  // 3. our blobs no remaining snapshot link uses
  const blobs = await removeUnusedBlobs(paths, stateDir, ledger.blobs);
  await removeEmptyRepo(paths);
  return { refs, links: links.length, blobs };
}

/** Commits the agent has snapshot links for in `repo` (candidates for eviction). */
export async function ownedCommits(stateDir: string, repo: string): Promise<string[]> {
  const ledger = await readLedger(stateDir, repo);
  return [...new Set(ledger.links.map((l) => l.slice(0, l.indexOf('/'))))].filter(isCommitHash);
}

async function removeUnusedBlobs(paths: RepoCachePaths, stateDir: string, owned: readonly string[]): Promise<number> {
  let removed = 0;
  for (const etag of owned) {
    const gone = await withFileLock({ lockPath: blobLockPath(paths, etag) }, async () => {
      // re-checked under the lock: huggingface_hub links an existing blob while holding the same lock
      if ((await linkedEtags(paths)).has(etag)) return false;
      await unlink(blobPath(paths, etag)).catch(() => undefined);
      return true;
    });
    if (gone) {
      removed++;
      await updateLedger(stateDir, paths.repo, (l) => void (l.blobs = l.blobs.filter((b) => b !== etag)));
    }
  }
  return removed;
}

/** Every blob name some snapshot symlink of the repo points to. */
async function linkedEtags(paths: RepoCachePaths): Promise<Set<string>> {
  const etags = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(p);
      else if (entry.isSymbolicLink()) {
        const target = await readLinkOrNull(p);
        if (target !== null) etags.add(path.basename(target));
      }
    }
  };
  await walk(paths.snapshotsDir);
  return etags;
}

/** Every ref file of the repo (`refs/main`, `refs/pr/1`) and its commit. */
async function allRefs(paths: RepoCachePaths): Promise<{ name: string; commit: string | null }[]> {
  const out: { name: string; commit: string | null }[] = [];
  const entries = await readdir(paths.refsDir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile()) continue;
    const name = path.relative(paths.refsDir, path.join(e.parentPath, e.name)).split(path.sep).join('/');
    out.push({ name, commit: await readRef(paths, name).catch(() => null) });
  }
  return out;
}

/** Removes `dir` and its sub-folders when they hold no file. @returns true when `dir` is gone */
async function removeEmptyDirs(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => null);
  if (entries === null) return true;
  for (const e of entries) if (e.isDirectory()) await removeEmptyDirs(path.join(dir, e.name));
  return rmdir(dir).then(
    () => true,
    () => false,
  );
}

/** Removes the repo folder when no snapshot, blob or ref is left (an empty `snapshots/` beside files would look corrupt). */
async function removeEmptyRepo(paths: RepoCachePaths): Promise<void> {
  const snapshots = await readdir(paths.snapshotsDir).catch(() => []);
  const blobs = await readdir(paths.blobsDir).catch(() => []);
  if (snapshots.length > 0 || blobs.length > 0) return;
  await removeEmptyDirs(paths.refsDir);
  await removeEmptyDirs(path.join(paths.repoDir, 'trees'));
  for (const d of [paths.snapshotsDir, paths.blobsDir]) await rmdir(d).catch(() => undefined);
  await rmdir(paths.repoDir).catch(() => undefined);
}
