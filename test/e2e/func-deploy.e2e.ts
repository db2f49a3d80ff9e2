import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { entryKey, entryPaths } from '../../shared/model-cache/cache-layout.js';
import { touchLastUsed } from '../../shared/model-cache/last-used.js';
import { writeManifest } from '../../shared/model-cache/manifest.js';
import { REPO_ROOT, getJson, knServiceList, kubectl, sh, waitFor, waitReady } from '../../testkit/e2e/cluster.js';

/**
 * Issue 17 (5): `func deploy --build=false --image …` of functions/warm and functions/cleanup, with the `func` built
 * from Knative's release source (cluster/build.sh), makes Ready Knative Services from their func.yaml on the real
 * cluster, and `kn service list` (also built from source) shows them Ready.
 *
 * In a namespace of its own: each func.yaml names modelctl-system both as its namespace and as where it is deployed
 * (`deploy.namespace`), and `func deploy --namespace other` would first UNDEPLOY the function from modelctl-system.
 * So the test deploys copies whose two namespace fields name this test's namespace, and brings what the
 * descriptors refer to: the ServiceAccounts (cleanup's Role: list pods), the HF token Secret, the cache PVC (on a
 * hostPath PV of its own, so the test sees the cache on the node's disk). Then a PingSource, which func.yaml cannot
 * describe, fires the func-deployed cleanup on that PVC.
 */
const NS = 'modelctl-func';
const IMAGE = 'dev.local/modelctl:e2e';
const PV = 'modelctl-func-model-cache';
const FUNC = path.join(REPO_ROOT, 'knative', 'func.sh');

interface KnativeService {
  metadata: { labels?: Record<string, string> };
  spec: {
    template: {
      metadata: { annotations?: Record<string, string> };
      spec: {
        serviceAccountName?: string;
        containers: {
          image: string;
          env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
          volumeMounts?: { name: string; mountPath: string }[];
          readinessProbe?: { httpGet?: { path: string } };
        }[];
        volumes?: { name: string; persistentVolumeClaim?: { claimName: string } }[];
      };
    };
  };
}

/** What both func-deployed roles share: our image, the role, readiness, its account, cluster-local, one pod at most. */
function expectRoleService(ksvc: KnativeService, name: 'warm' | 'cleanup'): void {
  const { metadata, spec } = ksvc.spec.template;
  const [container] = spec.containers;
  expect(container?.image).toBe(IMAGE);
  expect(container?.env).toContainEqual({ name: 'MODELCTL_ROLE', value: name });
  expect(container?.readinessProbe?.httpGet?.path).toBe('/health/readiness');
  expect(spec.serviceAccountName).toBe(`modelctl-${name}`);
  expect(ksvc.metadata.labels?.['networking.knative.dev/visibility']).toBe('cluster-local');
  expect(metadata.annotations?.['autoscaling.knative.dev/max-scale']).toBe('1');
}

/** warm: HF_TOKEN from the modelctl-hf-token Secret. */
function expectHfTokenFromSecret(ksvc: KnativeService): void {
  expect(ksvc.spec.template.spec.containers[0]?.env).toContainEqual({
    name: 'HF_TOKEN',
    valueFrom: { secretKeyRef: { name: 'modelctl-hf-token', key: 'HF_TOKEN' } },
  });
}

/** cleanup: the model cache's PVC mounted at /model-cache. */
function expectCacheMounted(ksvc: KnativeService): void {
  const { spec } = ksvc.spec.template;
  const volume = spec.volumes?.find((v) => v.persistentVolumeClaim?.claimName === 'modelctl-model-cache');
  expect(volume).toBeDefined();
  expect(spec.containers[0]?.volumeMounts).toContainEqual({ name: volume?.name, mountPath: '/model-cache' });
}

/** The copy of functions/NAME/func.yaml this test deploys: the same descriptor, its namespaces set to NS. */
async function copyDescriptor(work: string, name: 'warm' | 'cleanup'): Promise<string> {
  const f = parse(await readFile(path.join(REPO_ROOT, 'functions', name, 'func.yaml'), 'utf8')) as {
    namespace: string;
    deploy: { namespace: string };
  };
  expect([f.namespace, f.deploy.namespace]).toEqual(['modelctl-system', 'modelctl-system']);
  f.namespace = NS;
  f.deploy.namespace = NS;
  const dir = path.join(work, name);
  await mkdir(dir);
  await writeFile(path.join(dir, 'func.yaml'), stringify(f));
  return dir;
}

/** What the descriptors refer to, in NS: ServiceAccounts, the token Secret, the cache PVC bound to a PV of ours. */
function prerequisites(cacheDir: string): string {
  const objects = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    ...['modelctl-warm', 'modelctl-cleanup'].map((name) => ({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name, namespace: NS },
    })),
    // knative/cleanup/rbac.yaml's Role: cleanup lists the namespace's pods to keep the entries they use
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'modelctl-cleanup', namespace: NS },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'modelctl-cleanup', namespace: NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'modelctl-cleanup' },
      subjects: [{ kind: 'ServiceAccount', name: 'modelctl-cleanup', namespace: NS }],
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'modelctl-hf-token', namespace: NS },
      // warm refuses an empty HF_TOKEN; nothing here reaches the Hub
      stringData: { HF_TOKEN: 'hf_unused_by_this_test' },
    },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: PV },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteMany'],
        persistentVolumeReclaimPolicy: 'Delete',
        storageClassName: '',
        hostPath: { path: cacheDir, type: 'Directory' },
        claimRef: { namespace: NS, name: 'modelctl-model-cache' },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'modelctl-model-cache', namespace: NS },
      spec: {
        accessModes: ['ReadWriteMany'],
        storageClassName: '',
        volumeName: PV,
        resources: { requests: { storage: '1Gi' } },
      },
    },
  ];
  return objects.map((o) => stringify(o)).join('---\n');
}

/** One complete cache entry as fetch leaves it (model file, manifest, last-used), last used `ageDays` ago. */
async function writeEntry(cacheRoot: string, label: string, ageDays: number): Promise<string> {
  const key = entryKey('mlflow', ['http://mlflow.e2e', label]);
  const paths = entryPaths(cacheRoot, key);
  await mkdir(paths.modelDir, { recursive: true });
  await writeFile(path.join(paths.modelDir, 'model.onnx'), Buffer.alloc(1024, 7));
  const when = new Date(Date.now() - ageDays * 86_400_000);
  await writeManifest(paths.dir, {
    format: 1,
    key,
    kind: 'mlflow',
    source: { uri: `models:/${label}/1`, resolved: `mlflow-artifacts:/1/${label}/artifacts` },
    files: [],
    totalBytes: 1024,
    createdAt: when.toISOString(),
    createdBy: { host: 'func-deploy-e2e', pid: process.pid },
  });
  await touchLastUsed(paths.dir, when);
  return paths.dir;
}

/**
 * config-features' PVC flags (knative/features, what cluster/README.md tells a func user to apply): cleanup's func.yaml
 * mounts the cache PVC writable. Applied as `make deploy` does (server-side, field manager modelctl-install), then
 * waits until the webhook, which reads the flags from its informer, accepts such a pod spec (a server-side dry run).
 */
async function enablePvcFeatures(): Promise<void> {
  await kubectl(
    'apply',
    '--server-side',
    '--field-manager=modelctl-install',
    '--force-conflicts',
    '-k',
    path.join(REPO_ROOT, 'knative', 'features'),
  );
  const probe = stringify({
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name: 'modelctl-func-pvc-probe', namespace: NS },
    spec: {
      template: {
        spec: {
          containers: [{ image: IMAGE, volumeMounts: [{ name: 'cache', mountPath: '/cache' }] }],
          volumes: [{ name: 'cache', persistentVolumeClaim: { claimName: 'modelctl-model-cache' } }],
        },
      },
    },
  });
  const kubectlSh = path.join(REPO_ROOT, 'knative', 'kubectl.sh');
  await waitFor('the webhook to accept a writable PVC', async () =>
    sh('bash', [kubectlSh, 'apply', '--dry-run=server', '-f', '-'], { input: probe }).then(() => true),
  );
}

async function removeAll(): Promise<void> {
  await kubectl('delete', 'namespace', NS, '--ignore-not-found', '--wait=true', '--timeout=180s');
  await kubectl('delete', 'pv', PV, '--ignore-not-found');
}

describe('func deploy --build=false of warm and cleanup', () => {
  let work = '';
  let cacheDir = '';
  const dirs: Partial<Record<'warm' | 'cleanup', string>> = {};

  beforeAll(async () => {
    // kn and func from Knative's release source: cached after the first build (cold: minutes each)
    await sh('bash', [path.join(REPO_ROOT, 'cluster', 'clients.sh'), 'kn', 'func'], { timeoutMs: 1_800_000 });
    await removeAll(); // a run that died before its afterAll
    work = await mkdtemp(path.join(os.tmpdir(), 'modelctl-func-e2e-'));
    cacheDir = path.join(work, 'model-cache');
    await mkdir(cacheDir);
    await chmod(cacheDir, 0o777); // the image runs as node (1000); func.yaml sets no fsGroup
    await sh('bash', [path.join(REPO_ROOT, 'knative', 'kubectl.sh'), 'apply', '-f', '-'], {
      input: prerequisites(cacheDir),
    });
    await enablePvcFeatures(); // a fresh cluster has them off (CI runs this file before any `make deploy`)
    dirs.warm = await copyDescriptor(work, 'warm');
    dirs.cleanup = await copyDescriptor(work, 'cleanup');
  }, 2_100_000);

  afterAll(async () => {
    for (const dir of Object.values(dirs)) {
      await sh('bash', [FUNC, 'delete', '--path', dir]).catch(() => undefined);
    }
    await removeAll().catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  }, 300_000);

  test.each(['warm', 'cleanup'] as const)(
    'func deploy of functions/%s: a Ready Knative Service built from its func.yaml',
    async (name) => {
      const dir = dirs[name] ?? '';
      await sh('bash', [FUNC, 'deploy', '--path', dir, '--build=false', '--push=false', '--image', IMAGE], {
        timeoutMs: 300_000,
      });
      await waitReady('ksvc', NS, `modelctl-${name}`);

      const ksvc = await getJson<KnativeService>('ksvc', `modelctl-${name}`, '-n', NS);
      expectRoleService(ksvc, name);
      if (name === 'warm') expectHfTokenFromSecret(ksvc);
      else expectCacheMounted(ksvc);
    },
    600_000,
  );

  test('kn service list shows both Ready', async () => {
    const rows = await knServiceList(NS);
    const byName = Object.fromEntries(rows.map((r) => [r['NAME'], r]));
    expect(Object.keys(byName).sort()).toEqual(['modelctl-cleanup', 'modelctl-warm']);
    for (const row of rows) {
      expect([row['NAME'], row['READY']]).toEqual([row['NAME'], 'True']);
      expect(row['URL']).toBe(`http://${row['NAME']}.${NS}.svc.cluster.local`);
    }
  });

  test('a PingSource fires the func-deployed cleanup: an expired entry of its PVC goes, a recent one stays', async () => {
    const expired = await writeEntry(cacheDir, 'expired', 30); // func.yaml: TTL_DAYS 7
    const recent = await writeEntry(cacheDir, 'recent', 1);
    await sh('chown', ['-R', '1000:1000', cacheDir]); // cleanup runs as node (1000) and moves entries out
    await sh('bash', [path.join(REPO_ROOT, 'knative', 'kubectl.sh'), 'apply', '-f', '-'], {
      input: stringify({
        apiVersion: 'sources.knative.dev/v1',
        kind: 'PingSource',
        metadata: { name: 'modelctl-func-cleanup', namespace: NS },
        spec: {
          schedule: '* * * * *',
          contentType: 'application/json',
          data: '{"pass":"func-deploy-e2e"}',
          sink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'modelctl-cleanup' } },
        },
      }),
    });
    await waitReady('pingsource', NS, 'modelctl-func-cleanup');
    await waitFor(
      'cleanup (fired by the PingSource) to evict the expired entry',
      async () => (existsSync(expired) ? undefined : true),
      {
        timeoutMs: 240_000,
        intervalMs: 5000,
        describe: () =>
          kubectl('logs', '-n', NS, '-l', 'serving.knative.dev/service=modelctl-cleanup', '-c', 'user-container'),
      },
    );
    expect(existsSync(path.join(recent, 'manifest.json'))).toBe(true);
    // and it was cleanup's TTL pass that removed it (its JSON log line), not anything else
    const logs = await kubectl(
      ...['logs', '-n', NS, '-l', 'serving.knative.dev/service=modelctl-cleanup', '-c', 'user-container'],
      '--tail=-1',
    );
    const removed = logs
      .split('\n')
      .filter((l) => l.includes('"entry removed"'))
      .map((l) => JSON.parse(l) as { key: string; reason: string });
    expect(removed).toEqual([expect.objectContaining({ key: path.basename(expired), reason: 'ttl' })]);
  }, 400_000);
});
