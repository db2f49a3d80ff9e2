import { describe, expect, it } from '@jest/globals';
import { isAppError } from '../errors/app-error.js';
import { parseModelsConfig, parseModelsConfigMapData, readModelsConfigMapData } from './models-config.js';

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
      excludeGpuTypes: [],
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

  it('finds a repeated model id among 2000 with linear work (no quadratic key check)', () => {
    const ids = Array.from({ length: 2000 }, (_v, i) => `  org/m${i}: {}`);
    const started = performance.now();
    expect(errorOf(() => parseModelsConfig(`models:\n${ids.join('\n')}\n  org/m7: {}\n`))).toMatch(
      /^models\.yaml: line 2002, column 3: Map keys must be unique \("org\/m7" again\)/,
    );
    // yaml's own uniqueKeys check took ~1 s for 5000 keys on the test machine; a Set takes milliseconds
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('accepts ordinary yaml with many aliases and merge keys', () => {
    const models = Array.from({ length: 300 }, (_v, i) =>
      i % 2 === 0 ? `  org/m${i}: *gpu` : `  org/m${i}:\n    <<: *gpu\n    revision: v${i}`,
    );
    const text = `models:\n  org/first: &gpu\n    gpu_compatible: [nvidia-l4]\n${models.join('\n')}\n`;
    const config = parseModelsConfig(text).models;
    expect(Object.keys(config)).toHaveLength(301);
    expect(config['org/m0']).toEqual({ gpu_compatible: ['nvidia-l4'], revision: 'main' });
    expect(config['org/m299']).toEqual({ gpu_compatible: ['nvidia-l4'], revision: 'v299' });
  });

  it('refuses aliases that expand too far (an alias bomb) with the reason, not "not valid yaml"', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      'models: {}',
    ].join('\n');
    expect(errorOf(() => parseModelsConfig(bomb))).toMatch(
      /^models\.yaml: its aliases expand to more than 10000 nodes/,
    );
  });

  it('refuses a models.yaml over 256 KiB before parsing it, and more than 2000 models', () => {
    const huge = `models:\n${Array.from({ length: 20_000 }, (_v, i) => `  org/model-${i}: {}`).join('\n')}\n`;
    const started = performance.now();
    expect(errorOf(() => parseModelsConfig(huge))).toMatch(/^models\.yaml: \d+ KiB, more than the 256 KiB/);
    expect(performance.now() - started).toBeLessThan(50);
    const many = `models:\n${Array.from({ length: 2001 }, (_v, i) => `  o/m${i}: {}`).join('\n')}\n`;
    expect(errorOf(() => parseModelsConfig(many))).toMatch(/^models: 2001 models, more than the 2000/);
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

describe('readModelsConfigMapData', () => {
  it('returns an invalid config as errors, one per line, and a valid one as the config', () => {
    expect(readModelsConfigMapData({ 'models.yaml': 'minFreeSpaceGB: -1\nbogus: 1\n' })).toEqual({
      ok: false,
      errors: [expect.stringMatching(/^minFreeSpaceGB: /), 'bogus: unknown key'],
    });
    const read = readModelsConfigMapData({ 'models.yaml': 'models: {org/a: {}}' });
    expect(read.ok && Object.keys(read.config.models)).toEqual(['org/a']);
  });
});
