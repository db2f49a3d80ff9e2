import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyObject } from '../shared/k8s/apply-object.js';
import { isAppError, type AppError } from '../shared/errors/app-error.js';
import { GOLDEN_CASES, modelctl } from './golden/deploy-cases.js';
import {
  adminKubeConfig,
  createTestNamespace,
  kubePeer,
  runKubectl,
  serviceAccountToken,
} from '../testkit/kube-helpers.js';

/**
 * `modelctl deploy` against the testing ground's real kube-apiserver with the real Knative CRDs (no Knative
 * controller or webhook runs there: status is written by the test where a controller would).
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let ns: string;
const kubeconfig = (): string[] => ['--kubeconfig', kubePeer().kubeconfig];

beforeAll(async () => {
  ns = await createTestNamespace('deploy');
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function getJson(args: string[]): Promise<Record<string, any>> {
  const result = await runKubectl([...args, '-o', 'json']);
  expect(result).toMatchObject({ code: 0 });
  return JSON.parse(result.stdout);
}

/** Runs the CLI expecting failure; returns its stderr. */
async function modelctlFails(args: string[]): Promise<string> {
  const err = await modelctl(args).then(
    () => null,
    (e: { code?: number; stderr?: string }) => e,
  );
  expect(err).not.toBeNull();
  expect(err!.code).toBe(1);
  return err!.stderr ?? '';
}

async function createCachePvc(namespace: string): Promise<void> {
  const pvc = `{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"modelctl-model-cache","namespace":"${namespace}"},"spec":{"accessModes":["ReadWriteMany"],"resources":{"requests":{"storage":"1Gi"}}}}`;
  expect(await runKubectl(['apply', '-f', '-'], { stdin: pvc })).toMatchObject({ code: 0 });
}

describe('modelctl deploy (server-side apply)', () => {
  const seed = (version: string): string[] => [
    'deploy',
    '--serve-name',
    'my-model',
    '--model-uri',
    'models:/my-model/Production',
    '--artifact-version',
    version,
    '--cores',
    '4',
    '--memory',
    '8',
    '--mlflow-tracking-uri',
    'http://mlflow:5000',
    '--mlflow-secret',
    'mlflow-credentials',
    '--namespace',
    ns,
    ...kubeconfig(),
  ];

  it('creates the Service, and re-running updates it in place: no error, no duplicate', async () => {
    expect((await modelctl(seed('v1'))).stdout).toBe('service.serving.knative.dev/my-model created\n');
    expect((await modelctl(seed('v1'))).stdout).toBe('service.serving.knative.dev/my-model unchanged\n');

    const changed = await modelctl([...seed('v2'), '--cores', '2', '--max-scale', '3']);
    expect(changed.stdout.split('\n')).toEqual([
      'service.serving.knative.dev/my-model configured',
      '  ~ spec.template.metadata.annotations.autoscaling.knative.dev/max-scale',
      '  ~ spec.template.metadata.labels.modelctl.dev/artifact-version',
      '  ~ spec.template.metadata.name',
      '  ~ spec.template.spec.containers',
      '  ~ spec.template.spec.initContainers',
      '',
    ]);

    const list = await getJson(['get', 'services.serving.knative.dev', '-n', ns, '--show-managed-fields']);
    expect(list.items).toHaveLength(1);
    const service = list.items[0];
    expect(service.spec.template.metadata.name).toBe('my-model-v2');
    expect(service.spec.template.spec.containers[0].resources.limits.cpu).toBe('2');
    expect(
      service.metadata.managedFields.map((m: { manager: string; operation: string }) => [m.manager, m.operation]),
    ).toEqual([['modelctl', 'Apply']]);
  });

  it('has the API server schema accept the Service of every golden case (server-side dry run)', async () => {
    const golden = await createTestNamespace('deploy-golden');
    await createCachePvc(golden);
    for (const [name, args] of Object.entries(GOLDEN_CASES)) {
      const { stdout } = await modelctl(
        ['deploy', ...args, '--namespace', golden, '--dry-run=server', ...kubeconfig()],
        { ...process.env, MLFLOW_TRACKING_URI: 'http://mlflow.mlflow:5000' }, // the as-typed case reads it
      );
      const serviceName = args[args.indexOf('--serve-name') + 1];
      expect({ name, stdout }).toEqual({
        name,
        stdout: `service.serving.knative.dev/${serviceName} created (server dry run)\n`,
      });
    }
    // a server-side dry run persists nothing
    const list = await getJson(['get', 'services.serving.knative.dev', '-n', golden]);
    expect(list.items).toEqual([]);
  });

  it('prints the applied Service with -o json, as the API server stored it', async () => {
    const { stdout } = await modelctl([...seed('v2'), '--cores', '2', '--max-scale', '3', '-o', 'json']);
    const applied = JSON.parse(stdout);
    expect(applied.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(applied.spec.template.metadata.name).toBe('my-model-v2');
  });

  it('refuses to take over a field another manager set, unless told to', async () => {
    const patch = JSON.stringify({
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: 'my-model', namespace: ns },
      spec: { template: { metadata: { annotations: { 'autoscaling.knative.dev/max-scale': '7' } } } },
    });
    expect(
      await runKubectl(['apply', '--server-side', '--field-manager=platform-team', '--force-conflicts', '-f', '-'], {
        stdin: patch,
      }),
    ).toMatchObject({ code: 0 });

    const stderr = await modelctlFails([...seed('v2'), '--cores', '2', '--max-scale', '3']);
    expect(stderr).toMatch(/another field manager owns these fields; re-run with --force-conflicts/);
    expect(stderr).toMatch(/platform-team/);

    const forced = await modelctl([...seed('v2'), '--cores', '2', '--max-scale', '3', '--force-conflicts']);
    expect(forced.stdout).toBe(
      'service.serving.knative.dev/my-model configured\n  ~ spec.template.metadata.annotations.autoscaling.knative.dev/max-scale\n',
    );
  });

  it('says which PVC is missing for the pvc strategy, before applying anything', async () => {
    const other = await createTestNamespace('deploy-nopvc');
    const stderr = await modelctlFails([
      'deploy',
      ...GOLDEN_CASES['mlflow-run-pvc']!,
      '--namespace',
      other,
      ...kubeconfig(),
    ]);
    expect(stderr).toContain(`PersistentVolumeClaim ${other}/modelctl-model-cache does not exist`);
    const list = await getJson(['get', 'services.serving.knative.dev', '-n', other]);
    expect(list.items).toEqual([]);
  });

  it('tells a user without rights which permission to ask for', async () => {
    const token = await serviceAccountToken(ns, 'no-rights');
    const { server, caFile } = kubePeer();
    const file = path.join(path.dirname(kubePeer().kubeconfig), `no-rights-${ns}.kubeconfig`);
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server, 'certificate-authority': caFile } }],
        users: [{ name: 'u', user: { token } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u', namespace: ns } }],
        'current-context': 'x',
      }),
      { mode: 0o600 },
    );
    const stderr = await modelctlFails([
      'deploy',
      '--serve-name',
      'denied',
      '--model-uri',
      'models:/denied/1',
      '--mlflow-tracking-uri',
      'http://mlflow:5000',
      '--kubeconfig',
      file,
    ]);
    expect(stderr).toMatch(/forbidden/);
    expect(stderr).toContain(`system:serviceaccount:${ns}:no-rights`);
    expect(stderr).toContain(
      `ask a cluster admin for a Role granting get, patch (and create) on services.serving.knative.dev in namespace ${ns}`,
    );
    expect(stderr).not.toContain(token);
  });

  it('waits for Ready and prints the URL once the controller reports the current generation', async () => {
    const child = spawn(path.join(repoRoot, 'bin/modelctl'), [
      'deploy',
      '--serve-name',
      'waited',
      '--model-uri',
      'models:/waited/1',
      '--mlflow-tracking-uri',
      'http://mlflow:5000',
      '--namespace',
      ns,
      '--wait',
      '--wait-timeout',
      '90',
      ...kubeconfig(),
    ]);
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // 1. the Service appears; 2. a stale Ready (older generation) must not end the wait; 3. the current one does
    const generation = await pollGeneration('waited');
    await setStatus('waited', { observedGeneration: generation - 1, url: 'http://stale', ready: 'True' });
    await new Promise((r) => setTimeout(r, 3000));
    expect(child.exitCode).toBeNull();
    await setStatus('waited', {
      observedGeneration: generation,
      url: `http://waited.${ns}.example.com`,
      ready: 'True',
    });
    expect(await exited).toBe(0);
    expect(stdout).toBe(
      `service.serving.knative.dev/waited created\nwaited is ready: http://waited.${ns}.example.com\n`,
    );
  });

  it('stops waiting with Knative’s reason when the Service fails', async () => {
    const child = spawn(path.join(repoRoot, 'bin/modelctl'), [
      'deploy',
      '--serve-name',
      'failing',
      '--model-uri',
      'models:/failing/1',
      '--mlflow-tracking-uri',
      'http://mlflow:5000',
      '--namespace',
      ns,
      '--wait',
      ...kubeconfig(),
    ]);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const generation = await pollGeneration('failing');
    await setStatus('failing', {
      observedGeneration: generation,
      ready: 'False',
      reason: 'RevisionFailed',
      message: 'Revision "failing-00001" failed with message: Back-off pulling image.',
    });
    expect(await exited).toBe(1);
    expect(stderr).toContain(
      'failing is not ready: RevisionFailed: Revision "failing-00001" failed with message: Back-off pulling image.',
    );
  });
});

async function pollGeneration(name: string): Promise<number> {
  for (let i = 0; i < 300; i++) {
    const result = await runKubectl([
      'get',
      'services.serving.knative.dev',
      name,
      '-n',
      ns,
      '-o',
      'jsonpath={.metadata.generation}',
    ]);
    if (result.code === 0 && result.stdout !== '') return Number(result.stdout);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`Service ${name} never appeared`);
}

/** What the Knative controller would write (there is none in the testing ground). */
async function setStatus(
  name: string,
  s: { observedGeneration: number; url?: string; ready: 'True' | 'False'; reason?: string; message?: string },
): Promise<void> {
  const status = {
    observedGeneration: s.observedGeneration,
    ...(s.url ? { url: s.url } : {}),
    conditions: [
      {
        type: 'Ready',
        status: s.ready,
        lastTransitionTime: new Date().toISOString(),
        ...(s.reason ? { reason: s.reason, message: s.message } : {}),
      },
    ],
  };
  const result = await runKubectl([
    'patch',
    'services.serving.knative.dev',
    name,
    '-n',
    ns,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status }),
  ]);
  expect(result).toMatchObject({ code: 0 });
}

describe('applyObject errors, as the API server sends them', () => {
  async function applyError(object: Record<string, unknown>): Promise<AppError> {
    const err = await applyObject({ kubeConfig: adminKubeConfig(), object, fieldManager: 'modelctl-test' }).then(
      () => null,
      (e: unknown) => e,
    );
    if (!isAppError(err)) throw new Error(`expected an AppError, got ${String(err)}`);
    return err;
  }

  it('names a missing CRD, for a kind of a served group and for a group not served at all', async () => {
    const kind = await applyError({
      apiVersion: 'serving.knative.dev/v1',
      kind: 'DomainMapping',
      metadata: { name: 'x', namespace: ns },
    });
    expect(kind.code).toBe('CRD_MISSING');
    expect(kind.message).toMatch(/does not serve serving.knative.dev\/v1 DomainMapping: is Knative Serving installed/);
    const group = await applyError({
      apiVersion: 'eventing.knative.dev/v1',
      kind: 'Trigger',
      metadata: { name: 'x', namespace: ns },
    });
    expect(group.code).toBe('CRD_MISSING');
    expect(group.message).toContain('kubectl api-resources --api-group=eventing.knative.dev');
  });

  it('lists each invalid field the schema refused', async () => {
    const named = await applyError({
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: 'bad_name', namespace: ns },
      spec: {},
    });
    expect({ code: named.code, message: named.message }).toEqual({
      code: 'INVALID_OBJECT',
      message: expect.stringMatching(/refused Service .*\/bad_name:\n {2}metadata\.name: /),
    });
  });

  it('names the field of a wrong type, which server-side apply checks before the schema', async () => {
    const err = await applyError({
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: 'bad', namespace: ns },
      spec: { template: { spec: { containerConcurrency: 'many', containers: [{ image: 'x' }] } } },
    });
    expect({ code: err.code, message: err.message }).toEqual({
      code: 'INVALID_OBJECT',
      message: expect.stringMatching(
        /refused Service .*\/bad:\n {2}spec\.template\.spec\.containerConcurrency: expected numeric/,
      ),
    });
  });
});
