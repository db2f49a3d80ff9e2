import { stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { repoCachePaths } from '../../shared/hf-cache/cache-paths.js';
import { evictSnapshot, ownedCommits } from '../../shared/hf-cache/evict-snapshot.js';
import { readJsonOrNull, writeJsonAtomic } from '../../shared/hf-cache/write-json-atomic.js';
import type { Logger } from '../../shared/log/create-logger.js';
import { ledgerRepos } from './evict-unwanted.js';

const LastUsed = z.record(z.string(), z.iso.datetime());
const LAST_USED_FILE = 'last-used.json';

/** `repo@commit`: a snapshot the agent owns. */
export type SnapshotKey = string;

/**
 * Remembers when each snapshot was last served by a Ready pod on this node (state dir `last-used.json`), so
 * eviction under disk pressure can pick the least recently used one. Entries of snapshots in use get `now`.
 */
export async function recordLastUsed(stateDir: string, inUse: ReadonlySet<SnapshotKey>, now: Date): Promise<void> {
  if (inUse.size === 0) return;
  const file = path.join(stateDir, LAST_USED_FILE);
  const parsed = LastUsed.safeParse(await readJsonOrNull(file));
  const lastUsed = parsed.success ? parsed.data : {};
  for (const key of inUse) lastUsed[key] = now.toISOString();
  await writeJsonAtomic(file, lastUsed);
}

/**
 * The order to evict in under disk pressure: snapshots the agent owns that no Ready pod on the node serves, that
 * the current targets do not want (models dropped from the plan, still in their grace period) and that are not
 * `protectedKeys`, least recently used first (a snapshot never served counts from its download). Targeted models
 * are never evicted for one another: two that do not fit together would take turns, downloading every pass. Pure.
 */
export function evictionOrder(params: {
  owned: readonly { key: SnapshotKey; lastUsedMs: number }[];
  inUse: ReadonlySet<SnapshotKey>;
  targeted: ReadonlySet<SnapshotKey>;
  protectedKeys: ReadonlySet<SnapshotKey>;
}): SnapshotKey[] {
  return params.owned
    .filter((s) => !params.inUse.has(s.key) && !params.protectedKeys.has(s.key) && !params.targeted.has(s.key))
    .sort((a, b) => a.lastUsedMs - b.lastUsedMs)
    .map((s) => s.key);
}

/**
 * Frees room for a model the disk guard skipped: evicts the least recently used snapshot the agent owns that no
 * Ready pod on the node uses (see {@link evictionOrder}). The caller retries the model and calls again while it
 * still does not fit.
 * @returns the `repo@commit` evicted, or null when nothing may be evicted
 */
export async function evictOneForSpace(params: {
  cacheDir: string;
  stateDir: string;
  inUse: ReadonlySet<SnapshotKey>;
  targeted: ReadonlySet<SnapshotKey>;
  protectedKeys: ReadonlySet<SnapshotKey>;
  log: Logger;
}): Promise<SnapshotKey | null> {
  const owned = await ownedSnapshots(params.cacheDir, params.stateDir);
  for (const key of evictionOrder({ ...params, owned })) {
    const at = key.lastIndexOf('@');
    const repo = key.slice(0, at);
    const commit = key.slice(at + 1);
    const result = await evictSnapshot({ cacheDir: params.cacheDir, stateDir: params.stateDir, repo, commit });
    if (result.keptBecause) {
      params.log.warn({ repo, commit, reason: result.keptBecause }, 'eviction for space skipped');
      continue;
    }
    params.log.info({ repo, commit, ...result }, 'model evicted for space (least recently used, not served here)');
    return key;
  }
  return null;
}

async function ownedSnapshots(cacheDir: string, stateDir: string): Promise<{ key: SnapshotKey; lastUsedMs: number }[]> {
  const parsed = LastUsed.safeParse(await readJsonOrNull(path.join(stateDir, LAST_USED_FILE)));
  const lastUsed = parsed.success ? parsed.data : {};
  const out: { key: SnapshotKey; lastUsedMs: number }[] = [];
  for (const repo of await ledgerRepos(stateDir)) {
    for (const commit of await ownedCommits(stateDir, repo)) {
      const key = `${repo}@${commit}`;
      const used = lastUsed[key];
      const downloaded = await stat(path.join(repoCachePaths(cacheDir, repo).snapshotsDir, commit)).then(
        (s) => s.mtimeMs,
        () => 0,
      );
      out.push({ key, lastUsedMs: used === undefined ? downloaded : Math.max(Date.parse(used), downloaded) });
    }
  }
  return out;
}
