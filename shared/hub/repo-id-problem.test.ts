import { describe, expect, it } from '@jest/globals';
import { repoIdProblem } from './repo-id-problem.js';

describe('repoIdProblem', () => {
  it.each(['Qwen/Qwen2.5-0.5B', 'google-bert/bert-base-uncased', 'a/b_c.d-e', 'gpt2', 'bert-base-uncased'])(
    'accepts %s',
    (id) => {
      expect(repoIdProblem(id)).toBeNull();
    },
  );
  it.each([
    'a/b/c',
    'a/b..c',
    'a--b/c',
    'org/name.git',
    'org/na me',
    '-org/x',
    'org/x.',
    `org/${'x'.repeat(100)}`,
    '../etc',
  ])('refuses %s', (id) => {
    expect(repoIdProblem(id)).not.toBeNull();
  });
});
