import { describe, expect, it } from '@jest/globals';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tryFileLock, withFileLock } from './with-file-lock.js';

describe('withFileLock', () => {
  it('lets one holder in at a time (flock(2), as Python filelock takes it)', async () => {
    const lockPath = path.join(await mkdtemp(path.join(tmpdir(), 'lock-')), 'x', 'e.lock');
    const order: string[] = [];
    let release!: () => void;
    const first = withFileLock({ lockPath }, async () => {
      order.push('first in');
      await new Promise<void>((r) => (release = r));
      order.push('first out');
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(await tryFileLock(lockPath)).toBeNull();
    const second = withFileLock({ lockPath, pollMs: 5 }, async () => void order.push('second in'));
    await new Promise((r) => setTimeout(r, 30));
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first in', 'first out', 'second in']);
    const again = await tryFileLock(lockPath);
    expect(again).not.toBeNull();
    await again!();
  });
});
