import { describe, expect, it } from '@jest/globals';
import { DeployOptions, revisionName } from './deploy-options.js';

const valid = { serveName: 'my-model', modelUri: 'models:/m/1', mlflowTrackingUri: 'http://mlflow:5000' };

function problems(extra: Record<string, unknown>): string[] {
  const result = DeployOptions.safeParse({ ...valid, ...extra });
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('DeployOptions', () => {
  it('fills the seed defaults: 1 core, 2 GiB, emptydir, scale to zero', () => {
    expect(DeployOptions.parse(valid)).toMatchObject({
      cores: 1,
      memory: 2,
      storage: 'emptydir',
      minScale: 0,
      namespace: 'default',
    });
  });

  it('refuses credentials passed as literal --env values', () => {
    expect(problems({ env: ['MLFLOW_TRACKING_PASSWORD=hunter2'] })).toEqual([
      expect.stringMatching(/^env: MLFLOW_TRACKING_PASSWORD is a credential: put it in a Secret/),
    ]);
    expect(problems({ env: ['HF_TOKEN=hf_abc'] })).toHaveLength(1);
  });

  it('refuses a tracking URI that embeds user:password', () => {
    expect(problems({ mlflowTrackingUri: 'https://bob:secret@mlflow.example.com' })).toEqual([
      expect.stringMatching(/^mlflowTrackingUri: must not carry user:password@/),
    ]);
  });

  it('refuses an --env that overrides what deploy sets, or is not NAME=value', () => {
    expect(problems({ env: ['MODEL_URI=x'] })).toEqual([
      expect.stringContaining('MODEL_URI is set by modelctl deploy'),
    ]);
    expect(problems({ env: ['novalue'] })).toEqual([expect.stringContaining('"novalue" is not NAME=value')]);
    expect(DeployOptions.parse({ ...valid, env: ['LOG_LEVEL=debug', 'A=b=c'] }).env).toEqual({
      LOG_LEVEL: 'debug',
      A: 'b=c',
    });
  });

  it('refuses names Kubernetes would refuse, before any request', () => {
    expect(problems({ serveName: 'My_Model' })).toEqual([
      expect.stringMatching(/^serveName: must be a DNS-1035 label/),
    ]);
    expect(problems({ serveName: 'm'.repeat(60), artifactVersion: 'v10' })).toEqual([
      expect.stringMatching(/^artifactVersion: revision name ".*" is longer than 63 characters/),
    ]);
  });

  it('refuses min-scale above max-scale and a GPU type without GPUs', () => {
    expect(problems({ minScale: '3', maxScale: '2' })).toEqual([
      expect.stringMatching(/^minScale: must not exceed --max-scale \(2\)/),
    ]);
    expect(problems({ gpuType: 'nvidia-l4' })).toEqual([expect.stringMatching(/^gpuType: needs --gpu N/)]);
  });

  it('leaves the tracking URI to be found later (environment, cluster record), but checks a given one', () => {
    expect(problems({ mlflowTrackingUri: undefined })).toEqual([]);
    expect(problems({ mlflowTrackingUri: 'mlflow:5000' })).toEqual([
      expect.stringMatching(/^mlflowTrackingUri: must be an http\(s\) URL/),
    ]);
  });

  it('asks hf:// models for an LLM runtime, and refuses runtime flags that would be ignored', () => {
    expect(problems({ modelUri: 'hf://org/name' })).toEqual([
      expect.stringMatching(/^runtime: hf:\/\/ models are served by an LLM runtime: pass --runtime vllm\|tgi\|custom/),
    ]);
    expect(problems({ modelUri: 'hf://gpt2', runtime: 'vllm' })).toEqual([]);
    expect(problems({ runtime: 'vllm' })).toEqual([
      expect.stringMatching(/^runtime: vllm serves warmed hf:\/\/ models/),
    ]);
    expect(problems({ modelUri: 'hf://org/name', runtime: 'custom' })).toEqual([
      expect.stringMatching(/^image: required with --runtime custom/),
    ]);
    expect(problems({ modelUri: 'hf://org/name', runtime: 'tgi', dtype: 'float32' })).toEqual([
      expect.stringMatching(/^dtype: TGI takes float16 or bfloat16/),
    ]);
    expect(problems({ maxModelLen: '4096', arg: ['--x'] })).toEqual([
      expect.stringMatching(/^maxModelLen: only for --runtime/),
      expect.stringMatching(/^arg: only for --runtime/),
    ]);
    expect(problems({ modelUri: 'hf://o/n', runtime: 'custom', image: 'x', nodeAffinity: 'preferred' })).toEqual([
      expect.stringMatching(/^command: required with --runtime custom --node-affinity preferred/),
    ]);
  });

  it('refuses durations Knative would not parse', () => {
    expect(problems({ scaleToZeroRetention: '10 minutes' })).toHaveLength(1);
    expect(problems({ scaleToZeroRetention: '1h30m' })).toEqual([]);
  });
});

describe('revisionName', () => {
  it('prefixes the Service name, as Knative requires, and makes the version DNS-safe', () => {
    expect(revisionName('iris', 'v1.2_rc')).toBe('iris-v1-2-rc');
  });
});
