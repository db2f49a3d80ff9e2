import { describe, expect, it } from '@jest/globals';
import { lutimes, mkdir, mkdtemp, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoCachePaths } from './cache-paths.js';
import { linkSnapshotFile, removeStaleTempLinks } from './link-snapshot-file.js';

const COMMIT = 'c'.repeat(40);

async function snapshot() {
  const paths = repoCachePaths(await mkdtemp(path.join(tmpdir(), 'link-')), 'o/n');
  return { paths, dir: path.join(paths.snapshotsDir, COMMIT) };
}

describe('linkSnapshotFile', () => {
  it('makes a new link in place and replaces a wrong one, leaving no temp name behind', async () => {
    const { paths, dir } = await snapshot();
    expect(await linkSnapshotFile({ paths, commit: COMMIT, filePath: 'sub/w.bin', etag: 'e1' })).toBe(true);
    expect(await readlink(path.join(dir, 'sub', 'w.bin'))).toBe('../../../blobs/e1');
    expect(await linkSnapshotFile({ paths, commit: COMMIT, filePath: 'sub/w.bin', etag: 'e1' })).toBe(false);
    expect(await linkSnapshotFile({ paths, commit: COMMIT, filePath: 'sub/w.bin', etag: 'e2' })).toBe(true);
    expect(await readlink(path.join(dir, 'sub', 'w.bin'))).toBe('../../../blobs/e2');
    expect(await readdir(dir, { recursive: true })).toEqual(['sub', 'sub/w.bin']);
  });
});

describe('removeStaleTempLinks', () => {
  it('removes the temp links a killed process left, at any depth, and nothing else', async () => {
    const { dir } = await snapshot();
    await mkdir(path.join(dir, 'sub'), { recursive: true });
    const old = (Date.now() - 120_000) / 1000;
    const stale = ['.config.json.modelctl-0123456789ab.tmp', 'sub/.w.bin.modelctl-ba9876543210.tmp'];
    for (const name of stale) {
      await symlink('../../blobs/x', path.join(dir, name));
      await lutimes(path.join(dir, name), old, old);
    }
    // a link another process is about to rename (young), a regular file with such a name, the model's own files
    await symlink('../../blobs/y', path.join(dir, '.tokenizer.json.modelctl-aaaaaaaaaaaa.tmp'));
    await writeFile(path.join(dir, '.notes.modelctl-bbbbbbbbbbbb.tmp'), 'user data');
    await lutimes(path.join(dir, '.notes.modelctl-bbbbbbbbbbbb.tmp'), old, old);
    await symlink('../../blobs/z', path.join(dir, 'config.json'));
    await lutimes(path.join(dir, 'config.json'), old, old);

    expect(await removeStaleTempLinks(dir)).toBe(2);
    expect((await readdir(dir, { recursive: true })).sort()).toEqual([
      '.notes.modelctl-bbbbbbbbbbbb.tmp',
      '.tokenizer.json.modelctl-aaaaaaaaaaaa.tmp',
      'config.json',
      'sub',
    ]);
  });

  it('is a no-op for a snapshot folder that does not exist yet', async () => {
    const { dir } = await snapshot();
    expect(await removeStaleTempLinks(dir)).toBe(0);
  });
});
