import { describe, expect, it } from '@jest/globals';
import { filterRepoFiles } from './filter-repo-files.js';
import { fnmatchToRegExp } from './resolve-patterns.js';

const files = [
  'config.json',
  'a/x.json',
  'a/b/y.bin',
  'model.safetensors',
  'README.md',
  '.gitattributes',
  'onnx/model.onnx',
].map((path) => ({ path }));
const paths = (xs: { path: string }[]) => xs.map((x) => x.path);

describe('fnmatchToRegExp', () => {
  it('lets * cross "/" as Python fnmatch does', () => {
    expect(fnmatchToRegExp('*.json').test('a/x.json')).toBe(true);
    expect(fnmatchToRegExp('a*y.bin').test('a/b/y.bin')).toBe(true);
  });
  it('matches ? against exactly one character and reads [seq] and [!seq]', () => {
    expect(fnmatchToRegExp('file-00?.txt').test('file-001.txt')).toBe(true);
    expect(fnmatchToRegExp('file-00?.txt').test('file-0011.txt')).toBe(false);
    expect(fnmatchToRegExp('[ab].txt').test('b.txt')).toBe(true);
    expect(fnmatchToRegExp('[!ab].txt').test('b.txt')).toBe(false);
    expect(fnmatchToRegExp('[!ab].txt').test('c.txt')).toBe(true);
  });
  it('treats an unterminated [ and regex characters literally', () => {
    expect(fnmatchToRegExp('a[b').test('a[b')).toBe(true);
    expect(fnmatchToRegExp('a+b(c).txt').test('a+b(c).txt')).toBe(true);
    expect(fnmatchToRegExp('a.txt').test('abtxt')).toBe(false);
  });
});

describe('filterRepoFiles', () => {
  it('keeps files matching an allow pattern and no ignore pattern', () => {
    expect(
      paths(filterRepoFiles(files, { allowPatterns: ['*.json', '*.safetensors'], ignorePatterns: ['a/*'] })),
    ).toEqual(['config.json', 'model.safetensors']);
  });
  it('expands a pattern ending in "/" to the whole folder, like huggingface_hub', () => {
    expect(paths(filterRepoFiles(files, { allowPatterns: ['onnx/'] }))).toEqual(['onnx/model.onnx']);
  });
  it('keeps everything without patterns', () => {
    expect(filterRepoFiles(files, {})).toHaveLength(files.length);
  });
});
