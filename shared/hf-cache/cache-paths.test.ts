import { describe, expect, it } from '@jest/globals';
import {
  assertRepoFilePath,
  assertRevision,
  blobLinkTarget,
  normalizeEtag,
  repoCachePaths,
  repoFolderName,
  snapshotFilePath,
} from './cache-paths.js';

describe('repoFolderName', () => {
  it('names the folder models--org--name', () => {
    expect(repoFolderName('Qwen/Qwen2.5-0.5B')).toBe('models--Qwen--Qwen2.5-0.5B');
  });
  it('names the folder of a Hub id without an org models--name, as huggingface_hub does', () => {
    expect(repoFolderName('gpt2')).toBe('models--gpt2');
    expect(repoFolderName('bert-base-uncased')).toBe('models--bert-base-uncased');
  });
  it('refuses ids that would not map to one folder', () => {
    for (const bad of ['', '/name', 'a/b/c', 'a--b/c', '../x/y', 'a/..'])
      expect(() => repoFolderName(bad)).toThrow(/invalid Hugging Face repo id/);
  });
});

describe('assertRepoFilePath', () => {
  it('refuses a file name that climbs out of the repo, is absolute or uses backslashes', () => {
    for (const bad of ['../escape.txt', '/etc/passwd-x', 'a\\b.txt', 'sub/../../up.txt', 'a//b', './a', 'C:x', '']) {
      expect(() => assertRepoFilePath(bad)).toThrow(/unsafe file path/);
    }
  });
  it('accepts nested relative paths', () => {
    expect(() => assertRepoFilePath('sub/dir/file.txt')).not.toThrow();
  });
});

describe('assertRevision', () => {
  it('accepts branches, tags and refs/pr/N but not traversal', () => {
    expect(() => assertRevision('refs/pr/1')).not.toThrow();
    expect(() => assertRevision('v1.0')).not.toThrow();
    expect(() => assertRevision('../main')).toThrow();
    expect(() => assertRevision('a//b')).toThrow();
  });
});

describe('blobLinkTarget', () => {
  it('climbs one more level per sub-folder so the link stays relative', () => {
    expect(blobLinkTarget('config.json', 'e')).toBe('../../blobs/e');
    expect(blobLinkTarget('sub/dir/file.txt', 'e')).toBe('../../../../blobs/e');
  });
  it('resolves from the snapshot file to the blob', () => {
    const paths = repoCachePaths('/c', 'o/n');
    const link = snapshotFilePath(paths, 'abc', 'sub/f');
    expect(new URL(blobLinkTarget('sub/f', 'e'), `file://${link}`).pathname).toBe('/c/models--o--n/blobs/e');
  });
});

describe('normalizeEtag', () => {
  it('strips W/ and quotes', () => {
    expect(normalizeEtag('W/"abc"')).toBe('abc');
    expect(normalizeEtag('"abc"')).toBe('abc');
  });
});
