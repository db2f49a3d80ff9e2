import { describe, expect, it } from '@jest/globals';
import { resolveRepoPathProblem } from './resolve-repo-path.js';

describe('resolveRepoPathProblem', () => {
  it.each(['config.json', 'onnx/model.onnx', 'a/b/c.d', '.gitattributes', 'dir/.hidden'])('accepts %s', (p) => {
    expect(resolveRepoPathProblem(p)).toBeNull();
  });

  it.each([
    ['../escape.txt', '".." segment in path'],
    ['sub/../../up.txt', '".." segment in path'],
    ['/etc/passwd-x', 'absolute path'],
    ['a\\b.txt', 'backslash in path'],
    ['a//b', 'empty or "." segment in path'],
    ['./a', 'empty or "." segment in path'],
    ['a/', 'empty or "." segment in path'],
    ['', 'empty path'],
    ['a\nb', 'control character in path'],
  ])('refuses %j: %s', (p, why) => {
    expect(resolveRepoPathProblem(p)).toBe(why);
  });
});
