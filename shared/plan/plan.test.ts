import { describe, expect, it } from '@jest/globals';
import { parseModelsConfig } from '../config/models-config.js';
import { buildPlan, canonicalJson, parsePlan, serializePlan, type PlanModel } from './plan.js';

const model: PlanModel = {
  repo: 'org/b',
  revision: 'main',
  commit: 'a'.repeat(40),
  files: [{ path: 'config.json', size: 10, oid: 'b'.repeat(40) }],
  totalBytes: 10,
  allowPatterns: null,
  ignorePatterns: null,
  gpuCompatible: ['ALL'],
  status: 'ok',
};
const source = { namespace: 'ns', name: 'modelctl-models', resourceVersion: '7' };

describe('buildPlan', () => {
  it('gives the same content hash whatever the model order, time or source version', () => {
    const config = parseModelsConfig('models: {org/a: {}, org/b: {}}');
    const other = { ...model, repo: 'org/a' };
    const one = buildPlan({ config, models: [model, other], source, now: new Date(0) });
    const two = buildPlan({ config, models: [other, model], source: { ...source, resourceVersion: '8' } });
    expect(one.contentHash).toBe(two.contentHash);
    expect(one.models.map((m) => m.repo)).toEqual(['org/a', 'org/b']);
  });

  it('changes the content hash when a commit moves', () => {
    const config = parseModelsConfig('models: {org/b: {}}');
    const one = buildPlan({ config, models: [model], source });
    const two = buildPlan({ config, models: [{ ...model, commit: 'c'.repeat(40) }], source });
    expect(one.contentHash).not.toBe(two.contentHash);
  });

  it('keeps the config hash when only yaml formatting differs', () => {
    const a = buildPlan({ config: parseModelsConfig('models: {org/b: {}}\n'), models: [], source });
    const b = buildPlan({
      config: parseModelsConfig('# comment\nmodels:\n  org/b:\n    revision: main\n'),
      models: [],
      source,
    });
    expect(a.configHash).toBe(b.configHash);
  });
});

describe('parsePlan', () => {
  it('reads back what serializePlan wrote', () => {
    const plan = buildPlan({ config: parseModelsConfig('models: {org/b: {}}'), models: [model], source });
    expect(parsePlan(serializePlan(plan))).toEqual(plan);
  });

  it('names the bad field of a tampered plan', () => {
    const plan = buildPlan({ config: parseModelsConfig('models: {org/b: {}}'), models: [model], source });
    const bad = JSON.parse(serializePlan(plan)) as { models: { files: { size: number }[] }[] };
    bad.models[0]!.files[0]!.size = -1;
    expect(() => parsePlan(JSON.stringify(bad))).toThrow(/models\[0\]\.files\[0\]\.size: /);
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: 2 } })).toBe('{"a":{"c":2,"d":[{"y":2,"z":1}]},"b":1}');
  });
});
