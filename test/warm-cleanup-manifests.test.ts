import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { createTestNamespace, runKubectl } from '../testkit/kube-helpers.js';

/**
 * The warm and cleanup manifests against the testing ground's kube-apiserver (Knative CRDs installed):
 * server-side dry-run apply and least-privilege RBAC checked with `kubectl auth can-i`. The func.yaml files
 * against the Knative func schema: deploy-func-yaml.test.ts.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');

const NAMESPACE = 'modelctl-system';

beforeAll(async () => {
  const created = await runKubectl(['create', 'namespace', NAMESPACE]);
  expect(created.code === 0 || created.stderr.includes('AlreadyExists')).toBe(true);
});

describe('knative/warm and knative/cleanup', () => {
  it.each(['knative/warm', 'knative/cleanup'])('%s applies with server-side dry-run', async (dir) => {
    const res = await runKubectl([
      'apply',
      '--dry-run=server',
      '--server-side',
      '--field-manager=modelctl-test',
      // deploy-manifests.test.ts may have installed config/dev here for real (manager modelctl-install): this
      // test checks that the schema accepts the base, not who owns the fields, so take them over (dry run)
      '--force-conflicts',
      '-k',
      path.join(repoRoot, dir),
    ]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const kinds = res.stdout.trim().split('\n');
    expect(kinds.length).toBeGreaterThanOrEqual(dir.endsWith('warm') ? 9 : 5);
    expect(kinds.every((line) => line.endsWith('serverside-applied (server dry run)'))).toBe(true);
  });

  it('has a CronJob alternative for cleanup that applies with server-side dry-run', async () => {
    const res = await runKubectl([
      'apply',
      '--dry-run=server',
      '-f',
      path.join(repoRoot, 'knative/cleanup/cronjob.yaml'),
    ]);
    expect(res.stderr).toBe('');
    expect(res.stdout).toContain('cronjob.batch/modelctl-cleanup created (server dry run)');
  });

  it('gives the ApiServerSource mode Resource and a label selector on the models ConfigMap', () => {
    const source = parse(readFileSync(path.join(repoRoot, 'knative/warm/apiserversource.yaml'), 'utf8')) as {
      spec: { mode: string; resources: { kind: string; selector: { matchLabels: Record<string, string> } }[] };
    };
    expect(source.spec.mode).toBe('Resource');
    expect(source.spec.resources).toEqual([
      expect.objectContaining({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        selector: { matchLabels: { 'modelctl.dev/config': 'models' } },
      }),
    ]);
    const models = parse(readFileSync(path.join(repoRoot, 'knative/kustomization.yaml'), 'utf8')) as {
      configMapGenerator: { name: string; options: { labels: Record<string, string> } }[];
    };
    expect(
      models.configMapGenerator.find((g) => g.name === 'modelctl-models')?.options.labels['modelctl.dev/config'],
    ).toBe('models');
  });
});

describe('warm and cleanup are reachable only inside the cluster (issue 14)', () => {
  const VISIBILITY = 'networking.knative.dev/visibility';

  it.each(['warm', 'cleanup'])('knative/%s/service.yaml and its func.yaml are cluster-local', (role) => {
    const service = parse(readFileSync(path.join(repoRoot, `knative/${role}/service.yaml`), 'utf8')) as {
      metadata: { labels?: Record<string, string> };
    };
    expect(service.metadata.labels?.[VISIBILITY]).toBe('cluster-local');
    const func = parse(readFileSync(path.join(repoRoot, `functions/${role}/func.yaml`), 'utf8')) as {
      deploy: { labels?: { key: string; value?: string }[] };
    };
    expect(func.deploy.labels).toContainEqual({ key: VISIBILITY, value: 'cluster-local' });
  });

  it.each(['config/dev', 'config/prod'])('%s keeps the label on both Services', async (overlay) => {
    const res = await runKubectl(['kustomize', path.join(repoRoot, overlay)]);
    expect(res.code).toBe(0);
    const services = res.stdout
      .split(/^---$/m)
      .map((doc) => parse(doc) as { kind?: string; metadata?: { name: string; labels?: Record<string, string> } })
      .filter((d) => d?.kind === 'Service' && /^modelctl-(warm|cleanup)$/.test(d.metadata?.name ?? ''));
    expect(services.map((s) => s.metadata?.name).sort()).toEqual(['modelctl-cleanup', 'modelctl-warm']);
    for (const s of services) expect(s.metadata?.labels?.[VISIBILITY]).toBe('cluster-local');
  });
});

describe('RBAC, least privilege', () => {
  let ns: string;
  const can = async (who: string, verb: string, resource: string) => {
    const res = await runKubectl([
      'auth',
      'can-i',
      verb,
      resource,
      '-n',
      ns,
      `--as=system:serviceaccount:${ns}:${who}`,
    ]);
    return res.stdout.trim();
  };

  beforeAll(async () => {
    ns = await createTestNamespace('rbac');
    for (const file of ['knative/warm/rbac.yaml', 'knative/cleanup/rbac.yaml']) {
      const manifest = readFileSync(path.join(repoRoot, file), 'utf8').replaceAll(
        `namespace: ${NAMESPACE}`,
        `namespace: ${ns}`,
      );
      const res = await runKubectl(['apply', '-f', '-'], { stdin: manifest });
      expect(res.code).toBe(0);
    }
  });

  it('lets warm read the models ConfigMap and write only the plan', async () => {
    expect(await can('modelctl-warm', 'get', 'configmap/modelctl-models')).toBe('yes');
    expect(await can('modelctl-warm', 'update', 'configmap/modelctl-plan')).toBe('yes');
    expect(await can('modelctl-warm', 'create', 'events')).toBe('yes');
    expect(await can('modelctl-warm', 'update', 'configmap/modelctl-models')).toBe('no');
    expect(await can('modelctl-warm', 'get', 'configmap/some-other-config')).toBe('no');
    expect(await can('modelctl-warm', 'list', 'configmaps')).toBe('no');
    expect(await can('modelctl-warm', 'get', 'secrets')).toBe('no');
    expect(await can('modelctl-warm', 'delete', 'configmap/modelctl-plan')).toBe('no');
  });

  it('lets the ApiServerSource adapter only get/list/watch ConfigMaps', async () => {
    for (const verb of ['get', 'list', 'watch'])
      expect(await can('modelctl-warm-source', verb, 'configmaps')).toBe('yes');
    expect(await can('modelctl-warm-source', 'update', 'configmaps')).toBe('no');
    expect(await can('modelctl-warm-source', 'list', 'secrets')).toBe('no');
  });

  it('lets cleanup only list pods', async () => {
    expect(await can('modelctl-cleanup', 'list', 'pods')).toBe('yes');
    expect(await can('modelctl-cleanup', 'delete', 'pods')).toBe('no');
    expect(await can('modelctl-cleanup', 'get', 'configmaps')).toBe('no');
    expect(await can('modelctl-cleanup', 'get', 'secrets')).toBe('no');
  });
});
