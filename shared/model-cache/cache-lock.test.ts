import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { acquireOrWait, breakStaleLock, observeLock, readLockOwner, tryAcquireLock } from './cache-lock.js';

async function tempLockPath(): Promise<{ lockPath: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'modelctl-lock-'));
  return { lockPath: path.join(dir, 'locks', 'k.lock'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

describe('tryAcquireLock', () => {
  it('lets one holder in and turns the second away until release', async () => {
    const { lockPath, cleanup } = await tempLockPath();
    const first = await tryAcquireLock({ lockPath });
    expect(first).not.toBeNull();
    expect(await tryAcquireLock({ lockPath })).toBeNull();
    expect(await readLockOwner(lockPath)).toMatchObject({
      pid: process.pid,
      host: hostname(),
      token: first!.owner.token,
    });
    await first!.release();
    const second = await tryAcquireLock({ lockPath });
    expect(second).not.toBeNull();
    await second!.release();
    await cleanup();
  });

  it('notices on the next heartbeat that its lease was taken over', async () => {
    const { lockPath, cleanup } = await tempLockPath();
    const lock = (await tryAcquireLock({ lockPath, heartbeatMs: 20 }))!;
    await writeFile(lockPath, JSON.stringify({ pid: 1, host: 'other', token: 'someone-else', acquiredAt: '' }));
    await new Promise((r) => setTimeout(r, 80));
    expect(lock.signal.aborted).toBe(true);
    await expect(lock.assertHeld()).rejects.toThrow(/lost the cache lock/);
    await lock.release();
    // release leaves the other holder's lease alone
    expect((await readLockOwner(lockPath))?.token).toBe('someone-else');
    await cleanup();
  });
});

describe('observeLock', () => {
  it('calls a lease stale only after it stayed unchanged for staleMs', async () => {
    const { lockPath, cleanup } = await tempLockPath();
    const lock = (await tryAcquireLock({ lockPath, heartbeatMs: 60_000 }))!;
    // pretend the holder runs elsewhere, so the pid check does not apply
    await writeFile(lockPath, JSON.stringify({ ...lock.owner, host: 'another-pod' }));
    let t = 1000;
    const first = await observeLock({ lockPath, previous: null, staleMs: 500, now: () => t });
    expect(first.state).toBe('held');
    t = 1400;
    const second = await observeLock({
      lockPath,
      previous: first.state === 'free' ? null : first.observation,
      staleMs: 500,
      now: () => t,
    });
    expect(second.state).toBe('held');
    t = 1600;
    const third = await observeLock({
      lockPath,
      previous: second.state === 'free' ? null : second.observation,
      staleMs: 500,
      now: () => t,
    });
    expect(third.state).toBe('stale');
    await lock.release();
    await cleanup();
  });

  it('calls a lease of a dead process on this host stale at once', async () => {
    const { lockPath, cleanup } = await tempLockPath();
    const child = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => child.once('exit', r));
    await tryAcquireLock({ lockPath }).then((l) => l?.release());
    await writeFile(lockPath, JSON.stringify({ pid: child.pid, host: hostname(), token: 'dead', acquiredAt: '' }));
    const seen = await observeLock({ lockPath, previous: null, staleMs: 60_000 });
    expect(seen.state).toBe('stale');
    await cleanup();
  });
});

describe('breakStaleLock', () => {
  it('puts back a fresh lease that replaced the stale one', async () => {
    const { lockPath, cleanup } = await tempLockPath();
    const fresh = (await tryAcquireLock({ lockPath }))!;
    await breakStaleLock({ lockPath, staleToken: 'an-older-token' });
    expect((await readLockOwner(lockPath))?.token).toBe(fresh.owner.token);
    await breakStaleLock({ lockPath, staleToken: fresh.owner.token });
    await expect(readFile(lockPath)).rejects.toMatchObject({ code: 'ENOENT' });
    await fresh.release();
    await cleanup();
  });
});

describe('acquireOrWait', () => {
  it('returns done without locking when the work is already there', async () => {
    const { lockPath, cleanup } = await tempLockPath();
    await expect(acquireOrWait({ lockPath, isDone: async () => true })).resolves.toEqual({ done: true });
    await cleanup();
  });

  it('waits for the holder and reports done once it published', async () => {
    const { lockPath, cleanup } = await tempLockPath();
    let published = false;
    const holder = (await tryAcquireLock({ lockPath }))!;
    setTimeout(() => {
      published = true;
      void holder.release();
    }, 100);
    await expect(acquireOrWait({ lockPath, isDone: async () => published, pollMs: 10 })).resolves.toEqual({
      done: true,
    });
    await cleanup();
  });

  it('takes over from a holder that stopped heart-beating', async () => {
    const { lockPath, cleanup } = await tempLockPath();
    await tryAcquireLock({ lockPath }).then((l) => l?.release());
    await writeFile(lockPath, JSON.stringify({ pid: 4242, host: 'crashed-pod', token: 'old', acquiredAt: '' }));
    const broken: unknown[] = [];
    const started = Date.now();
    const result = await acquireOrWait({
      lockPath,
      isDone: async () => false,
      pollMs: 10,
      staleMs: 150,
      onBreak: (o) => broken.push(o),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(result.done).toBe(false);
    expect(broken).toEqual([expect.objectContaining({ token: 'old' })]);
    if (!result.done) await result.lock.release();
    await cleanup();
  });
});
