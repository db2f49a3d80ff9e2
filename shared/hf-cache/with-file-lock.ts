import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import fsExt from 'fs-ext-extra-prebuilt';

/**
 * Runs `fn` while holding an exclusive flock(2) on `lockPath` (created if missing), the lock huggingface_hub's
 * `filelock` takes on `.locks/models--org--name/{etag}.lock`: both sides then never download the same blob at once.
 * Polls a non-blocking `LOCK_EX|LOCK_NB` like `filelock` does, so no libuv thread sits blocked in flock().
 * The lock file is never deleted: unlinking a lock file another process is about to flock breaks mutual exclusion.
 * @throws the abort reason when `signal` aborts while waiting
 */
export async function withFileLock<T>(
  params: {
    lockPath: string;
    /** @default 50 (filelock's poll interval) */
    pollMs?: number;
    signal?: AbortSignal;
  },
  fn: () => Promise<T>,
): Promise<T> {
  await mkdir(path.dirname(params.lockPath), { recursive: true });
  const handle = await open(params.lockPath, 'a');
  try {
    await acquire(handle.fd, params.pollMs ?? 50, params.signal);
    try {
      return await fn();
    } finally {
      fsExt.flockSync(handle.fd, 'un');
    }
  } finally {
    await handle.close();
  }
}

/**
 * Tries the lock once without waiting.
 * @returns a release function, or null when another process holds it
 */
export async function tryFileLock(lockPath: string): Promise<(() => Promise<void>) | null> {
  await mkdir(path.dirname(lockPath), { recursive: true });
  const handle = await open(lockPath, 'a');
  if (!tryFlock(handle.fd)) {
    await handle.close();
    return null;
  }
  return async () => {
    fsExt.flockSync(handle.fd, 'un');
    await handle.close();
  };
}

async function acquire(fd: number, pollMs: number, signal: AbortSignal | undefined): Promise<void> {
  for (;;) {
    signal?.throwIfAborted();
    if (tryFlock(fd)) return;
    await delay(pollMs, undefined, signal ? { signal } : {});
  }
}

function tryFlock(fd: number): boolean {
  try {
    fsExt.flockSync(fd, 'exnb');
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return false;
    throw err;
  }
}
