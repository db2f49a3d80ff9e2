import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  commitFiles,
  createRepo,
  lfsPointer,
  objectPath,
  readRepoState,
  renameRepo,
  setRef,
  updateRepo,
} from './repo-store.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'repo-store-test-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** git itself, as the independent judge of blob ids. */
async function gitHashObject(content: string | Buffer): Promise<string> {
  const file = path.join(root, `hash-${Math.random().toString(36).slice(2)}`);
  await writeFile(file, content);
  return execFileSync('git', ['hash-object', file], { encoding: 'utf8' }).trim();
}

describe('createRepo', () => {
  it('gives regular files the git blob sha1 of their content, as git does', async () => {
    const state = await createRepo({ root, repo: 'o/plain', files: { 'config.json': '{"a":1}\n' } });

    const file = state.commits[state.branches.main!]!.files['config.json']!;
    expect(file.lfs).toBe(false);
    expect(file.oid).toBe(await gitHashObject('{"a":1}\n'));
  });

  it('stores LFS files with sha256 of the content and the git oid of their pointer file', async () => {
    const state = await createRepo({ root, repo: 'o/lfs', files: { 'w.safetensors': { size: 100_000, seed: 's' } } });

    const file = state.commits[state.branches.main!]!.files['w.safetensors']!;
    const content = await readFile(objectPath(root, 'o/lfs', file.contentOid));
    expect(file.lfs).toBe(true);
    expect(content.length).toBe(100_000);
    expect(file.sha256).toBe(createHash('sha256').update(content).digest('hex'));
    expect(file.oid).toBe(await gitHashObject(lfsPointer(file.sha256, file.size)));
    expect(file.pointerSize).toBe(lfsPointer(file.sha256, file.size).length);
  });

  it('makes the same commit id from the same content, and a different one from other content', async () => {
    const files = { 'a.txt': 'a\n', 'b/c.bin': { size: 1000, seed: 'x' } };
    const one = await createRepo({ root, repo: 'o/same1', files });
    const two = await createRepo({ root: await mkdtemp(path.join(root, 'other-')), repo: 'o/same1', files });
    const other = await createRepo({ root, repo: 'o/same1', files: { ...files, 'a.txt': 'A\n' } });

    expect(one.branches.main).toMatch(/^[0-9a-f]{40}$/);
    expect(two.branches.main).toBe(one.branches.main);
    expect(other.branches.main).not.toBe(one.branches.main);
  });
});

describe('commitFiles', () => {
  it('moves the branch to a child commit with the changes, keeping the parent readable', async () => {
    const first = await createRepo({ root, repo: 'o/moving', files: { 'a.txt': '1', 'gone.txt': 'x' } });
    const parent = first.branches.main!;

    const child = await commitFiles({ root, repo: 'o/moving', files: { 'a.txt': '2' }, deletions: ['gone.txt'] });

    const state = readRepoState(root, 'o/moving')!;
    expect(state.branches.main).toBe(child);
    expect(state.commits[child]!.parent).toBe(parent);
    expect(Object.keys(state.commits[child]!.files)).toEqual(['a.txt']);
    expect(Object.keys(state.commits[parent]!.files).sort()).toEqual(['a.txt', 'gone.txt']);
  });
});

describe('setRef, updateRepo, renameRepo', () => {
  it('tags a commit, gates the repo, and leaves a stub that names the new id after a rename', async () => {
    const first = await createRepo({ root, repo: 'o/before', files: { 'a.txt': '1' } });
    await setRef({ root, repo: 'o/before', kind: 'tag', name: 'v1', commit: first.branches.main! });
    await updateRepo({ root, repo: 'o/before', gated: 'manual' });

    await renameRepo({ root, from: 'o/before', to: 'p/after' });

    const moved = readRepoState(root, 'p/after')!;
    expect(moved.tags.v1).toBe(first.branches.main);
    expect(moved.gated).toBe('manual');
    expect(readRepoState(root, 'o/before')?.renamedTo).toBe('p/after');
  });

  it('refuses repo ids that would leave the store', async () => {
    await expect(createRepo({ root, repo: '../x', files: {} })).rejects.toThrow('unsafe repo id');
    expect(readRepoState(root, 'o/../../etc')).toBeNull();
  });
});
