import { describe, expect, it } from '@jest/globals';
import { isAppError } from '../errors/app-error.js';
import { parseModelsConfig, parseModelsConfigMapData, repoIdProblem } from './models-config.js';

/** The message of the ConfigError `fn` throws (fails the test when it does not throw one). */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(isAppError(err)).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('parseModelsConfig', () => {
  it('fills the seed defaults around a minimal model list', () => {
    const config = parseModelsConfig('models:\n  Qwen/Qwen2.5-0.5B-Instruct: {}\n');
    expect(config).toEqual({
      nodeHostPath: '/mnt/stateful_partition/kube-ephemeral-ssd',
      cachePath: 'huggingface/hub',
      checkIntervalSeconds: 3600,
      configReadRetryDelaySeconds: 60,
      minFreeSpaceGB: 20,
      models: { 'Qwen/Qwen2.5-0.5B-Instruct': { gpu_compatible: ['ALL'], revision: 'main' } },
    });
  });

  it('normalises a single pattern string to a list, as huggingface_hub accepts both', () => {
    const config = parseModelsConfig(
      'models:\n  org/m:\n    allow_patterns: "*.json"\n    ignore_patterns: ["*.bin", "*.pt"]\n',
    );
    expect(config.models['org/m']).toMatchObject({ allow_patterns: ['*.json'], ignore_patterns: ['*.bin', '*.pt'] });
  });

  it('names every bad field of one config, each on its own line', () => {
    const message = errorOf(() =>
      parseModelsConfig(
        [
          'minFreeSpaceGB: -3',
          'checkIntervalSeconds: "hourly"',
          'extra: 1',
          'models:',
          '  ok/model:',
          '    revision: 5',
          '    gpu_compatible: [ALL, nvidia-l4]',
          '    colour: blue',
          '  bad--id/x: {}',
        ].join('\n'),
      ),
    );
    const lines = message.split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^minFreeSpaceGB: /),
        expect.stringMatching(/^checkIntervalSeconds: /),
        'extra: unknown key',
        expect.stringMatching(/^models\["ok\/model"\]\.revision: /),
        expect.stringMatching(/^models\["ok\/model"\]\.gpu_compatible: /),
        'models["ok/model"].colour: unknown key',
        expect.stringMatching(/^models\["bad--id\/x"\]: invalid model id: .*"--"/),
      ]),
    );
    expect(lines).toHaveLength(7);
  });

  it('reports a yaml syntax error with its line and column', () => {
    expect(errorOf(() => parseModelsConfig('models:\n  org/m: {revision: main\n'))).toMatch(
      /^models\.yaml: line \d+, column \d+: /,
    );
  });

  it('refuses a model id given twice instead of keeping the last one', () => {
    expect(errorOf(() => parseModelsConfig('models:\n  org/m: {}\n  org/m: {revision: v1}\n'))).toMatch(
      /^models\.yaml: .*[Uu]nique|duplicate/i,
    );
  });

  it('refuses an hfToken in the ConfigMap without echoing it', () => {
    const message = errorOf(() => parseModelsConfig('hfToken: hf_abcdefghijklmnop\nmodels: {}\n'));
    expect(message).toMatch(/^hfToken: must not be in the ConfigMap/);
    expect(message).not.toContain('hf_abcdefghijklmnop');
  });

  it('refuses a top level that is not a mapping', () => {
    expect(errorOf(() => parseModelsConfig('- a\n- b\n'))).toMatch(/^\(root\): /);
  });
});

describe('parseModelsConfigMapData', () => {
  it('names the missing key and the keys it found instead', () => {
    expect(errorOf(() => parseModelsConfigMapData({ 'config.yaml': 'models: {}' }))).toBe(
      'data.models.yaml: missing; found "config.yaml"',
    );
  });
});

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
