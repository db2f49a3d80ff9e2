import { describe, expect, it } from '@jest/globals';
import { fnmatchToRegExp, resolvePatterns } from './resolve-patterns.js';

describe('fnmatchToRegExp', () => {
  // expected values: CPython 3 `fnmatch.fnmatch(path, pattern)` on Linux
  it.each([
    ['model.safetensors', '*.safetensors', true],
    ['sub/dir/model.safetensors', '*.safetensors', true],
    ['onnx/model.onnx', 'onnx/*', true],
    ['a.json', '?.json', true],
    ['ab.json', '?.json', false],
    ['config.JSON', '*.json', false],
    ['file1.bin', 'file[0-9].bin', true],
    ['filex.bin', 'file[!0-9].bin', true],
    ['file].bin', 'file[]].bin', true],
    ['file[.bin', 'file[.bin', true],
    ['a/b', 'a?b', true],
    ['weights-00001-of-00002.safetensors', 'weights-*-of-*.safetensors', true],
    ['axb', 'a.b', false],
    ['a(b)', 'a(b)', true],
    ['z', '[z-a]', false],
    ['!', '[!]', false],
    ['^', '[^]', true],
    ['-', '[a-]', true],
  ])('matches %s against %s as Python does (%s)', (path, pattern, expected) => {
    expect(fnmatchToRegExp(pattern).test(path)).toBe(expected);
  });
});

describe('resolvePatterns', () => {
  const paths = [
    'config.json',
    'model.safetensors',
    'onnx/model.onnx',
    'onnx/sub/x.onnx',
    'onnxx/y',
    'pytorch_model.bin',
  ];
  const run = (allow?: string[] | null, ignore?: string[] | null) =>
    resolvePatterns({ items: paths, allow, ignore, pathOf: (p) => p });

  it('keeps everything without patterns', () => {
    expect(run()).toEqual(paths);
  });

  it('lets `*` cross folders', () => {
    expect(run(['*.onnx'])).toEqual(['onnx/model.onnx', 'onnx/sub/x.onnx']);
  });

  it('treats a pattern ending in / as everything under that folder', () => {
    expect(run(['onnx/'])).toEqual(['onnx/model.onnx', 'onnx/sub/x.onnx']);
  });

  it('applies ignore after allow', () => {
    expect(run(['*.json', '*.safetensors', '*.bin'], ['*.bin'])).toEqual(['config.json', 'model.safetensors']);
  });

  it('keeps nothing for an empty allow list, as huggingface_hub does', () => {
    expect(run([])).toEqual([]);
  });
});
