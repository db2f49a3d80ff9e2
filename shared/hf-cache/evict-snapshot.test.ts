import { describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { blobPath, repoCachePaths } from './cache-paths.js';
import { evictSnapshot, ownedCommits } from './evict-snapshot.js';
import { linkSnapshotFile } from './link-snapshot-file.js';
import { updateLedger } from './write-ledger.js';
import { writeRef } from './write-ref.js';

const REPO = 'org/model';
const C1 = '1'.repeat(40);
const C2 = '2'.repeat(40);

/** A cache where the agent wrote C1 (a, b) and C2 (a, c), blob "a" shared between them. */
async function cacheWithTwoCommits() {
  const root = await mkdtemp(path.join(tmpdir(), 'evict-'));
  const cacheDir = path.join(root, 'hub');
  const stateDir = path.join(root, 'state');
  const paths = repoCachePaths(cacheDir, REPO);
  await mkdir(paths.blobsDir, { recursive: true });
  for (const etag of ['ea', 'eb', 'ec']) await writeFile(blobPath(paths, etag), etag);
  const links: [string, string, string][] = [
    [C1, 'a.bin', 'ea'],
    [C1, 'sub/b.bin', 'eb'],
    [C2, 'a.bin', 'ea'],
    [C2, 'c.bin', 'ec'],
  ];
  for (const [commit, filePath, etag] of links) await linkSnapshotFile({ paths, commit, filePath, etag });
  await writeRef({ paths, revision: 'old', commit: C1 });
  await writeRef({ paths, revision: 'main', commit: C2 });
  await updateLedger(stateDir, REPO, (l) => {
    l.blobs.push('ea', 'eb', 'ec');
    l.links.push(...links.map(([c, p]) => `${c}/${p}`));
    l.refs.push('old', 'main');
  });
  return { cacheDir, stateDir, paths };
}

describe('evictSnapshot', () => {
  it('removes the ref, the links and the blobs of a commit, keeping a blob another snapshot still uses', async () => {
    const { cacheDir, stateDir, paths } = await cacheWithTwoCommits();
    expect((await ownedCommits(stateDir, REPO)).sort()).toEqual([C1, C2]);
    const result = await evictSnapshot({ cacheDir, stateDir, repo: REPO, commit: C1 });
    expect(result).toMatchObject({ refs: ['old'], links: 2, blobs: 1 });
    expect(existsSync(path.join(paths.snapshotsDir, C1))).toBe(false);
    expect(existsSync(path.join(paths.refsDir, 'old'))).toBe(false);
    expect((await readdir(paths.blobsDir)).sort()).toEqual(['ea', 'ec']);
    expect(existsSync(path.join(paths.snapshotsDir, C2, 'a.bin'))).toBe(true);
    expect(await ownedCommits(stateDir, REPO)).toEqual([C2]);
  });

  it('leaves alone files it did not write (a pod downloaded them into the same snapshot)', async () => {
    const { cacheDir, stateDir, paths } = await cacheWithTwoCommits();
    await writeFile(blobPath(paths, 'epod'), 'pod');
    await linkSnapshotFile({ paths, commit: C2, filePath: 'pod-file.txt', etag: 'epod' });
    await evictSnapshot({ cacheDir, stateDir, repo: REPO, commit: C2 });
    expect(await readdir(path.join(paths.snapshotsDir, C2))).toEqual(['pod-file.txt']);
    expect(await readdir(paths.blobsDir)).toContain('epod');
    // every link left points to an existing blob: no dangling symlink for scan_cache_dir
    expect(existsSync(path.join(paths.snapshotsDir, C2, 'pod-file.txt'))).toBe(true);
  });

  it('keeps a commit that a ref it did not write points to', async () => {
    const { cacheDir, stateDir, paths } = await cacheWithTwoCommits();
    await writeFile(path.join(paths.refsDir, 'pinned'), C1);
    const result = await evictSnapshot({ cacheDir, stateDir, repo: REPO, commit: C1 });
    expect(result.keptBecause).toMatch(/pinned/);
    expect(existsSync(path.join(paths.snapshotsDir, C1, 'a.bin'))).toBe(true);
  });

  it('removes the repo folder when nothing is left', async () => {
    const { cacheDir, stateDir, paths } = await cacheWithTwoCommits();
    await evictSnapshot({ cacheDir, stateDir, repo: REPO, commit: C1 });
    await evictSnapshot({ cacheDir, stateDir, repo: REPO, commit: C2 });
    expect(existsSync(paths.repoDir)).toBe(false);
  });
});
