import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CoreV1Api } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { handleWarmEvent } from '../functions/warm/handle-warm-event.js';
import type { WarmDeps } from '../functions/warm/warm-deps.js';
import { createWarmMetrics } from '../functions/warm/warm-metrics.js';
import type { ReceivedCloudEvent } from '../shared/cloudevents/receive-cloud-event.js';
import { createConfigMaps } from '../shared/k8s/config-maps.js';
import { createEventRecorder } from '../shared/k8s/record-event.js';
import { createLogger } from '../shared/log/create-logger.js';
import { HubAdmin } from '../testkit/hub-server/hub-admin.js';
import { createRepo } from '../testkit/hub-server/repo-store.js';
import { readHub } from '../testkit/peers/hub.js';
import { adminKubeConfig, createTestNamespace } from '../testkit/kube-helpers.js';

/**
 * Limits of the plan's publication, calling warm's handler directly against the real kube-apiserver: two
 * replicas racing on the same event, and a plan that cannot fit in a ConfigMap (1 MiB), which warm reports on the
 * models ConfigMap and acknowledges (the same config would fail the same way on every retry).
 */
let ns: string;
let core: CoreV1Api;
let deps: WarmDeps;
const admin = () => new HubAdmin(readHub().adminUrl);
const log = createLogger({ name: 'warm', level: 'silent' });

beforeAll(async () => {
  ns = await createTestNamespace('warm-limits');
  const kc = adminKubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  const hub = readHub();
  const files: Record<string, string> = { 'config.json': '{}\n' };
  // 12000 entries of ~100 bytes each in plan.json: more than a ConfigMap holds
  for (let i = 0; i < 12_000; i++) files[`shards/part-${String(i).padStart(5, '0')}-of-12000.json`] = `${i}\n`;
  await createRepo({ root: hub.reposDir, repo: `${ns}/huge`, files });
  await createRepo({ root: hub.reposDir, repo: `${ns}/small`, files: { 'config.json': '{}\n' } });
  // one tree page for the whole listing (the server's default page is small on purpose)
  await admin().setConfig({ treePageSize: 20_000 });
  deps = {
    configMaps: createConfigMaps(kc),
    recordEvent: createEventRecorder({ kc, component: 'modelctl-warm' }),
    hub: { hubUrl: hub.url },
    metrics: createWarmMetrics(new Registry()),
    namespace: ns,
    modelsConfigMap: 'modelctl-models',
    planConfigMap: 'modelctl-plan',
  };
}, 300_000);

afterAll(async () => {
  await admin().reset();
});

async function updateEvent(yamlText: string): Promise<ReceivedCloudEvent> {
  const existing = await core.readNamespacedConfigMap({ namespace: ns, name: 'modelctl-models' }).catch(() => null);
  const body = {
    metadata: {
      name: 'modelctl-models',
      namespace: ns,
      ...(existing ? { resourceVersion: existing.metadata!.resourceVersion! } : {}),
    },
    data: { 'models.yaml': yamlText },
  };
  const cm = existing
    ? await core.replaceNamespacedConfigMap({ namespace: ns, name: 'modelctl-models', body })
    : await core.createNamespacedConfigMap({ namespace: ns, body });
  return {
    specversion: '1.0',
    id: `${Date.now()}`,
    type: 'dev.knative.apiserver.resource.update',
    source: 'https://127.0.0.1',
    data: JSON.parse(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', ...cm })) as unknown,
  };
}

describe('warm: two replicas at once', () => {
  it('write the plan once: the loser of the resourceVersion race re-reads and finds nothing to do', async () => {
    const plan = () => core.readNamespacedConfigMap({ namespace: ns, name: 'modelctl-plan' }).catch(() => null);
    expect(await plan()).toBeNull();
    const event = await updateEvent(`models:\n  ${ns}/small: {}\n`);
    const [a, b] = await Promise.all([handleWarmEvent(deps, event, log), handleWarmEvent({ ...deps }, event, log)]);
    const actions = [a, b].map((o) => ('reply' in o ? (o.reply.data as { action: string }).action : 'none')).sort();
    expect(actions).toEqual(['created', 'unchanged']);
    const published = await plan();
    expect(published?.metadata?.resourceVersion).toBeDefined();
  });
});

describe('warm: a plan too large for a ConfigMap', () => {
  it('is refused with a Warning Event and a 2xx, and the plan in force stays', async () => {
    const before = await core.readNamespacedConfigMap({ namespace: ns, name: 'modelctl-plan' });

    const outcome = await handleWarmEvent(
      deps,
      await updateEvent(`models:\n  ${ns}/small: {}\n  ${ns}/huge: {}\n`),
      log,
    );
    expect('reply' in outcome && outcome.reply.data).toMatchObject({
      action: 'rejected',
      errors: [expect.stringMatching(/^plan is \d+ bytes, above the 1000000/)],
    });
    const events = await core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: 'involvedObject.name=modelctl-models',
    });
    expect(events.items.filter((e) => e.type === 'Warning' && e.reason === 'PlanTooLarge')).toHaveLength(1);
    const after = await core.readNamespacedConfigMap({ namespace: ns, name: 'modelctl-plan' });
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
  });
});
