import { describe, expect, it } from '@jest/globals';
import { parseModelsConfig } from '../config/models-config.js';
import { AppError } from '../errors/app-error.js';
import type { ConfigMapRecord } from '../k8s/config-map-record.js';
import type { ConfigMaps, ConfigMapWrite } from '../k8s/config-maps.js';
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

/** One ConfigMap kept in memory, with the API server's optimistic concurrency (409 as `stale`). */
function memoryConfigMaps(): ConfigMaps & { writes: ConfigMapRecord[]; stored: ConfigMapRecord | null } {
  const conflict = new AppError({ code: 'CONFLICT', message: 'the object has been modified' });
  const store = {
    writes: [] as ConfigMapRecord[],
    stored: null as ConfigMapRecord | null,
    get: () => Promise.resolve(store.stored),
    create: (cm: ConfigMapRecord) => Promise.resolve(store.stored ? stale() : write(cm)),
    replace: (cm: ConfigMapRecord & { resourceVersion: string }) =>
      Promise.resolve(store.stored?.resourceVersion === cm.resourceVersion ? write(cm) : stale()),
  };
  const stale = (): ConfigMapWrite => ({ ok: false, reason: 'stale', error: conflict });
  const write = (cm: ConfigMapRecord): ConfigMapWrite => {
    store.writes.push(cm);
    store.stored = { ...cm, resourceVersion: String(Number(store.stored?.resourceVersion ?? 0) + 1) };
    return { ok: true, configMap: store.stored };
  };
  return store;
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

  it('answers a ConfigMap changed since it was read as stale, and writes nothing', async () => {
    const configMaps = memoryConfigMaps();
    const first = buildPlan({ config, models: [modelWith(1)], source });
    await publishPlan({ configMaps, namespace: 'ns', plan: first, current: null });
    const next = buildPlan({ config, models: [modelWith(2)], source });
    const result = await publishPlan({
      configMaps,
      namespace: 'ns',
      plan: next,
      current: { plan: first, resourceVersion: '0' },
    });
    expect(result).toMatchObject({ ok: false, reason: 'stale', error: { code: 'CONFLICT' } });
    const again = await publishPlan({ configMaps, namespace: 'ns', plan: next, current: null });
    expect(again).toMatchObject({ ok: false, reason: 'stale' });
    expect(configMaps.writes).toHaveLength(1);
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
