import { describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { entryKey, entryPaths } from '../../shared/model-cache/cache-layout.js';
import { scanCache, treeBytes } from './scan-cache.js';

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'modelctl-scan-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('scanCache', () => {
  it('stops when tmp/ is a symlink out of the cache', async () => {
    await withDir(async (dir) => {
      const root = path.join(dir, 'cache');
      await mkdir(path.join(root, 'entries'), { recursive: true });
      await mkdir(path.join(dir, 'elsewhere'));
      await symlink(path.join(dir, 'elsewhere'), path.join(root, 'tmp'));
      await expect(scanCache(root)).rejects.toThrow(/tmp is a symlink: refusing to follow it out of the cache/);
    });
  });

  it('reports odd names and symlinked entries instead of reading them', async () => {
    await withDir(async (dir) => {
      const root = path.join(dir, 'cache');
      const key = entryKey('hf', ['x']);
      await mkdir(entryPaths(root, key).modelDir, { recursive: true });
      await writeFile(path.join(entryPaths(root, key).modelDir, 'w'), Buffer.alloc(100));
      await mkdir(path.join(root, 'entries', 'not-a-key'));
      await symlink(dir, path.join(root, 'entries', entryKey('hf', ['y'])));
      const scanned = await scanCache(root);
      expect(scanned.entries.map((e) => [e.key, e.bytes, e.source])).toEqual([[key, 100, null]]);
      expect(scanned.skipped).toEqual(
        expect.arrayContaining([
          { name: 'not-a-key', reason: 'not-an-entry' },
          { name: entryKey('hf', ['y']), reason: 'symlink-not-followed' },
        ]),
      );
    });
  });
});

describe('treeBytes', () => {
  it('counts regular files and never what a symlink points at', async () => {
    await withDir(async (dir) => {
      await mkdir(path.join(dir, 'e/sub'), { recursive: true });
      await writeFile(path.join(dir, 'e/a'), Buffer.alloc(10));
      await writeFile(path.join(dir, 'e/sub/b'), Buffer.alloc(20));
      await writeFile(path.join(dir, 'big'), Buffer.alloc(5000));
      await symlink(path.join(dir, 'big'), path.join(dir, 'e/link'));
      await symlink(dir, path.join(dir, 'e/loop'));
      expect(await treeBytes(path.join(dir, 'e'))).toBe(30);
    });
  });
});
