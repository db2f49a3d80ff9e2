import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, type CoreV1Event } from '@kubernetes/client-node';
import { CloudEvent, HTTP } from 'cloudevents';
import { Registry } from 'prom-client';
import { startWarm } from '../functions/warm/start-warm.js';
import { createWarmMetrics } from '../functions/warm/warm-metrics.js';
import type { RunningServer } from '../shared/http/start-http-server.js';
import { createConfigMaps } from '../shared/k8s/config-maps.js';
import { createEventRecorder } from '../shared/k8s/record-event.js';
import { createLogger } from '../shared/log/create-logger.js';
import { parsePlan, PLAN_KEY, type Plan } from '../shared/plan/plan.js';
import { HubAdmin } from '../testkit/hub-server/hub-admin.js';
import { commitFiles, createRepo } from '../testkit/hub-server/repo-store.js';
import type { LoggedRequest } from '../testkit/hub-server/request-log.js';
import { readHub, type HubInfo } from '../testkit/peers/hub.js';
import {
  adminKubeConfig,
  createTestNamespace,
  kubeConfigAsServiceAccount,
  kubePeer,
  runKubectl,
} from '../testkit/kube-helpers.js';

/**
 * The warm function against the real kube-apiserver and the local Hub: CloudEvents shaped exactly as
 * ApiServerSource (mode Resource) and PingSource send them, in binary and structured mode; the plan and the
 * Events read back from the API server; Hub requests counted by the Hub itself. warm runs as the
 * ServiceAccount bound to the Role of knative/warm/rbac.yaml.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const MODELS = 'modelctl-models';
const PLAN = 'modelctl-plan';
const MiB = 1024 * 1024;

let ns: string;
let hub: HubInfo;
let hubAdmin: HubAdmin;
let core: CoreV1Api;
let warm: RunningServer;
let warmUrl: string;
const logLines: string[] = [];
let commits: { moving: string; pinned: string };
let repos: { moving: string; pinned: string };

/** The Role/RoleBinding/ServiceAccounts of knative/warm/rbac.yaml, moved to the test namespace. */
function warmRbac(namespace: string): string {
  return readFileSync(path.join(here, '../knative/warm/rbac.yaml'), 'utf8').replaceAll(
    'namespace: modelctl-system',
    `namespace: ${namespace}`,
  );
}

beforeAll(async () => {
  hub = readHub();
  hubAdmin = new HubAdmin(hub.adminUrl);
  core = adminKubeConfig().makeApiClient(CoreV1Api);
  ns = await createTestNamespace('warm');
  const applied = await runKubectl(['apply', '-f', '-'], { stdin: warmRbac(ns) });
  expect(applied.stderr).toBe('');
  repos = { moving: `${ns}/moving-model`, pinned: `${ns}/pinned-model` };
  const moving = await createRepo({
    root: hub.reposDir,
    repo: repos.moving,
    files: {
      'config.json': '{"model_type":"moving"}\n',
      'model.safetensors': { size: 2 * MiB, seed: `${ns}-moving` },
      'onnx/model.onnx': { size: MiB, seed: `${ns}-onnx` },
      'pytorch_model.bin': { size: MiB, seed: `${ns}-bin` },
    },
  });
  const pinned = await createRepo({
    root: hub.reposDir,
    repo: repos.pinned,
    files: { 'config.json': '{"model_type":"pinned"}\n' },
  });
  commits = { moving: moving.branches.main!, pinned: pinned.branches.main! };

  const kc = await kubeConfigAsServiceAccount(ns, 'modelctl-warm');
  const registry = new Registry();
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  warm = await startWarm({
    deps: {
      configMaps: createConfigMaps(kc),
      recordEvent: createEventRecorder({ kc, component: 'modelctl-warm' }),
      // a valid token without access to gated repos: gated-model must come out `gated`
      hub: { hubUrl: hub.url, token: hub.tokenWithoutAccess },
      metrics: createWarmMetrics(registry),
      namespace: ns,
      modelsConfigMap: MODELS,
      planConfigMap: PLAN,
      retry: { maxRetries: 1, baseDelayMs: 10 },
    },
    registry,
    log: createLogger({ name: 'warm', level: 'debug', destination }),
    port: 0,
    host: '127.0.0.1',
    drainTimeoutMs: 1000,
  });
  warmUrl = `http://127.0.0.1:${warm.port}/`;
});

afterAll(async () => {
  await warm?.close();
  await hubAdmin?.reset();
});

function modelsYaml(extra = ''): string {
  return [
    'checkIntervalSeconds: 1800',
    'models:',
    `  ${repos.moving}:`,
    '    revision: main',
    '    allow_patterns: ["*.json", "*.safetensors", "onnx/"]',
    `  ${repos.pinned}:`,
    `    revision: ${commits.pinned}`,
    '    gpu_compatible: [nvidia-l4]',
    `  ${hub.repos.gated.id}: {}`,
    `  ${hub.repos.private.id}: {}`,
    `  ${hub.repos.hostile.id}: {}`,
    `  ${hub.repos.tiny.id}:`,
    '    revision: no-such-branch',
    extra,
  ].join('\n');
}

/** The models ConfigMap exactly as the API server serves it (what ApiServerSource puts in `data`). */
async function getConfigMapJson(name = MODELS): Promise<Record<string, unknown>> {
  const res = await runKubectl(['get', 'configmap', name, '-n', ns, '-o', 'json']);
  expect(res.code).toBe(0);
  return JSON.parse(res.stdout) as Record<string, unknown>;
}

async function putModelsConfig(yamlText: string, key = 'models.yaml'): Promise<Record<string, unknown>> {
  const body = {
    metadata: { name: MODELS, namespace: ns, labels: { 'modelctl.dev/config': 'models' } },
    data: { [key]: yamlText },
  };
  const existing = await core.readNamespacedConfigMap({ namespace: ns, name: MODELS }).catch(() => null);
  if (existing)
    await core.replaceNamespacedConfigMap({
      namespace: ns,
      name: MODELS,
      body: { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata!.resourceVersion! } },
    });
  else await core.createNamespacedConfigMap({ namespace: ns, body });
  return getConfigMapJson();
}

type Mode = 'binary' | 'structured';

/** An ApiServerSource event as the adapter builds it (knative/eventing pkg/adapter/apiserver/events). */
function apiServerEvent(kind: 'add' | 'update' | 'delete', object: Record<string, unknown>): CloudEvent<unknown> {
  const meta = object.metadata as { name: string; namespace: string };
  return new CloudEvent({
    specversion: '1.0',
    id: randomUUID(),
    type: `dev.knative.apiserver.resource.${kind}`,
    // the adapter's source is the API server host it watches
    source: kubePeer().server,
    subject: `/apis/v1/namespaces/${meta.namespace}/configmaps/${meta.name}`,
    datacontenttype: 'application/json',
    data: object,
    kind: 'ConfigMap',
    name: meta.name,
    namespace: meta.namespace,
  });
}

/** A PingSource event (knative/eventing pkg/adapter/mtping): contentType + data of the PingSource spec. */
function pingEvent(): CloudEvent<unknown> {
  return new CloudEvent({
    specversion: '1.0',
    id: randomUUID(),
    type: 'dev.knative.sources.ping',
    source: `/apis/v1/namespaces/${ns}/pingsources/modelctl-warm-hourly`,
    datacontenttype: 'application/json',
    data: { check: 'hourly' },
  });
}

interface Posted {
  status: number;
  reply: CloudEvent<Record<string, unknown>> | null;
  body: string;
}

async function post(event: CloudEvent<unknown>, mode: Mode): Promise<Posted> {
  const message = mode === 'binary' ? HTTP.binary(event) : HTTP.structured(event);
  const res = await fetch(warmUrl, {
    method: 'POST',
    headers: message.headers as Record<string, string>,
    body: message.body as string,
  });
  const body = await res.text();
  const headers = Object.fromEntries(res.headers.entries());
  const reply = headers['ce-type'] ? (HTTP.toEvent({ headers, body }) as CloudEvent<Record<string, unknown>>) : null;
  return { status: res.status, reply, body };
}

async function readPlanConfigMap(): Promise<{ plan: Plan; resourceVersion: string }> {
  const cm = await core.readNamespacedConfigMap({ namespace: ns, name: PLAN });
  return { plan: parsePlan(cm.data![PLAN_KEY]!), resourceVersion: cm.metadata!.resourceVersion! };
}

async function eventsOf(name: string): Promise<CoreV1Event[]> {
  const list = await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${name}` });
  return list.items;
}

/** Hub requests since `mark`, as "endpoint repo" strings, sorted. */
async function hubCalls(mark: number): Promise<string[]> {
  const requests: LoggedRequest[] = await hubAdmin.requests({ since: mark });
  return requests.map((r) => `${r.endpoint} ${r.repo ?? ''}`).sort();
}

function modelOf(plan: Plan, repo: string): Plan['models'][number] {
  const m = plan.models.find((x) => x.repo === repo);
  if (!m) throw new Error(`no ${repo} in the plan`);
  return m;
}

describe('warm: ApiServerSource add of the models ConfigMap', () => {
  it('publishes a plan with commits, files and sizes, and reports unavailable models per model', async () => {
    const cm = await putModelsConfig(modelsYaml());
    const mark = await hubAdmin.mark();
    const res = await post(apiServerEvent('add', cm), 'binary');

    expect(res.status).toBe(200);
    expect(res.reply?.type).toBe('dev.modelctl.warm.planned');
    expect(res.reply?.data).toMatchObject({ action: 'created' });

    const { plan } = await readPlanConfigMap();
    expect(plan.source).toMatchObject({
      namespace: ns,
      name: MODELS,
      resourceVersion: (cm.metadata as { resourceVersion: string }).resourceVersion,
    });
    expect(plan.settings.checkIntervalSeconds).toBe(1800);

    const moving = modelOf(plan, repos.moving);
    expect(moving).toMatchObject({ status: 'ok', commit: commits.moving, revision: 'main' });
    // allow_patterns ["*.json", "*.safetensors", "onnx/"]: pytorch_model.bin is left out
    expect(moving.files.map((f) => f.path)).toEqual(['config.json', 'model.safetensors', 'onnx/model.onnx']);
    expect(moving.totalBytes).toBe('{"model_type":"moving"}\n'.length + 3 * MiB);
    expect(moving.files.find((f) => f.path === 'model.safetensors')?.lfsSha256).toMatch(/^[0-9a-f]{64}$/);

    expect(modelOf(plan, repos.pinned)).toMatchObject({
      status: 'ok',
      commit: commits.pinned,
      gpuCompatible: ['nvidia-l4'],
    });
    expect(modelOf(plan, hub.repos.gated.id)).toMatchObject({ status: 'gated', commit: null, files: [] });
    expect(modelOf(plan, hub.repos.private.id)).toMatchObject({ status: 'not-found', commit: null });
    expect(modelOf(plan, hub.repos.hostile.id).status).toBe('error');
    expect(modelOf(plan, hub.repos.hostile.id).message).toMatch(/unsafe file path/);
    expect(modelOf(plan, hub.repos.tiny.id)).toMatchObject({
      status: 'revision-not-found',
      revision: 'no-such-branch',
    });

    // one revision call per model; trees only for repos that resolved; one access check for the gated repo
    const calls = await hubCalls(mark);
    for (const repo of [
      repos.moving,
      repos.pinned,
      hub.repos.gated.id,
      hub.repos.private.id,
      hub.repos.hostile.id,
      hub.repos.tiny.id,
    ]) {
      expect(calls.filter((c) => c === `revision ${repo}`)).toHaveLength(1);
    }
    expect(
      calls.filter(
        (c) =>
          c.startsWith('tree ') &&
          !c.endsWith(repos.moving) &&
          !c.endsWith(repos.pinned) &&
          !c.endsWith(hub.repos.gated.id) &&
          !c.endsWith(hub.repos.hostile.id),
      ),
    ).toEqual([]);
    expect(calls.filter((c) => c.startsWith('resolve '))).toEqual([`resolve ${hub.repos.gated.id}`]);

    const events = await eventsOf(MODELS);
    const warnings = events
      .filter((e) => e.type === 'Warning' && e.reason === 'ModelUnavailable')
      .map((e) => e.message ?? '');
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringContaining(`${hub.repos.gated.id}@main: gated`),
        expect.stringContaining(`${hub.repos.private.id}@main: not-found`),
        expect.stringContaining(`${hub.repos.tiny.id}@no-such-branch: revision-not-found`),
        expect.stringContaining(`${hub.repos.hostile.id}@main: error`),
      ]),
    );
    expect(events.some((e) => e.type === 'Normal' && e.reason === 'PlanPublished')).toBe(true);
  });

  it('changes nothing and calls no Hub API when the same event comes again (structured mode)', async () => {
    const before = await readPlanConfigMap();
    const cm = await getConfigMapJson();
    const mark = await hubAdmin.mark();
    const res = await post(apiServerEvent('add', cm), 'structured');
    expect(res.status).toBe(200);
    expect(res.reply?.data).toMatchObject({ action: 'unchanged', contentHash: before.plan.contentHash });
    expect(await hubCalls(mark)).toEqual([]);
    expect((await readPlanConfigMap()).resourceVersion).toBe(before.resourceVersion);
  });

  it('treats an update that only changes yaml comments as no change', async () => {
    const before = await readPlanConfigMap();
    const cm = await putModelsConfig(`# edited by a human\n${modelsYaml()}`);
    const mark = await hubAdmin.mark();
    const res = await post(apiServerEvent('update', cm), 'binary');
    expect(res.reply?.data).toMatchObject({ action: 'unchanged' });
    expect(await hubCalls(mark)).toEqual([]);
    expect((await readPlanConfigMap()).resourceVersion).toBe(before.resourceVersion);
  });

  it('resolves only the model whose spec changed', async () => {
    const cm = await putModelsConfig(modelsYaml().replace('"onnx/"]', '"onnx/", "*.bin"]'));
    const mark = await hubAdmin.mark();
    const res = await post(apiServerEvent('update', cm), 'binary');
    expect(res.reply?.data).toMatchObject({ action: 'updated' });
    const calls = await hubCalls(mark);
    expect(calls.filter((c) => c.startsWith('revision '))).toEqual(
      // the changed model, plus every model that was not ok (a config change retries them)
      [hub.repos.gated.id, hub.repos.hostile.id, repos.moving, hub.repos.private.id, hub.repos.tiny.id]
        .map((r) => `revision ${r}`)
        .sort(),
    );
    expect(calls).not.toContain(`revision ${repos.pinned}`);
    const { plan } = await readPlanConfigMap();
    expect(modelOf(plan, repos.moving).files.map((f) => f.path)).toContain('pytorch_model.bin');
  });
});

describe('warm: redelivered events', () => {
  it('ignores an add/update event older than the ConfigMap, so an old config never replaces a newer plan', async () => {
    const older = await getConfigMapJson();
    const newer = await putModelsConfig(
      `checkIntervalSeconds: 900\n${modelsYaml().replace('checkIntervalSeconds: 1800\n', '')}`,
    );
    const applied = await post(apiServerEvent('update', newer), 'binary');
    expect(applied.reply?.data).toMatchObject({ action: 'updated' });
    const before = await readPlanConfigMap();
    expect(before.plan.settings.checkIntervalSeconds).toBe(900);

    const mark = await hubAdmin.mark();
    const late = await post(apiServerEvent('update', older), 'binary');
    expect(late.status).toBe(200);
    expect(late.reply?.data).toMatchObject({ action: 'ignored', reason: expect.stringContaining('outdated') });
    expect(await hubCalls(mark)).toEqual([]);
    const after = await readPlanConfigMap();
    expect(after.resourceVersion).toBe(before.resourceVersion);
    expect(after.plan.settings.checkIntervalSeconds).toBe(900);
    // back to the config the next tests expect
    const restored = await putModelsConfig(modelsYaml());
    expect((await post(apiServerEvent('update', restored), 'binary')).reply?.data).toMatchObject({ action: 'updated' });
  });
});

describe('warm: the event is a trigger, never the truth (issue 14)', () => {
  const forgedRepo = (): string => `${ns}/forged-repo`;

  it.each([
    ['the live resourceVersion', (cm: Record<string, unknown>) => cm],
    [
      'no resourceVersion',
      (cm: Record<string, unknown>) => {
        const metadata = { ...(cm.metadata as Record<string, unknown>) };
        delete metadata.resourceVersion;
        return { ...cm, metadata };
      },
    ],
  ])('plans from the ConfigMap in the API server when an event with %s carries other data', async (_name, shape) => {
    const live = await getConfigMapJson();
    const forged = shape({ ...live, data: { 'models.yaml': modelsYaml(`  ${forgedRepo()}: {}`) } });
    const res = await post(apiServerEvent('update', forged), 'binary');
    expect(res.status).toBe(200);
    const { plan } = await readPlanConfigMap();
    const listed = plan.models.map((m) => m.repo);
    expect(listed).toContain(repos.moving);
    expect(listed).not.toContain(forgedRepo());
    expect(plan.source.resourceVersion).toBe((live.metadata as { resourceVersion: string }).resourceVersion);
  });

  it('refuses a models config of 60 000 models at once, health and readiness answering meanwhile', async () => {
    const before = await readPlanConfigMap();
    const huge = `models:\n${Array.from({ length: 60_000 }, (_v, i) => `  o/m${i}: {}`).join('\n')}\n`;
    const cm = await putModelsConfig(huge);
    let slowest = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const t = performance.now();
        for (const probe of ['health/liveness', 'health/readiness']) {
          expect((await fetch(`${warmUrl}${probe}`)).status).toBe(200);
        }
        slowest = Math.max(slowest, performance.now() - t);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const started = performance.now();
    const res = await post(apiServerEvent('update', cm), 'binary');
    const took = performance.now() - started;
    polling = false;
    await poller;
    expect(res.reply?.data).toMatchObject({
      action: 'rejected',
      errors: [expect.stringMatching(/^models\.yaml: \d+ KiB, more than the 256 KiB/)],
    });
    expect(took).toBeLessThan(5000);
    expect(slowest).toBeLessThan(1000);
    expect((await readPlanConfigMap()).resourceVersion).toBe(before.resourceVersion);
    const restored = await putModelsConfig(modelsYaml());
    await post(apiServerEvent('update', restored), 'binary');
  });
});

describe('warm: PingSource', () => {
  it('republishes nothing when no revision moved, and asks the Hub only about moving revisions', async () => {
    const before = await readPlanConfigMap();
    const mark = await hubAdmin.mark();
    const res = await post(pingEvent(), 'binary');
    expect(res.status).toBe(200);
    expect(res.reply?.data).toMatchObject({ action: 'unchanged', changes: [] });
    const calls = await hubCalls(mark);
    // the pinned commit needs no call; no tree is listed again
    expect(calls).not.toContain(`revision ${repos.pinned}`);
    expect(calls.filter((c) => c.startsWith('tree ') && c.endsWith(repos.moving))).toEqual([]);
    expect(calls.filter((c) => c === `revision ${repos.moving}`)).toHaveLength(1);
    expect((await readPlanConfigMap()).resourceVersion).toBe(before.resourceVersion);
  });

  it('moves the plan to the new commit of a branch, and replies with what changed', async () => {
    const next = await commitFiles({
      root: hub.reposDir,
      repo: repos.moving,
      files: { 'config.json': '{"model_type":"moving","v":2}\n' },
    });
    const mark = await hubAdmin.mark();
    const res = await post(pingEvent(), 'structured');
    expect(res.reply?.data).toMatchObject({
      action: 'updated',
      changes: [{ repo: repos.moving, change: 'commit', from: commits.moving, to: next }],
    });
    const calls = await hubCalls(mark);
    expect(calls.filter((c) => c === `tree ${repos.moving}`).length).toBeGreaterThanOrEqual(1);
    expect(modelOf((await readPlanConfigMap()).plan, repos.moving).commit).toBe(next);
    commits.moving = next;
  });

  it('keeps the previous resolution of a model when the Hub fails transiently', async () => {
    const before = await readPlanConfigMap();
    await commitFiles({
      root: hub.reposDir,
      repo: repos.moving,
      files: { 'config.json': '{"model_type":"moving","v":3}\n' },
    });
    const fault = await hubAdmin.addFault({
      match: { endpoint: 'revision', repo: repos.moving },
      action: { kind: 'status', status: 503 },
    });
    try {
      const res = await post(pingEvent(), 'binary');
      expect(res.status).toBe(200);
      expect(modelOf((await readPlanConfigMap()).plan, repos.moving)).toEqual(modelOf(before.plan, repos.moving));
      const warnings = (await eventsOf(MODELS))
        .filter((e) => e.reason === 'ModelUnavailable')
        .map((e) => e.message ?? '');
      expect(warnings).toEqual(
        expect.arrayContaining([
          expect.stringMatching(new RegExp(`${repos.moving}@main: error: .*keeping ${commits.moving}`)),
        ]),
      );
    } finally {
      await hubAdmin.removeFault(fault);
    }
  });
});

describe('warm: invalid config', () => {
  const corpus: [string, string, RegExp][] = [
    ['bad yaml', 'models:\n  a/b: {revision: main\n', /models\.yaml: line \d+, column \d+/],
    ['an unknown top-level key', 'models: {}\nmodelz: {}\n', /modelz: unknown key/],
    ['an unknown model key', 'models:\n  org/m:\n    revison: main\n', /models\["org\/m"\]\.revison: unknown key/],
    ['a wrong type', 'checkIntervalSeconds: hourly\nmodels: {}\n', /checkIntervalSeconds: /],
    // (an id without org, such as gpt2, is valid: the Hub's canonical models have none)
    ['a bad repo id', 'models:\n  "a/b/c": {}\n', /models\["a\/b\/c"\]: invalid model id/],
    ['a negative size', 'minFreeSpaceGB: -5\nmodels: {}\n', /minFreeSpaceGB: /],
    ['a repo id with "--"', 'models:\n  "org--x/m": {}\n', /models\["org--x\/m"\]: invalid model id/],
    [
      'ALL mixed with GPU types',
      'models:\n  org/m: {gpu_compatible: [ALL, nvidia-l4]}\n',
      /models\["org\/m"\]\.gpu_compatible: /,
    ],
    [
      'a token in the ConfigMap',
      'hfToken: hf_secretsecretsecret123\nmodels: {}\n',
      /hfToken: must not be in the ConfigMap/,
    ],
  ];

  it.each(corpus)(
    'rejects %s with a Warning Event naming the field and keeps the plan',
    async (_what, yamlText, field) => {
      const before = await readPlanConfigMap();
      const cm = await putModelsConfig(yamlText);
      const res = await post(apiServerEvent('update', cm), 'binary');
      // a permanent error: acknowledged (2xx) so the source does not retry it
      expect(res.status).toBe(200);
      expect(res.reply?.data).toMatchObject({ action: 'rejected' });
      const uid = (cm.metadata as { uid: string }).uid;
      const rejected = (await eventsOf(MODELS)).filter(
        (e) => e.type === 'Warning' && e.reason === 'InvalidConfig' && e.involvedObject.uid === uid,
      );
      expect(rejected.map((e) => e.message)).toEqual(expect.arrayContaining([expect.stringMatching(field)]));
      expect(rejected.map((e) => e.message ?? '').join('\n')).not.toContain('hf_secretsecretsecret123');
      const after = await readPlanConfigMap();
      expect(after.resourceVersion).toBe(before.resourceVersion);
      expect(after.plan).toEqual(before.plan);
    },
  );

  it('rejects a ConfigMap without the models.yaml key, naming the key', async () => {
    const cm = await putModelsConfig('models: {}\n', 'config.yaml');
    const res = await post(apiServerEvent('update', cm), 'binary');
    expect(res.reply?.data).toMatchObject({
      action: 'rejected',
      errors: ['data.models.yaml: missing; found "config.yaml"'],
    });
    // back to the good config for the next tests
    await core.deleteNamespacedConfigMap({ namespace: ns, name: MODELS });
    await putModelsConfig(modelsYaml());
  });
});

describe('warm: other events', () => {
  it('keeps the plan when the models ConfigMap is deleted, and records why', async () => {
    const before = await readPlanConfigMap();
    const cm = await getConfigMapJson();
    const res = await post(apiServerEvent('delete', cm), 'binary');
    expect(res.status).toBe(200);
    expect(res.reply?.data).toMatchObject({ action: 'kept' });
    expect((await readPlanConfigMap()).resourceVersion).toBe(before.resourceVersion);
    const deleted = (await eventsOf(MODELS)).filter((e) => e.reason === 'ConfigDeleted');
    expect(deleted.length).toBeGreaterThanOrEqual(1);
  });

  it('refuses an event type it does not handle with a 400 that names the type', async () => {
    const event = new CloudEvent({
      type: 'dev.knative.apiserver.ref.update',
      source: kubePeer().server,
      data: { kind: 'ConfigMap' },
    });
    const res = await post(event, 'binary');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({
      error_code: 'UNSUPPORTED_EVENT_TYPE',
      message: expect.stringContaining('dev.knative.apiserver.ref.update'),
    });
    expect(logLines.some((l) => l.includes('"event refused"') && l.includes('UNSUPPORTED_EVENT_TYPE'))).toBe(true);
  });

  it('refuses a request that is not a CloudEvent with a 400', async () => {
    const res = await fetch(warmUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"hello":1}',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error_code: string }).error_code).toBe('BAD_CLOUDEVENT');
  });

  it('refuses resource events whose data is not a ConfigMap (mode Ref) with a 400', async () => {
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: MODELS, namespace: ns };
    const event = new CloudEvent({
      type: 'dev.knative.apiserver.resource.update',
      source: kubePeer().server,
      subject: `/apis/v1/namespaces/${ns}/configmaps/${MODELS}`,
      datacontenttype: 'application/json',
      data: ref,
    });
    const res = await post(event, 'binary');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({
      error_code: 'BAD_EVENT_DATA',
      message: expect.stringContaining('metadata'),
    });
  });

  it('never writes the Hub token to its logs, the plan or the Events', async () => {
    const everything = [
      logLines.join('\n'),
      JSON.stringify((await readPlanConfigMap()).plan),
      JSON.stringify(await eventsOf(MODELS)),
    ].join('\n');
    expect(everything).not.toContain(hub.tokenWithoutAccess);
    expect(logLines.length).toBeGreaterThan(0);
  });
});
