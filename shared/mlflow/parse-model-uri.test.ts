import { describe, expect, it } from '@jest/globals';
import { parseModelUri, proxyPathOf } from './parse-model-uri.js';

describe('parseModelUri', () => {
  it('reads every registry form', () => {
    expect(parseModelUri('models:/iris/3')).toEqual({ kind: 'registry-version', name: 'iris', version: '3' });
    expect(parseModelUri('models:/iris/Production')).toEqual({
      kind: 'registry-stage',
      name: 'iris',
      stage: 'Production',
    });
    expect(parseModelUri('models:/iris/latest')).toEqual({ kind: 'registry-stage', name: 'iris', stage: 'latest' });
    expect(parseModelUri('models:/iris@champion')).toEqual({ kind: 'registry-alias', name: 'iris', alias: 'champion' });
    expect(parseModelUri('models:/m-0a1b2c')).toEqual({ kind: 'logged-model', modelId: 'm-0a1b2c' });
  });

  it('reads runs, proxy artifacts, hf and local paths', () => {
    expect(parseModelUri('runs:/abc123/model')).toEqual({ kind: 'run', runId: 'abc123', artifactPath: 'model' });
    expect(parseModelUri('mlflow-artifacts:/1/models/m-1/artifacts')).toEqual({
      kind: 'mlflow-artifacts',
      artifactPath: '1/models/m-1/artifacts',
    });
    expect(parseModelUri('hf://org/name@v1.0')).toEqual({ kind: 'hf', repo: 'org/name', revision: 'v1.0' });
    expect(parseModelUri('hf://org/name')).toEqual({ kind: 'hf', repo: 'org/name', revision: 'main' });
    // the Hub's canonical models have no org (huggingface_hub's validate_repo_id accepts them; so do deploy and warm)
    expect(parseModelUri('hf://gpt2')).toEqual({ kind: 'hf', repo: 'gpt2', revision: 'main' });
    expect(parseModelUri('/models/iris')).toEqual({ kind: 'local', dir: '/models/iris' });
    expect(parseModelUri('file:///models/iris')).toEqual({ kind: 'local', dir: '/models/iris' });
  });

  it('refuses malformed URIs and paths that climb out', () => {
    expect(() => parseModelUri('models:/iris')).toThrow(/expected models:\/<name>\/<version\|stage>/);
    expect(() => parseModelUri('runs:/abc/../../etc')).toThrow(/climbs out/);
    expect(() => parseModelUri('mlflow-artifacts:/1/../../x')).toThrow(/climbs out/);
    expect(() => parseModelUri('s3://bucket/model')).toThrow(/unsupported model URI scheme: s3:/);
    for (const bad of ['hf://org--x/name', 'hf://a/b/c', 'hf://org/name.git', 'hf://'])
      expect(() => parseModelUri(bad)).toThrow(/hf:\/\/<org>\/<name>/);
  });
});

describe('proxyPathOf', () => {
  it('drops a host part and slashes', () => {
    expect(proxyPathOf('mlflow-artifacts://mlflow:5000/1/x/')).toBe('1/x');
    expect(proxyPathOf('mlflow-artifacts:/1/x')).toBe('1/x');
  });
});
