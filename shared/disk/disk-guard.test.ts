import { describe, expect, it } from '@jest/globals';
import { DiskGuard } from './disk-guard.js';

describe('DiskGuard', () => {
  it('refuses a write that would leave less than the minimum free', async () => {
    const guard = new DiskGuard({ dir: '/x', minFreeBytes: 100, freeBytes: async () => 150 });
    await expect(guard.reserve(60)).rejects.toMatchObject({ code: 'NO_SPACE' });
    await expect(guard.reserve(50)).resolves.toBeInstanceOf(Function);
  });

  it('counts writes still in flight, so concurrent writers cannot overshoot together', async () => {
    const guard = new DiskGuard({ dir: '/x', minFreeBytes: 100, freeBytes: async () => 200 });
    const done = await guard.reserve(60);
    // the first 60 bytes are not written yet: statfs still says 200, but only 40 may follow
    await expect(guard.reserve(50)).rejects.toMatchObject({ code: 'NO_SPACE' });
    await expect(guard.reserve(40)).resolves.toBeInstanceOf(Function);
    done();
  });

  it('sees another writer filling the disk at the next write', async () => {
    let free = 1000;
    const guard = new DiskGuard({ dir: '/x', minFreeBytes: 100, freeBytes: async () => free });
    (await guard.reserve(100))();
    free = 150;
    await expect(guard.reserve(100)).rejects.toMatchObject({ code: 'NO_SPACE' });
  });

  it('assertFits checks a whole model before it starts', async () => {
    const guard = new DiskGuard({ dir: '/x', minFreeBytes: 100, freeBytes: async () => 500 });
    await expect(guard.assertFits(400)).resolves.toBeUndefined();
    await expect(guard.assertFits(401)).rejects.toThrow(/not enough disk space/);
  });
});
