import { describe, expect, it } from '@jest/globals';
import { tmpdir } from 'node:os';
import { checkFreeSpace } from './check-free-space.js';
import { formatBytes } from './format-bytes.js';

describe('checkFreeSpace', () => {
  it('lets a small model through and stops one larger than the disk with NO_SPACE', async () => {
    await expect(
      checkFreeSpace({ dir: tmpdir(), bytes: 1024, what: 'version 1 of model "m"' }),
    ).resolves.toBeUndefined();
    await expect(
      checkFreeSpace({ dir: tmpdir(), bytes: 2 ** 60, what: 'version 1 of model "m"' }),
    ).rejects.toMatchObject({
      code: 'NO_SPACE',
      message: expect.stringMatching(/version 1 of model "m" needs 1048576\.0 TiB but .* free/),
    });
  });
});

describe('formatBytes', () => {
  it('uses binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
  });
});
