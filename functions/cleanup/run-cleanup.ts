import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { BYTES_PER_GIB } from '../../shared/disk/byte-units.js';
import type { ListPods } from '../../shared/k8s/list-pods.js';
import type { Logger } from '../../shared/log/create-logger.js';
import { tryAcquireLock } from '../../shared/model-cache/cache-lock.js';
import { cacheDirs, entryPaths } from '../../shared/model-cache/cache-layout.js';
import { readLastUsed } from '../../shared/model-cache/last-used.js';
import { readRegularFile } from '../../shared/model-cache/read-regular-file.js';
import { findEntriesInUse, planEviction, type EvictionDecision } from './plan-eviction.js';
import { scanCache, treeBytes, type SkippedPath } from './scan-cache.js';

/** One entry in the summary. */
export interface EntryReport {
  key: string;
  bytes: number;
  lastUsed: string;
  reason: string;
  uri?: string;
  pods?: string[];
}

/** What a cleanup pass did (or, in dry run, would do): the data of the reply CloudEvent. */
export interface CleanupSummary {
  dryRun: boolean;
  cachePath: string;
  namespace: string;
  ttlDays: number;
  /** MAX_SIZE_GB as given: GiB (2³⁰ bytes); the reply's key keeps the env's name */
  maxSizeGB: number;
  /** removed (dry run: would be removed) */
  removed: EntryReport[];
  kept: EntryReport[];
  skipped: SkippedPath[];
  bytesBefore: number;
  bytesRemoved: number;
  bytesAfter: number;
  /** true when the cache is still above MAX_SIZE_GB (everything left is in use or locked) */
  overLimit: boolean;
  /** leftovers in `tmp/` older than a day (a dead process's download or deletion), removed (dry run: listed) */
  staleTemp: { name: string; bytes: number }[];
  /** dry run only: why the pods could not be asked (what is in use is then unknown) */
  podsUnchecked?: string;
}

/** The cleanup settings (the seed's env). */
export interface CleanupSettings {
  cachePath: string;
  namespace: string;
  ttlDays: number;
  /** MAX_SIZE_GB, in GiB (2³⁰ bytes); 0: no size limit */
  maxSizeGiB: number;
  dryRun: boolean;
}

const DAY_MS = 86_400_000;

/**
 * One cleanup pass over the shared PVC cache:
 * 1. scan `entries/` (symlinks reported, never followed);
 * 2. find what active pods in `namespace` use (their spec, through the API server) and what is locked;
 * 3. decide: TTL first, then least recently used down to MAX_SIZE_GB;
 * 4. unless dry run, remove each chosen entry under its lock: rename into `tmp/`, then delete there;
 *    an entry used or locked since step 2 is kept;
 * 5. remove what a dead process left in `tmp/` more than a day ago (not while its entry's lock exists).
 */
export async function runCleanup(params: {
  settings: CleanupSettings;
  listPods: ListPods;
  log: Logger;
  /** @default () => new Date() */
  now?: () => Date;
}): Promise<CleanupSummary> {
  const { settings, log } = params;
  const now = (params.now ?? (() => new Date()))();
  // 1.
  const { entries, skipped } = await scanCache(settings.cachePath);
  // 2.
  const { pods, podsUnchecked } = await listPodsFor(params);
  const inUse = findEntriesInUse(entries, pods);
  const locked = await lockedKeys(
    settings.cachePath,
    entries.map((e) => e.key),
  );
  // 3.
  const decisions = planEviction({
    entries,
    inUse,
    locked,
    ttlMs: settings.ttlDays * DAY_MS,
    maxBytes: Math.round(settings.maxSizeGiB * BYTES_PER_GIB),
    now,
  });
  // 4.
  const outcomes = settings.dryRun ? decisions : await executeRemovals(settings.cachePath, decisions, log);
  // 5. leftovers of dead processes in tmp/ (the layout allows removing what is older than a day)
  const staleTemp = await sweepTemp({ cacheRoot: settings.cachePath, now, dryRun: settings.dryRun });
  const summary = {
    ...summarize(settings, outcomes, skipped),
    staleTemp,
    ...(podsUnchecked === undefined ? {} : { podsUnchecked }),
  };
  for (const s of skipped) log.warn({ name: s.name, reason: s.reason }, 'left alone in entries/');
  return summary;
}

/**
 * The pods of the namespace. In dry run a cluster that cannot be asked (none configured, unreachable, no
 * NAMESPACE) does not stop the pass: it reports what TTL and size would remove and says pods were not checked.
 * For real, removing without knowing what pods use is never done: the error stops the pass.
 */
async function listPodsFor(params: {
  settings: CleanupSettings;
  listPods: ListPods;
  log: Logger;
}): Promise<{ pods: Awaited<ReturnType<ListPods>>; podsUnchecked?: string }> {
  try {
    if (params.settings.namespace === '') throw new Error('NAMESPACE: not set and not running in a pod');
    return { pods: await params.listPods(params.settings.namespace) };
  } catch (err) {
    if (!params.settings.dryRun) throw err;
    const why = err instanceof Error ? err.message : String(err);
    params.log.warn({ err }, 'dry run without the cluster: pods not checked');
    return { pods: [], podsUnchecked: `${why}: an entry a pod uses would be kept` };
  }
}

async function lockedKeys(cacheRoot: string, keys: readonly string[]): Promise<Set<string>> {
  const locked = new Set<string>();
  for (const key of keys) {
    const info = await lstat(entryPaths(cacheRoot, key).lock).catch(() => null);
    if (info !== null) locked.add(key);
  }
  return locked;
}

async function executeRemovals(
  cacheRoot: string,
  decisions: readonly EvictionDecision[],
  log: Logger,
): Promise<EvictionDecision[]> {
  const out: EvictionDecision[] = [];
  const removedKeys: string[] = [];
  for (const d of decisions) {
    if (d.action !== 'remove') {
      out.push(d);
      continue;
    }
    const outcome = await removeEntry(cacheRoot, d);
    if (outcome.action === 'remove') removedKeys.push(d.entry.key);
    log.info(
      { key: d.entry.key, bytes: d.entry.bytes, reason: outcome.reason, action: outcome.action },
      outcome.action === 'remove' ? 'entry removed' : 'entry kept',
    );
    out.push(outcome);
  }
  await removeRefsTo(cacheRoot, new Set(removedKeys));
  return out;
}

/** Removes one entry under its lock; keeps it if a fetch holds the lock or a pod used it since the scan. */
async function removeEntry(cacheRoot: string, d: EvictionDecision): Promise<EvictionDecision> {
  const paths = entryPaths(cacheRoot, d.entry.key);
  const lock = await tryAcquireLock({ lockPath: paths.lock });
  if (lock === null) return { ...d, action: 'keep', reason: 'locked' };
  try {
    const lastUsed = await readLastUsed(paths.dir);
    if (lastUsed !== null && lastUsed.getTime() > d.entry.lastUsed.getTime())
      return { ...d, action: 'keep', reason: 'recent' };
    const tmp = cacheDirs(cacheRoot).tmp;
    await mkdir(tmp, { recursive: true });
    const aside = path.join(tmp, `${d.entry.key}.evict-${randomBytes(6).toString('hex')}`);
    // one atomic rename takes the entry away from readers; the slow delete happens out of sight
    await rename(paths.dir, aside);
    await rm(aside, { recursive: true, force: true });
    return d;
  } finally {
    await lock.release();
  }
}

/** Deletes `refs/*` files that point at a removed entry (a later fetch would otherwise look for it first). */
async function removeRefsTo(cacheRoot: string, keys: ReadonlySet<string>): Promise<void> {
  if (keys.size === 0) return;
  const refs = cacheDirs(cacheRoot).refs;
  const names = await readdir(refs).catch(() => [] as string[]);
  for (const name of names) {
    const file = path.join(refs, name);
    const key = ((await readRegularFile(file, 4096)) ?? '').trim();
    if (keys.has(key)) await rm(file, { force: true });
  }
}

/** `tmp/` children older than a day whose entry is not locked; removed unless dry run (symlinks: the link only). */
async function sweepTemp(params: {
  cacheRoot: string;
  now: Date;
  dryRun: boolean;
}): Promise<{ name: string; bytes: number }[]> {
  const dirs = cacheDirs(params.cacheRoot);
  const stale: { name: string; bytes: number }[] = [];
  for (const name of await readdir(dirs.tmp).catch(() => [] as string[])) {
    const full = path.join(dirs.tmp, name);
    const info = await lstat(full).catch(() => null);
    if (info === null || params.now.getTime() - info.mtime.getTime() <= DAY_MS) continue;
    const key = name.split('.')[0] ?? '';
    if (await lstat(path.join(dirs.locks, `${key}.lock`)).catch(() => null)) continue;
    // an unreadable or odd leftover counts 0 bytes and, if it cannot be removed, stays for the next pass
    const bytes = info.isDirectory() ? await treeBytes(full).catch(() => 0) : info.isFile() ? info.size : 0;
    stale.push({ name, bytes });
    if (!params.dryRun) await rm(full, { recursive: true, force: true }).catch(() => undefined);
  }
  return stale;
}

function summarize(
  settings: CleanupSettings,
  decisions: readonly EvictionDecision[],
  skipped: SkippedPath[],
): Omit<CleanupSummary, 'staleTemp'> {
  const report = (d: EvictionDecision): EntryReport => ({
    key: d.entry.key,
    bytes: d.entry.bytes,
    lastUsed: d.entry.lastUsed.toISOString(),
    reason: d.reason,
    ...(d.entry.source ? { uri: d.entry.source.uri } : {}),
    ...(d.pods ? { pods: d.pods } : {}),
  });
  const removed = decisions.filter((d) => d.action === 'remove').map(report);
  const kept = decisions.filter((d) => d.action === 'keep').map(report);
  const bytesBefore = decisions.reduce((n, d) => n + d.entry.bytes, 0);
  const bytesRemoved = removed.reduce((n, r) => n + r.bytes, 0);
  const bytesAfter = bytesBefore - bytesRemoved;
  return {
    dryRun: settings.dryRun,
    cachePath: settings.cachePath,
    namespace: settings.namespace,
    ttlDays: settings.ttlDays,
    maxSizeGB: settings.maxSizeGiB,
    removed,
    kept,
    skipped,
    bytesBefore,
    bytesRemoved,
    bytesAfter,
    overLimit: settings.maxSizeGiB > 0 && bytesAfter > settings.maxSizeGiB * BYTES_PER_GIB,
  };
}
