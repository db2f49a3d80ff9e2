import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Who holds `locks/<key>.lock`: the file's JSON content.
 * `host` is the pod's hostname (pod name), `token` is unique per acquisition.
 */
export interface LockOwner {
  pid: number;
  host: string;
  token: string;
  acquiredAt: string;
}

/**
 * A lease on one cache entry, held while downloading it.
 *
 * Why a lease file and not flock(2): flock on NFS-backed ReadWriteMany volumes is unreliable (emulated via
 * fcntl or local-only, depending on the client) and mkdir/fcntl libraries (proper-lockfile) keep no owner.
 * The lease is created with O_EXCL (atomic on NFSv3+), carries its owner, and the holder bumps its mtime every
 * `heartbeatMs`. Another process calls it stale when its (mtime, size, content) has not changed for `staleMs`
 * of the observer's own clock (no cross-node clock comparison), or at once when the owner is a dead pid on the
 * same host. A stale lease is broken by renaming it aside; a holder that finds its lease gone or replaced on a
 * heartbeat knows it lost it (`signal` aborts) and must not publish.
 */
export interface HeldLock {
  readonly path: string;
  readonly owner: LockOwner;
  /** aborts when a heartbeat finds the lease taken over */
  readonly signal: AbortSignal;
  /** throws when the lease is no longer ours (call right before publishing) */
  assertHeld(): Promise<void>;
  /** stops the heartbeat and removes the lease if it is still ours */
  release(): Promise<void>;
}

/** Defaults: heartbeat every 5 s, stale after 30 s without one. */
const LOCK_HEARTBEAT_MS = 5_000;
const LOCK_STALE_MS = 30_000;

/** Tokens of the leases this process holds (to tell them from a crashed earlier run that had our pid). */
const heldTokens = new Set<string>();

/**
 * Tries once to create the lease at `lockPath`.
 * @returns the held lock, or null when another process holds it
 */
export async function tryAcquireLock(params: {
  lockPath: string;
  /** @default LOCK_HEARTBEAT_MS */
  heartbeatMs?: number;
}): Promise<HeldLock | null> {
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    token: randomBytes(12).toString('hex'),
    acquiredAt: new Date().toISOString(),
  };
  await mkdir(path.dirname(params.lockPath), { recursive: true });
  let handle;
  try {
    handle = await open(params.lockPath, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw err;
  }
  try {
    await handle.writeFile(JSON.stringify(owner));
    await handle.sync();
  } finally {
    await handle.close();
  }
  return startLease(params.lockPath, owner, params.heartbeatMs ?? LOCK_HEARTBEAT_MS);
}

function startLease(lockPath: string, owner: LockOwner, heartbeatMs: number): HeldLock {
  const lost = new AbortController();
  const isOurs = async (): Promise<boolean> => (await readLockOwner(lockPath))?.token === owner.token;
  const timer = setInterval(() => {
    void (async () => {
      if (!(await isOurs())) return lost.abort(new Error(`lost the cache lock ${lockPath}`));
      const now = new Date();
      await utimes(lockPath, now, now);
    })().catch((err: unknown) => lost.abort(err));
  }, heartbeatMs);
  timer.unref();
  heldTokens.add(owner.token);
  return {
    path: lockPath,
    owner,
    signal: lost.signal,
    async assertHeld() {
      if (lost.signal.aborted || !(await isOurs())) throw new Error(`lost the cache lock ${lockPath}`);
    },
    async release() {
      clearInterval(timer);
      heldTokens.delete(owner.token);
      if (await isOurs()) await unlink(lockPath).catch(() => undefined);
    },
  };
}

/** The owner written in a lease file; null when it is gone or not (yet) readable. */
export async function readLockOwner(lockPath: string): Promise<LockOwner | null> {
  try {
    const parsed = JSON.parse(await readFile(lockPath, 'utf8')) as Partial<LockOwner>;
    if (typeof parsed.token !== 'string' || typeof parsed.pid !== 'number' || typeof parsed.host !== 'string')
      return null;
    return parsed as LockOwner;
  } catch {
    return null;
  }
}

/** What a waiter saw of a lease, to tell a live holder (it changes) from a dead one (it does not). */
export interface LockObservation {
  fingerprint: string;
  owner: LockOwner | null;
  /** observer's clock when this fingerprint was first seen */
  since: number;
}

/**
 * Looks at the lease and says whether it is stale.
 * @returns `{ state: 'free' }` when there is no lease, else the observation to pass back next time
 */
export async function observeLock(params: {
  lockPath: string;
  previous: LockObservation | null;
  /** @default LOCK_STALE_MS */
  staleMs?: number;
  /** injected in tests @default Date.now */
  now?: () => number;
}): Promise<{ state: 'free' } | { state: 'held' | 'stale'; observation: LockObservation }> {
  const now = (params.now ?? Date.now)();
  const info = await stat(params.lockPath).catch(() => null);
  if (info === null) return { state: 'free' };
  const owner = await readLockOwner(params.lockPath);
  const fingerprint = `${info.mtimeMs}:${info.size}:${owner?.token ?? ''}`;
  const since = params.previous?.fingerprint === fingerprint ? params.previous.since : now;
  const observation = { fingerprint, owner, since };
  const stale = now - since >= (params.staleMs ?? LOCK_STALE_MS) || isDeadLocalOwner(owner);
  return { state: stale ? 'stale' : 'held', observation };
}

/** True when `owner` ran on this host and its process is gone (or it is an earlier run with our own pid). */
function isDeadLocalOwner(owner: LockOwner | null): boolean {
  if (owner === null || owner.host !== hostname()) return false;
  // a restarted init container can get the same pid (often 1) as the run that crashed
  if (owner.pid === process.pid) return !heldTokens.has(owner.token);
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Breaks a stale lease that carried `staleToken`: renames it aside (only one breaker wins the rename), and if
 * what was moved turns out to be a fresh lease taken meanwhile, links it back (link never overwrites).
 */
export async function breakStaleLock(params: { lockPath: string; staleToken: string | undefined }): Promise<void> {
  const aside = `${params.lockPath}.stale-${randomBytes(6).toString('hex')}`;
  try {
    await rename(params.lockPath, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = await readLockOwner(aside);
  if (moved !== null && moved.token !== params.staleToken) await link(aside, params.lockPath).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

/**
 * Waits until either `isDone()` holds (someone else completed the work) or this process holds the lease.
 * Polls every `pollMs`, breaking a lease that goes stale.
 * @returns `{ done: true }`, or `{ done: false, lock }` — then do the work, publish, and `release()`
 */
export async function acquireOrWait(params: {
  lockPath: string;
  isDone: () => Promise<boolean>;
  /** @default LOCK_STALE_MS */
  staleMs?: number;
  /** @default LOCK_HEARTBEAT_MS */
  heartbeatMs?: number;
  /** @default 200 */
  pollMs?: number;
  /** called once per new holder seen (log it) */
  onWait?: (owner: LockOwner | null) => void;
  onBreak?: (owner: LockOwner | null) => void;
  signal?: AbortSignal;
}): Promise<{ done: true } | { done: false; lock: HeldLock }> {
  let previous: LockObservation | null = null;
  for (;;) {
    params.signal?.throwIfAborted();
    if (await params.isDone()) return { done: true };
    const lock = await tryAcquireLock(params);
    if (lock !== null) return afterAcquire(lock, params.isDone);
    previous = await watchHolder({ ...params, previous });
    if (previous !== null) await delay(params.pollMs ?? 200, undefined, { signal: params.signal });
  }
}

/**
 * One look at the current holder: reports a new one, breaks a stale one.
 * @returns the observation to wait on, or null to try acquiring again at once
 */
async function watchHolder(params: {
  lockPath: string;
  previous: LockObservation | null;
  staleMs?: number;
  onWait?: (owner: LockOwner | null) => void;
  onBreak?: (owner: LockOwner | null) => void;
}): Promise<LockObservation | null> {
  const seen = await observeLock(params);
  if (seen.state === 'free') return null;
  const owner = seen.observation.owner;
  if (owner?.token !== params.previous?.owner?.token) params.onWait?.(owner);
  if (seen.state === 'held') return seen.observation;
  params.onBreak?.(owner);
  await breakStaleLock({ lockPath: params.lockPath, staleToken: owner?.token });
  return null;
}

/** Someone may have finished between our check and our lock: look again before working. */
async function afterAcquire(
  lock: HeldLock,
  isDone: () => Promise<boolean>,
): Promise<{ done: true } | { done: false; lock: HeldLock }> {
  if (!(await isDone())) return { done: false, lock };
  await lock.release();
  return { done: true };
}
