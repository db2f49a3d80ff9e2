import { beforeAll, describe, expect, it } from '@jest/globals';
import { ApiException, CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api, Watch } from '@kubernetes/client-node';
import {
  adminKubeConfig,
  createTestNamespace,
  kubeConfigAsServiceAccount,
  kubePeer,
  runKubectl,
  serviceAccountToken,
} from '../testkit/kube-helpers.js';

/** The status code of a rejected client-node call (fails the test if the call succeeded). */
async function rejectionOf(call: Promise<unknown>): Promise<ApiException<unknown>> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ApiException) return err;
    throw err;
  }
  throw new Error('the API server accepted a request it should have refused');
}

function knativeService(name: string, containers: unknown): Record<string, unknown> {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name },
    spec: {
      template: {
        metadata: { annotations: { 'autoscaling.knative.dev/min-scale': '0' } },
        spec: { containers },
      },
    },
  };
}

describe('the kube peer', () => {
  it('serves the pinned release to the pinned kubectl', async () => {
    const { version } = kubePeer();
    const res = await runKubectl(['version', '--output=json']);
    expect(res.code).toBe(0);
    const reported = JSON.parse(res.stdout) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(version).toMatch(/^v1\.\d+\.\d+$/);
    expect(reported.clientVersion.gitVersion).toBe(version);
    expect(reported.serverVersion.gitVersion).toBe(version);
  });

  it('has every Knative CRD Established', async () => {
    const { crds } = kubePeer();
    expect(crds).toEqual(
      expect.arrayContaining([
        'services.serving.knative.dev',
        'apiserversources.sources.knative.dev',
        'pingsources.sources.knative.dev',
      ]),
    );
    const res = await runKubectl([
      'get',
      'crd',
      ...crds,
      '--output=jsonpath={.items[*].status.conditions[?(@.type=="Established")].status}',
    ]);
    expect(res.code).toBe(0);
    expect(res.stdout.split(' ')).toEqual(crds.map(() => 'True'));
  });
});

describe('Knative resources against the real CRD schemas', () => {
  let namespace: string;
  let custom: CustomObjectsApi;
  beforeAll(async () => {
    namespace = await createTestNamespace('kube-smoke');
    custom = adminKubeConfig().makeApiClient(CustomObjectsApi);
  });

  it('accepts a Knative Service and applies the schema defaults', async () => {
    const body = knativeService('iris', [
      { image: 'registry.example/modelctl:1', ports: [{ containerPort: 8080 }], bogus: 1 },
    ]);
    await custom.createNamespacedCustomObject({
      group: 'serving.knative.dev',
      version: 'v1',
      namespace,
      plural: 'services',
      body,
    });
    const stored = (await custom.getNamespacedCustomObject({
      group: 'serving.knative.dev',
      version: 'v1',
      namespace,
      plural: 'services',
      name: 'iris',
    })) as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } };
    const container = stored.spec.template.spec.containers[0]!;
    expect(container.image).toBe('registry.example/modelctl:1');
    // defaulted and pruned by the structural schema: proof the CRD's schema, not a permissive one, is in force
    expect(container.ports).toEqual([{ containerPort: 8080, protocol: 'TCP' }]);
    expect(container).not.toHaveProperty('bogus');
  });

  it('rejects a Knative Service whose containers are not a list', async () => {
    const body = knativeService('not-a-list', 'registry.example/modelctl:1');
    const err = await rejectionOf(
      custom.createNamespacedCustomObject({
        group: 'serving.knative.dev',
        version: 'v1',
        namespace,
        plural: 'services',
        body,
      }),
    );
    expect(err.code).toBe(422);
    expect(JSON.stringify(err.body)).toContain('spec.template.spec.containers');
  });

  it('rejects a Knative Service whose container port is a word', async () => {
    const body = knativeService('port-word', [
      { image: 'registry.example/modelctl:1', ports: [{ containerPort: 'http' }] },
    ]);
    const res = await runKubectl(['create', `--namespace=${namespace}`, '--filename=-'], {
      stdin: JSON.stringify(body),
    });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('spec.template.spec.containers[0].ports[0].containerPort');
  });

  it('accepts an ApiServerSource watching labelled ConfigMaps', async () => {
    const body = {
      apiVersion: 'sources.knative.dev/v1',
      kind: 'ApiServerSource',
      metadata: { name: 'models-config' },
      spec: {
        mode: 'Resource',
        serviceAccountName: 'warm',
        resources: [
          { apiVersion: 'v1', kind: 'ConfigMap', selector: { matchLabels: { 'modelctl.dev/config': 'models' } } },
        ],
        sink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'warm' } },
      },
    };
    await custom.createNamespacedCustomObject({
      group: 'sources.knative.dev',
      version: 'v1',
      namespace,
      plural: 'apiserversources',
      body,
    });
    const res = await runKubectl([
      'get',
      'apiserversources.sources.knative.dev/models-config',
      `--namespace=${namespace}`,
      '--output=json',
    ]);
    expect(res.code).toBe(0);
    expect((JSON.parse(res.stdout) as typeof body).spec.resources).toEqual(body.spec.resources);
  });

  it('rejects an ApiServerSource without resources', async () => {
    const body = {
      apiVersion: 'sources.knative.dev/v1',
      kind: 'ApiServerSource',
      metadata: { name: 'no-resources' },
      spec: { mode: 'Resource', sink: { ref: { apiVersion: 'v1', kind: 'Service', name: 'warm' } } },
    };
    const err = await rejectionOf(
      custom.createNamespacedCustomObject({
        group: 'sources.knative.dev',
        version: 'v1',
        namespace,
        plural: 'apiserversources',
        body,
      }),
    );
    expect(err.code).toBe(422);
    expect(JSON.stringify(err.body)).toContain('spec.resources');
  });

  it('accepts an hourly PingSource with JSON data', async () => {
    const body = {
      apiVersion: 'sources.knative.dev/v1',
      kind: 'PingSource',
      metadata: { name: 'warm-hourly' },
      spec: {
        schedule: '0 * * * *',
        timezone: 'Etc/UTC',
        contentType: 'application/json',
        data: '{"reason":"resync"}',
        sink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'warm' } },
      },
    };
    await custom.createNamespacedCustomObject({
      group: 'sources.knative.dev',
      version: 'v1',
      namespace,
      plural: 'pingsources',
      body,
    });
    const stored = (await custom.getNamespacedCustomObject({
      group: 'sources.knative.dev',
      version: 'v1',
      namespace,
      plural: 'pingsources',
      name: 'warm-hourly',
    })) as typeof body;
    expect(stored.spec).toEqual(body.spec);
  });
});

describe('RBAC for a ServiceAccount that may only read ConfigMaps', () => {
  let namespace: string;
  const sa = 'reader';
  beforeAll(async () => {
    namespace = await createTestNamespace('kube-rbac');
    const admin = adminKubeConfig();
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: 'configmap-reader' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'configmap-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-reader' },
        subjects: [{ kind: 'ServiceAccount', name: sa, namespace }],
      },
    });
    await admin.makeApiClient(CoreV1Api).createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'models' }, data: { 'models.yaml': 'models: {}\n' } },
    });
  });

  it('reads ConfigMaps with its TokenRequest token and is Forbidden to create one', async () => {
    const core = (await kubeConfigAsServiceAccount(namespace, sa)).makeApiClient(CoreV1Api);
    const list = await core.listNamespacedConfigMap({ namespace });
    expect(list.items.map((cm) => cm.metadata?.name)).toContain('models');
    const cm = await core.readNamespacedConfigMap({ namespace, name: 'models' });
    expect(cm.data).toEqual({ 'models.yaml': 'models: {}\n' });
    const err = await rejectionOf(
      core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'sneaky' } } }),
    );
    expect(err.code).toBe(403);
    expect(JSON.stringify(err.body)).toContain(`system:serviceaccount:${namespace}:${sa}`);
  });

  it('cannot read ConfigMaps of another namespace', async () => {
    const core = (await kubeConfigAsServiceAccount(namespace, sa)).makeApiClient(CoreV1Api);
    const err = await rejectionOf(core.listNamespacedConfigMap({ namespace: 'default' }));
    expect(err.code).toBe(403);
  });

  it('answers kubectl auth can-i as the ServiceAccount: get/list yes, create no', async () => {
    const as = `system:serviceaccount:${namespace}:${sa}`;
    const canList = await runKubectl(['auth', 'can-i', 'list', 'configmaps', `--namespace=${namespace}`], { as });
    expect([canList.code, canList.stdout.trim()]).toEqual([0, 'yes']);
    const canGet = await runKubectl(['auth', 'can-i', 'get', 'configmaps/models', `--namespace=${namespace}`], { as });
    expect([canGet.code, canGet.stdout.trim()]).toEqual([0, 'yes']);
    const canCreate = await runKubectl(['auth', 'can-i', 'create', 'configmaps', `--namespace=${namespace}`], { as });
    expect([canCreate.code, canCreate.stdout.trim()]).toEqual([1, 'no']);
  });

  it('lets kubectl with the ServiceAccount token get ConfigMaps and refuses a create', async () => {
    const token = await serviceAccountToken(namespace, sa);
    const get = await runKubectl(['get', 'configmap', 'models', `--namespace=${namespace}`, '--output=name'], {
      token,
    });
    expect([get.code, get.stdout.trim()]).toEqual([0, 'configmap/models']);
    const create = await runKubectl(['create', 'configmap', 'sneaky', `--namespace=${namespace}`], { token });
    expect(create.code).not.toBe(0);
    expect(create.stderr).toMatch(/forbidden/i);
    expect(create.stderr).not.toContain(token);
  });
});

describe('a control plane without controllers', () => {
  let namespace: string;
  beforeAll(async () => {
    namespace = await createTestNamespace('kube-bare');
  });

  it('accepts a Node and a Pod bound to it, and the Pod stays Pending', async () => {
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    const node = `gpu-node-${namespace}`;
    await core.createNode({
      body: { metadata: { name: node, labels: { 'cloud.google.com/gke-accelerator': 'nvidia-l4' } } },
    });
    // no "default" ServiceAccount exists (no controller creates it): the ServiceAccount admission is off
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'serve' },
        spec: { nodeName: node, containers: [{ name: 'serve', image: 'registry.example/modelctl:1' }] },
      },
    });
    const pod = await core.readNamespacedPod({ namespace, name: 'serve' });
    expect(pod.spec?.nodeName).toBe(node);
    expect(pod.status?.phase).toBe('Pending');
  });

  it('streams ConfigMap changes to a client-node watch', async () => {
    const kc = adminKubeConfig();
    const seen: string[] = [];
    let settle!: (err?: unknown) => void;
    const added = new Promise<void>((resolve, reject) => {
      settle = (err) => (err ? reject(err as Error) : resolve());
    });
    const controller = await new Watch(kc).watch(
      `/api/v1/namespaces/${namespace}/configmaps`,
      {},
      (phase, obj: { metadata?: { name?: string } }) => {
        seen.push(`${phase} ${obj.metadata?.name}`);
        if (phase === 'ADDED' && obj.metadata?.name === 'plan') settle();
      },
      (err: unknown) => settle(err ?? new Error('the watch ended before the ConfigMap arrived')),
    );
    try {
      await kc
        .makeApiClient(CoreV1Api)
        .createNamespacedConfigMap({ namespace, body: { metadata: { name: 'plan' }, data: { a: 'b' } } });
      await added;
    } finally {
      controller.abort();
    }
    expect(seen).toEqual(['ADDED plan']);
  });
});
