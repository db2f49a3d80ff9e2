import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { parseModelsConfig } from '../shared/config/models-config.js';
import { findSnapshot } from '../shared/hf-cache/find-snapshot.js';
import { buildPlan, serializePlan, type PlanModel } from '../shared/plan/plan.js';
import {
  adminKubeConfig,
  createTestNamespace,
  runKubectl,
  writeServiceAccountKubeconfig,
} from '../testkit/kube-helpers.js';
import type { FixtureRepo } from '../testkit/hub-server/fixtures.js';
import { freePort } from '../testkit/peers/peer-run.js';
import { HubAdmin } from '../testkit/hub-server/hub-admin.js';
import { readHub, type HubInfo } from '../testkit/peers/hub.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const READY_PREFIX = 'models.modelctl.dev/';

let hub: HubInfo;
let ns: string;
let core: CoreV1Api;
let cacheDir: string;
let agent: ChildProcess | undefined;
let agentLog = '';
let metricsPort = 0;
let hubMark = 0;
let workDir = '';
const suffix = Math.random().toString(16).slice(2, 8);
const nodeName = `gpu-l4-${suffix}`;

function planModel(repo: FixtureRepo, gpuCompatible: string[]): PlanModel {
  const files = Object.entries(repo.files)
    .map(([p, f]) => ({ path: p, size: f.size, oid: f.oid, ...(f.lfs ? { lfsSha256: f.sha256 } : {}) }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  return {
    repo: repo.id,
    revision: 'main',
    commit: repo.commit,
    files,
    totalBytes: files.reduce((s, f) => s + f.size, 0),
    allowPatterns: null,
    ignorePatterns: null,
    gpuCompatible,
    status: 'ok',
  };
}

async function publishPlan(models: PlanModel[], raw?: string): Promise<void> {
  const config = parseModelsConfig('minFreeSpaceGB: 0\ncheckIntervalSeconds: 3600\nconfigReadRetryDelaySeconds: 2\n');
  const plan = buildPlan({ config, models, source: { namespace: ns, name: 'modelctl-models' } });
  const body = {
    metadata: { name: 'modelctl-plan', namespace: ns },
    data: { 'plan.json': raw ?? serializePlan(plan) },
  };
  try {
    await core.replaceNamespacedConfigMap({ namespace: ns, name: 'modelctl-plan', body });
  } catch {
    await core.createNamespacedConfigMap({ namespace: ns, body });
  }
}

async function nodeMeta(): Promise<{ labels: Record<string, string>; annotations: Record<string, string> }> {
  const node = await core.readNode({ name: nodeName });
  return { labels: node.metadata?.labels ?? {}, annotations: node.metadata?.annotations ?? {} };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}\nagent log tail:\n${agentLog.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** knative/agent/rbac.yaml, moved to the test namespace (cluster-scoped names get a suffix). */
async function applyAgentRbac(): Promise<void> {
  const text = await readFile(path.join(root, 'knative/agent/rbac.yaml'), 'utf8');
  interface Doc {
    kind: string;
    metadata: { name: string; namespace?: string };
    roleRef?: { name: string };
    subjects?: { namespace?: string }[];
  }
  const docs = parseAllDocuments(text).map((d) => d.toJS() as Doc);
  for (const doc of docs) {
    if (doc.metadata.namespace) doc.metadata.namespace = ns;
    if (doc.kind === 'ClusterRole' || doc.kind === 'ClusterRoleBinding')
      doc.metadata.name = `${doc.metadata.name}-${ns}`;
    if (doc.kind === 'ClusterRoleBinding' && doc.roleRef) doc.roleRef.name = `${doc.roleRef.name}-${ns}`;
    for (const s of doc.subjects ?? []) s.namespace = ns;
  }
  const applied = await runKubectl(['apply', '-f', '-'], { stdin: docs.map((d) => JSON.stringify(d)).join('\n') });
  expect(applied.stderr).toBe('');
  expect(applied.code).toBe(0);
}

beforeAll(async () => {
  hub = readHub();
  core = adminKubeConfig().makeApiClient(CoreV1Api);
  ns = await createTestNamespace('agent');
  await applyAgentRbac();
  await core.createNode({ body: { metadata: { name: nodeName, labels: { 'nvidia.com/gpu.product': 'NVIDIA-L4' } } } });
  await publishPlan([planModel(hub.repos.tiny, ['nvidia-l4']), planModel(hub.repos.manyFiles, ['nvidia-tesla-a100'])]);
  const work = await mkdtemp(path.join(tmpdir(), 'agent-kube-'));
  workDir = work;
  cacheDir = path.join(work, 'hub');
  const kubeconfig = path.join(work, 'kubeconfig');
  await writeServiceAccountKubeconfig(ns, 'modelctl-agent', kubeconfig);
  metricsPort = await freePort();
  hubMark = await new HubAdmin(hub.adminUrl).mark();
  agent = spawn(path.join(root, 'bin', 'modelctl'), ['agent'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_NAME: nodeName,
      POD_NAMESPACE: ns,
      KUBECONFIG: kubeconfig,
      HF_ENDPOINT: hub.url,
      HF_HUB_CACHE: cacheDir,
      AGENT_START_JITTER_SECONDS: '0',
      AGENT_EVICTION_GRACE_SECONDS: '0',
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  agent.stdout?.on('data', (d: Buffer) => (agentLog += d.toString()));
  agent.stderr?.on('data', (d: Buffer) => (agentLog += d.toString()));
}, 120_000);

afterAll(async () => {
  if (agent && agent.exitCode === null) {
    const exited = new Promise((r) => agent!.once('exit', r));
    agent.kill('SIGTERM');
    await exited;
  }
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('modelctl agent against the real kube-apiserver', () => {
  const tinyLabel = `${READY_PREFIX}test-org--tiny-model`;
  const manyLabel = `${READY_PREFIX}test-org--many-files`;

  it('warms only the models for its GPU type and labels the Node ready, with a status annotation', async () => {
    await waitFor('tiny ready label', async () => (await nodeMeta()).labels[tinyLabel] === 'ready');
    const meta = await nodeMeta();
    expect(meta.labels[manyLabel]).toBeUndefined();
    expect(await findSnapshot({ cacheDir, repo: hub.repos.manyFiles.id })).toBeNull();
    expect((await findSnapshot({ cacheDir, repo: hub.repos.tiny.id }))?.commit).toBe(hub.repos.tiny.commit);
    const status = JSON.parse(meta.annotations['modelctl.dev/agent-status']!) as {
      gpuTypes: string[];
      source: string;
      models: { repo: string; state: string; commit: string; bytes: number }[];
    };
    expect(status.gpuTypes).toEqual(['NVIDIA-L4']);
    expect(status.source).toBe('plan');
    expect(status.models).toEqual([
      expect.objectContaining({ repo: hub.repos.tiny.id, state: 'ready', commit: hub.repos.tiny.commit }),
    ]);
    // the plan pinned commit and files: the agent made no revision or tree call, only file downloads
    const calls = (await new HubAdmin(hub.adminUrl).requests({ since: hubMark })).filter(
      (r) => r.repo === hub.repos.tiny.id,
    );
    expect(
      calls.filter((r) => r.endpoint === 'revision' || r.endpoint === 'tree' || r.endpoint === 'model-info'),
    ).toEqual([]);
    expect(calls.length).toBeGreaterThan(0);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/modelctl_agent_models\{[^}]*state="ready"[^}]*\} 1/);
    expect(metrics).toMatch(/modelctl_agent_download_bytes_total\{[^}]*\} [1-9]/);
    expect(metrics).toMatch(/modelctl_agent_cache_free_bytes\{[^}]*\} [1-9]/);
  });

  it('applies a plan change without restart: new model labelled, dropped model unlabelled and evicted, failure reported as an Event', async () => {
    const changed = Date.now();
    await publishPlan([planModel(hub.repos.manyFiles, ['ALL']), planModel(hub.repos.gated, ['ALL'])]);
    await waitFor('many-files label and tiny label gone', async () => {
      const { labels } = await nodeMeta();
      return labels[manyLabel] === 'ready' && labels[tinyLabel] === undefined;
    });
    const seconds = (Date.now() - changed) / 1000;
    process.stdout.write(`agent-kube: plan change applied on the Node in ${seconds.toFixed(1)} s\n`);
    expect(seconds).toBeLessThan(60);
    // the agent unlabels first (no new pod is scheduled for the model) and evicts after, in the same pass
    await waitFor('tiny evicted', async () => (await findSnapshot({ cacheDir, repo: hub.repos.tiny.id })) === null);
    const { labels, annotations } = await nodeMeta();
    expect(labels[`${READY_PREFIX}test-org--gated-model`]).toBeUndefined();
    const status = JSON.parse(annotations['modelctl.dev/agent-status']!) as {
      models: { repo: string; state: string; errorCode?: string }[];
    };
    expect(status.models.find((m) => m.repo === hub.repos.gated.id)).toMatchObject({
      state: 'failed',
      errorCode: expect.stringMatching(/^HUB_(GATED_REPO|UNAUTHORIZED)$/),
    });
    const events = await waitFor('a Warning Event on the Node', async () => {
      const list = await core.listNamespacedEvent({ namespace: ns });
      const mine = list.items.filter(
        (e) => e.involvedObject.kind === 'Node' && e.involvedObject.name === nodeName && e.reason === 'ModelWarmFailed',
      );
      return mine.length > 0 ? mine : undefined;
    });
    expect(events[0]!.message).toContain(hub.repos.gated.id);
    expect(agent?.exitCode).toBeNull();
  });

  it('keeps the last good plan when the published one is unreadable', async () => {
    await publishPlan([], '{not json');
    await waitFor('the agent to notice', async () => agentLog.includes('input unreadable'));
    await new Promise((r) => setTimeout(r, 3000));
    expect((await nodeMeta()).labels[manyLabel]).toBe('ready');
    expect(await findSnapshot({ cacheDir, repo: hub.repos.manyFiles.id })).not.toBeNull();
    expect(agent?.exitCode).toBeNull();
  });

  it('has the permissions it needs and no others (auth can-i as its ServiceAccount)', async () => {
    const as = `system:serviceaccount:${ns}:modelctl-agent`;
    const can = async (...args: string[]) => (await runKubectl(['auth', 'can-i', ...args], { as })).stdout.trim();
    expect(await can('get', `nodes/${nodeName}`)).toBe('yes');
    expect(await can('patch', `nodes/${nodeName}`)).toBe('yes');
    expect(await can('watch', 'configmaps/modelctl-plan', '-n', ns)).toBe('yes');
    expect(await can('get', 'configmaps/modelctl-models', '-n', ns)).toBe('yes');
    expect(await can('create', 'events', '-n', ns)).toBe('yes');
    expect(await can('delete', `nodes/${nodeName}`)).toBe('no');
    expect(await can('update', 'configmaps/modelctl-plan', '-n', ns)).toBe('no');
    expect(await can('get', 'configmaps/some-other-config', '-n', ns)).toBe('no');
    expect(await can('list', 'configmaps', '-n', ns)).toBe('no');
    expect(await can('get', 'secrets', '-n', ns)).toBe('no');
    expect(await can('create', 'pods', '-n', ns)).toBe('no');
    // listing pods (not reading their specs' secrets, not changing them): the Ready ones on its node keep models
    expect(await can('list', 'pods', '--all-namespaces')).toBe('yes');
    expect(await can('get', 'pods/x', '-n', ns)).toBe('no');
  });

  it('keeps a model the plan dropped while a Ready pod on its node serves it, and evicts it once none does', async () => {
    const many = hub.repos.manyFiles;
    const pod = 'llm-many-files';
    // what `modelctl deploy --runtime …` puts on the Revision template, which Knative copies onto its pods
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: {
          name: pod,
          labels: { 'modelctl.dev/runtime': 'vllm' },
          annotations: { 'modelctl.dev/hf-repo': many.id, 'modelctl.dev/hf-commit': many.commit },
        },
        spec: { nodeName, containers: [{ name: 'model-server', image: 'vllm/vllm-openai:v0.11.0' }] },
      },
    });
    const setReady = async (status: 'True' | 'False'): Promise<void> => {
      const body = {
        status: { conditions: [{ type: 'Ready', status, lastTransitionTime: new Date().toISOString() }] },
      };
      const result = await runKubectl([
        'patch',
        'pod',
        pod,
        '-n',
        ns,
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify(body),
      ]);
      expect(result).toMatchObject({ code: 0 });
    };
    await setReady('True');
    const mark = agentLog.length;
    await publishPlan([planModel(hub.repos.tiny, ['ALL'])]);
    await waitFor('the pass on the new plan', async () => (await nodeMeta()).labels[tinyLabel] === 'ready');
    await waitFor('the kept log line', async () =>
      agentLog.slice(mark).includes('kept: a Ready pod on this node serves it'),
    );
    expect(await findSnapshot({ cacheDir, repo: many.id })).not.toBeNull();
    // the Service scaled to zero (no Ready pod): evicted on a later pass (grace 0 here)
    await setReady('False');
    await publishPlan([planModel(hub.repos.tiny, ['ALL']), planModel(hub.repos.gated, ['ALL'])]);
    await waitFor('many-files evicted', async () => (await findSnapshot({ cacheDir, repo: many.id })) === null);
  });
});
