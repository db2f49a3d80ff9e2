import { describe, expect, it } from '@jest/globals';
import { parseModelsConfig } from '../config/models-config.js';
import type { ConfigMapRecord } from '../k8s/config-map-record.js';
import type { ConfigMaps } from '../k8s/config-maps.js';
import { buildPlan, PLAN_KEY, PLAN_MAX_BYTES, type PlanModel } from './plan.js';
import { publishPlan } from './publish-plan.js';

const source = { namespace: 'ns', name: 'modelctl-models' };

function modelWith(files: number): PlanModel {
  return {
    repo: 'org/m',
    revision: 'main',
    commit: 'a'.repeat(40),
    files: Array.from({ length: files }, (_v, i) => ({ path: `shard-${i}.bin`, size: 1, oid: 'b'.repeat(40) })),
    totalBytes: files,
    allowPatterns: null,
    ignorePatterns: null,
    gpuCompatible: ['ALL'],
    status: 'ok',
  };
}

/** ConfigMaps that keep what is written, in memory. */
function memoryConfigMaps(): ConfigMaps & { writes: ConfigMapRecord[] } {
  const writes: ConfigMapRecord[] = [];
  return {
    writes,
    get: () => Promise.resolve(null),
    create: (cm) => (writes.push(cm), Promise.resolve({ ...cm, resourceVersion: '1' })),
    replace: (cm) => (
      writes.push(cm),
      Promise.resolve({ ...cm, resourceVersion: String(Number(cm.resourceVersion) + 1) })
    ),
  };
}

const config = parseModelsConfig('models: {org/m: {}}');

describe('publishPlan', () => {
  it('creates the plan ConfigMap when there is none', async () => {
    const configMaps = memoryConfigMaps();
    const plan = buildPlan({ config, models: [modelWith(2)], source });
    const result = await publishPlan({ configMaps, namespace: 'ns', plan, current: null });
    expect(result).toEqual({ ok: true, outcome: { action: 'created', resourceVersion: '1' } });
    expect(JSON.parse(configMaps.writes[0]!.data[PLAN_KEY]!)).toMatchObject({ contentHash: plan.contentHash });
  });

  it('writes nothing for the plan already published', async () => {
    const configMaps = memoryConfigMaps();
    const plan = buildPlan({ config, models: [modelWith(2)], source });
    const result = await publishPlan({ configMaps, namespace: 'ns', plan, current: { plan, resourceVersion: '5' } });
    expect(result).toEqual({ ok: true, outcome: { action: 'unchanged', resourceVersion: '5' } });
    expect(configMaps.writes).toHaveLength(0);
  });

  it('answers a plan over the ConfigMap limit as a result, and writes nothing', async () => {
    const configMaps = memoryConfigMaps();
    const plan = buildPlan({ config, models: [modelWith(20_000)], source });
    const result = await publishPlan({ configMaps, namespace: 'ns', plan, current: null });
    expect(result).toEqual({
      ok: false,
      reason: 'plan-too-large',
      message: expect.stringMatching(new RegExp(`^plan is \\d+ bytes, above the ${PLAN_MAX_BYTES} a ConfigMap holds`)),
    });
    expect(configMaps.writes).toHaveLength(0);
  });
});
