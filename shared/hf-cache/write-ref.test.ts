import { describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoCachePaths } from './cache-paths.js';
import { readRef, writeRef } from './write-ref.js';

const C = 'a'.repeat(40);

describe('writeRef', () => {
  it('writes exactly the 40-hex commit, without a trailing newline, and leaves no temp file in refs/', async () => {
    const paths = repoCachePaths(await mkdtemp(path.join(tmpdir(), 'ref-')), 'o/n');
    expect(await writeRef({ paths, revision: 'refs/pr/1', commit: C })).toBe(true);
    expect(await readFile(path.join(paths.refsDir, 'refs', 'pr', '1'), 'utf8')).toBe(C);
    expect(await readdir(paths.refsDir, { recursive: true })).toEqual(['refs', 'refs/pr', 'refs/pr/1']);
    expect(await readRef(paths, 'refs/pr/1')).toBe(C);
    expect(await writeRef({ paths, revision: 'refs/pr/1', commit: C })).toBe(false);
  });
  it('writes no ref when the revision is the commit itself', async () => {
    const paths = repoCachePaths(await mkdtemp(path.join(tmpdir(), 'ref-')), 'o/n');
    expect(await writeRef({ paths, revision: C, commit: C })).toBe(false);
    expect(await readRef(paths, 'main')).toBeNull();
  });
});
