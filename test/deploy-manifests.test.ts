import { beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { parseModelsConfigMapData } from '../shared/config/models-config.js';
import { requiredFeatures } from '../functions/deploy/required-features.js';
import { kubePeer, runKubectl } from '../testkit/kube-helpers.js';

/**
 * The cluster side as `make render|deploy|undeploy ENV=dev|prod` ships it (knative/ base, config/ overlays,
 * knative/install.sh with the pinned kubectl), checked against the testing ground's kube-apiserver with the
 * real Knative CRDs.
 *
 * This file applies config/dev for real into the fixed namespace modelctl-system (and the flags into
 * knative-serving); nothing else in the run may use those namespaces. `undeploy` is checked as a server-side
 * dry run: without a namespace controller a deleted namespace would stay Terminating for the rest of the run.
 */

const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SYSTEM_NS = 'modelctl-system';
const HF_TOKEN = 'hf_modelctlTestToken0123456789';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Environment of the scripts: the peer's kubeconfig; knative/kubectl.sh finds the pinned kubectl itself. */
function scriptEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const kube = kubePeer();
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.KUBECTL;
  return {
    ...env,
    KUBECONFIG: kube.kubeconfig,
    KUBECACHEDIR: path.join(path.dirname(kube.kubeconfig), 'kubectl-cache'),
    ...extra,
  };
}

async function run(
  command: string,
  args: string[],
  extra: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(command, args, {
    cwd: repoRoot,
    env: scriptEnv(extra),
    maxBuffer: 64 * 1024 * 1024,
    timeout: 300_000,
  });
}

/** What `make deploy ENV=…` installs: the overlay rendered by knative/install.sh (kustomize + scripts/render-install.js). */
async function render(envName: string): Promise<Obj[]> {
  const { stdout } = await run('bash', ['knative/install.sh', 'render', envName]);
  return parseAllDocuments(stdout).map((doc) => doc.toJS() as Obj);
}

/** `kind/name` as `kubectl apply` prints it: `deployment.apps/x`, `service.serving.knative.dev/y`, `configmap/z`. */
function kubectlName(o: Obj): string {
  const group = String(o.apiVersion).includes('/') ? String(o.apiVersion).split('/')[0] : '';
  return `${String(o.kind).toLowerCase()}${group ? `.${group}` : ''}/${o.metadata.name}`;
}

function podSpecOf(o: Obj): Obj | undefined {
  return o.kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template?.spec : o.spec?.template?.spec;
}

async function ensureNamespace(name: string): Promise<void> {
  const ns = JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  expect(await runKubectl(['apply', '--server-side', '--field-manager=test', '-f', '-'], { stdin: ns })).toMatchObject({
    code: 0,
  });
}

const rendered: Record<string, Obj[]> = {};

beforeAll(async () => {
  rendered.dev = await render('dev');
  rendered.prod = await render('prod');
  // a cluster with Knative has this namespace; modelctl's flags go into its config-features
  await ensureNamespace('knative-serving');
}, 300_000);

describe('knative/kubectl.sh', () => {
  it('runs the kubectl pinned in testkit/peers/kube/go.mod, the build the testing ground uses', async () => {
    const { stdout } = await run('bash', ['knative/kubectl.sh', 'version', '--client', '-o', 'json']);
    const pinned = /^\s*k8s\.io\/kubernetes (v\S+)$/m.exec(
      readFileSync(path.join(repoRoot, 'testkit/peers/kube/go.mod'), 'utf8'),
    )?.[1];
    expect((JSON.parse(stdout) as Obj).clientVersion.gitVersion).toBe(pinned);
    expect(pinned).toBe(kubePeer().version);
    const { stdout: binDir } = await run('bash', ['testkit/peers/ensure-kube.sh', '--print-bin-dir']);
    expect(path.join(binDir.trim(), 'kubectl')).toBe(kubePeer().kubectl);
  });
});

describe.each(['dev', 'prod'])('config/%s', (envName) => {
  const objects = (): Obj[] => rendered[envName]!;
  const models = (): Obj =>
    parseModelsConfigMapData(objects().find((o) => o.metadata.name === 'modelctl-models')!.data);

  it('puts every namespaced object in modelctl-system, except the flags in knative-serving', () => {
    const namespaces = new Set(
      objects()
        .filter((o) => o.metadata.namespace)
        .map((o) => `${o.metadata.namespace}`),
    );
    expect([...namespaces].sort()).toEqual(['knative-serving', SYSTEM_NS]);
    expect(
      objects()
        .filter((o) => o.metadata.namespace === 'knative-serving')
        .map(kubectlName),
    ).toEqual(['configmap/config-features']);
    for (const o of objects())
      expect({ o: kubectlName(o), partOf: o.metadata.labels?.['app.kubernetes.io/part-of'] }).toEqual({
        o: kubectlName(o),
        partOf: 'modelctl',
      });
  });

  it('pulls every image through the registry prefix of models.yaml (imageProxy)', () => {
    const images = objects().flatMap((o) =>
      [...(podSpecOf(o)?.containers ?? []), ...(podSpecOf(o)?.initContainers ?? [])].map((c: Obj) => c.image as string),
    );
    expect(images.length).toBeGreaterThanOrEqual(3);
    for (const image of images) expect(image).toBe(`${models().imageProxy}/modelctl:0.1.0`);
  });

  it('carries a models.yaml the warm function accepts, with the agent mounting that same host path', () => {
    const config = models();
    const agent = objects().find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'modelctl-agent')!;
    const spec = podSpecOf(agent)!;
    const nodeCache = spec.volumes.find((v: Obj) => v.hostPath);
    expect(nodeCache.hostPath.path).toBe(config.nodeHostPath);
    const container = spec.containers[0];
    expect(container.volumeMounts.filter((m: Obj) => m.name === nodeCache.name).map((m: Obj) => m.mountPath)).toEqual([
      config.nodeHostPath,
    ]);
    const env = Object.fromEntries(container.env.map((e: Obj) => [e.name, e.value]));
    expect(env.HF_HUB_CACHE).toBe(`${config.nodeHostPath}/${config.cachePath}`);
    expect(Object.keys(config.models).length).toBeGreaterThan(0);
  });

  it('runs every workload under a ServiceAccount it also ships', () => {
    const accounts = new Set(
      objects()
        .filter((o) => o.kind === 'ServiceAccount')
        .map((o) => o.metadata.name),
    );
    const used = objects()
      .map((o) => podSpecOf(o)?.serviceAccountName ?? o.spec?.serviceAccountName)
      .filter(Boolean);
    expect(used.length).toBeGreaterThanOrEqual(4);
    for (const name of used) expect(accounts).toContain(name);
  });

  it('enables exactly the config-features flags that modelctl’s pod specs use', () => {
    const flags = objects().find((o) => o.metadata.name === 'config-features')!.data as Record<string, string>;
    const used = new Set<string>();
    // the model Services `modelctl deploy` renders (every golden case) …
    for (const file of readdirSync(path.join(repoRoot, 'test/golden')).filter((f) => f.endsWith('.yaml'))) {
      const service = parseAllDocuments(
        readFileSync(path.join(repoRoot, 'test/golden', file), 'utf8'),
      )[0]!.toJS() as Obj;
      for (const flag of service.metadata.annotations['modelctl.dev/required-features'].split(',')) used.add(flag);
    }
    // … and the Knative Services shipped here (warm, cleanup)
    for (const o of objects().filter((x) => x.kind === 'Service' && x.apiVersion === 'serving.knative.dev/v1')) {
      for (const flag of requiredFeatures(o.spec.template.spec)) used.add(flag);
    }
    expect(Object.keys(flags).sort()).toEqual([...used].sort());
    expect(new Set(Object.values(flags))).toEqual(new Set(['enabled']));
  });

  it('keeps every shipped Knative Service within Knative’s default max-revision-timeout-seconds (600)', () => {
    // Serving's webhook refuses a larger timeoutSeconds unless config-defaults raises the maximum (the real
    // cluster refused cleanup's 900)
    const services = objects().filter((x) => x.kind === 'Service' && x.apiVersion === 'serving.knative.dev/v1');
    expect(services.length).toBeGreaterThan(0);
    for (const o of services) expect(o.spec.template.spec.timeoutSeconds ?? 300).toBeLessThanOrEqual(600);
  });

  it('passes the API server (schema, RBAC validation) as a server-side dry run of every object', async () => {
    await ensureNamespace(SYSTEM_NS);
    const { stdout } = await run('make', ['-s', 'deploy', `ENV=${envName}`], { DRY_RUN: 'server' });
    const lines = stdout.trim().split('\n').sort();
    expect(lines).toEqual(
      objects()
        .map((o) => `${kubectlName(o)} serverside-applied (server dry run)`)
        .sort(),
    );
  });

  it('previews with `make render`', async () => {
    const { stdout } = await run('make', ['-s', 'render', `ENV=${envName}`]);
    expect(parseAllDocuments(stdout).map((d) => kubectlName(d.toJS() as Obj))).toEqual(objects().map(kubectlName));
  });

  it('keeps the agent off the GPU types models.yaml excludes (excludeGpuTypes), on both GPU labels', () => {
    const agent = objects().find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'modelctl-agent')!;
    const terms = podSpecOf(agent)!.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
      .nodeSelectorTerms as Obj[];
    expect(models().excludeGpuTypes).toEqual(['nvidia-tesla-k80', 'Tesla-K80']);
    expect(terms.map((t) => t.matchExpressions.find((e: Obj) => e.operator === 'NotIn'))).toEqual([
      { key: 'nvidia.com/gpu.product', operator: 'NotIn', values: ['nvidia-tesla-k80', 'Tesla-K80'] },
      { key: 'cloud.google.com/gke-accelerator', operator: 'NotIn', values: ['nvidia-tesla-k80', 'Tesla-K80'] },
    ]);
  });
});

describe('make render ENV=dev with the chart’s --set-style overrides', () => {
  it('puts IMAGE_PROXY and the intervals into models.yaml and renders images and schedules from it', async () => {
    const { stdout } = await run('make', [
      '-s',
      'render',
      'ENV=dev',
      'IMAGE_PROXY=mirror.internal/hub',
      'CHECK_INTERVAL_SECONDS=120',
      'CONFIG_READ_RETRY_DELAY_SECONDS=7',
      `HF_TOKEN=${HF_TOKEN}`,
      'MLFLOW_TRACKING_URI=http://mlflow.mlflow:5000',
    ]);
    const objects = parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
    const config = parseModelsConfigMapData(objects.find((o) => o.metadata.name === 'modelctl-models')!.data);
    expect(config).toMatchObject({
      imageProxy: 'mirror.internal/hub',
      checkIntervalSeconds: 120,
      configReadRetryDelaySeconds: 7,
    });
    const images = objects.flatMap((o) => (podSpecOf(o)?.containers ?? []).map((c: Obj) => c.image as string));
    expect(new Set(images)).toEqual(new Set(['mirror.internal/hub/modelctl:0.1.0']));
    expect(objects.find((o) => o.metadata.name === 'modelctl-warm-hourly')!.spec.schedule).toBe('*/2 * * * *');
    expect(objects.find((o) => o.metadata.name === 'modelctl-settings')!.data).toEqual({
      MLFLOW_TRACKING_URI: 'http://mlflow.mlflow:5000',
    });
    expect(stdout).toContain('make deploy creates Secret modelctl-system/modelctl-hf-token');
    expect(stdout).not.toContain(HF_TOKEN);
  });

  it('refuses a bad override with one line naming it', async () => {
    const err = await run('make', ['-s', 'render', 'ENV=dev', 'CHECK_INTERVAL_SECONDS=hourly']).then(
      () => null,
      (e: { stderr: string }) => e,
    );
    expect(err?.stderr).toContain('render: CHECK_INTERVAL_SECONDS=hourly: must be a whole number of seconds above 0');
  });
});

describe('make deploy-warmer: the node warmer alone, on a cluster without Knative', () => {
  it('installs only the namespace, the models ConfigMap, the agent and its RBAC (server dry run)', async () => {
    const { stdout } = await run('make', ['-s', 'deploy-warmer', 'ENV=dev'], { DRY_RUN: 'server' });
    const lines = stdout.trim().split('\n').sort();
    expect(lines).toEqual(
      [
        'clusterrole.rbac.authorization.k8s.io/modelctl-agent serverside-applied (server dry run)',
        'clusterrolebinding.rbac.authorization.k8s.io/modelctl-agent serverside-applied (server dry run)',
        'configmap/modelctl-models serverside-applied (server dry run)',
        'daemonset.apps/modelctl-agent serverside-applied (server dry run)',
        'namespace/modelctl-system serverside-applied (server dry run)',
        'role.rbac.authorization.k8s.io/modelctl-agent serverside-applied (server dry run)',
        'rolebinding.rbac.authorization.k8s.io/modelctl-agent serverside-applied (server dry run)',
        'serviceaccount/modelctl-agent serverside-applied (server dry run)',
      ].sort(),
    );
    expect(stdout).not.toMatch(/knative\.dev/);
  });
});

describe('make deploy / make undeploy (knative/install.sh)', () => {
  beforeAll(async () => {
    await ensureNamespace(SYSTEM_NS);
  });

  /**
   * Each installed object as stored, without resourceVersion and managedFields timestamps (the PVC admission
   * plugin rewrites an unchanged PVC, bumping only its resourceVersion).
   */
  async function storedObjects(objects: Obj[]): Promise<Record<string, Obj>> {
    const stored: Record<string, Obj> = {};
    for (const o of objects) {
      const args = ['get', kubectlName(o), '-o', 'json', '--show-managed-fields'];
      const result = await runKubectl(o.metadata.namespace ? [...args, '-n', o.metadata.namespace] : args);
      expect({ o: kubectlName(o), code: result.code, stderr: result.stderr }).toEqual({
        o: kubectlName(o),
        code: 0,
        stderr: '',
      });
      const object = JSON.parse(result.stdout) as Obj;
      delete object.metadata.resourceVersion;
      for (const entry of object.metadata.managedFields ?? []) delete entry.time;
      stored[kubectlName(o)] = object;
    }
    return stored;
  }

  it('installs config/dev with the HF token Secret, never printing the token; re-running changes nothing', async () => {
    const first = await run('make', ['-s', 'deploy', 'ENV=dev', `HF_TOKEN=${HF_TOKEN}`]);
    expect(first.stdout).toContain(`secret/modelctl-hf-token serverside-applied`);
    expect(`${first.stdout}${first.stderr}`).not.toContain(HF_TOKEN);
    const secret = await runKubectl([
      'get',
      'secret',
      'modelctl-hf-token',
      '-n',
      SYSTEM_NS,
      '-o',
      'jsonpath={.data.HF_TOKEN}',
    ]);
    expect(Buffer.from(secret.stdout, 'base64').toString()).toBe(HF_TOKEN);

    const before = await storedObjects(rendered.dev!);
    const again = await run('bash', ['knative/install.sh', 'apply', 'dev'], { HF_TOKEN });
    expect(again.stdout.trim().split('\n')).toHaveLength(rendered.dev!.length + 1);
    expect(await storedObjects(rendered.dev!)).toEqual(before);
  });

  it('merges the flags into Knative’s own config-features, leaving its other keys alone', async () => {
    const cm = JSON.parse(
      (await runKubectl(['get', 'configmap', 'config-features', '-n', 'knative-serving', '-o', 'json'])).stdout,
    ) as Obj;
    expect(cm.data['kubernetes.podspec-init-containers']).toBe('enabled');
    // what Knative's own install put there survives a re-apply by another field manager
    const knative = JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'config-features', namespace: 'knative-serving' },
      data: { _example: 'upstream docs' },
    });
    expect(
      await runKubectl(['apply', '--server-side', '--field-manager=knative-operator', '-f', '-'], { stdin: knative }),
    ).toMatchObject({ code: 0 });
    await run('bash', ['knative/install.sh', 'apply', 'dev']);
    const after = JSON.parse(
      (await runKubectl(['get', 'configmap', 'config-features', '-n', 'knative-serving', '-o', 'json'])).stdout,
    ) as Obj;
    expect(after.data._example).toBe('upstream docs');
    expect(after.data['kubernetes.podspec-affinity']).toBe('enabled');
  });

  // What each role must be able to do (DESIGN.md) and a few things it must not, as the API server decides.
  const CAN_I: [account: string, verb: string, resource: string, namespace: string | null, expected: 'yes' | 'no'][] = [
    ['modelctl-agent', 'get', 'configmaps/modelctl-plan', SYSTEM_NS, 'yes'],
    ['modelctl-agent', 'watch', 'configmaps/modelctl-plan', SYSTEM_NS, 'yes'],
    ['modelctl-agent', 'patch', 'nodes', null, 'yes'],
    ['modelctl-agent', 'list', 'pods', null, 'yes'],
    ['modelctl-agent', 'delete', 'pods', SYSTEM_NS, 'no'],
    ['modelctl-agent', 'create', 'events', SYSTEM_NS, 'yes'],
    ['modelctl-agent', 'get', 'secrets', SYSTEM_NS, 'no'],
    ['modelctl-agent', 'update', 'configmaps/modelctl-plan', SYSTEM_NS, 'no'],
    ['modelctl-agent', 'delete', 'nodes', null, 'no'],
    ['modelctl-warm', 'get', 'configmaps/modelctl-models', SYSTEM_NS, 'yes'],
    ['modelctl-warm', 'update', 'configmaps/modelctl-plan', SYSTEM_NS, 'yes'],
    ['modelctl-warm', 'create', 'configmaps', SYSTEM_NS, 'yes'],
    ['modelctl-warm', 'create', 'events', SYSTEM_NS, 'yes'],
    ['modelctl-warm', 'update', 'configmaps/modelctl-models', SYSTEM_NS, 'no'],
    ['modelctl-warm', 'get', 'secrets', SYSTEM_NS, 'no'],
    ['modelctl-warm-source', 'get', 'configmaps', SYSTEM_NS, 'yes'],
    ['modelctl-warm-source', 'list', 'configmaps', SYSTEM_NS, 'yes'],
    ['modelctl-warm-source', 'watch', 'configmaps', SYSTEM_NS, 'yes'],
    ['modelctl-warm-source', 'create', 'configmaps', SYSTEM_NS, 'no'],
    ['modelctl-cleanup', 'list', 'pods', SYSTEM_NS, 'yes'],
    ['modelctl-cleanup', 'delete', 'pods', SYSTEM_NS, 'no'],
    ['modelctl-cleanup', 'get', 'secrets', SYSTEM_NS, 'no'],
    ['modelctl-cleanup', 'list', 'pods', 'default', 'no'],
  ];

  it('grants each role what it needs and nothing it must not have (auth can-i as its ServiceAccount)', async () => {
    const answers: string[] = [];
    for (const [account, verb, resource, namespace] of CAN_I) {
      const ns = namespace ? ['-n', namespace] : [];
      const result = await runKubectl(['auth', 'can-i', verb, resource, ...ns], {
        as: `system:serviceaccount:${SYSTEM_NS}:${account}`,
      });
      answers.push(`${account} ${verb} ${resource} ${namespace ?? '(cluster)'}: ${result.stdout.trim()}`);
    }
    expect(answers).toEqual(CAN_I.map(([a, v, r, n, e]) => `${a} ${v} ${r} ${n ?? '(cluster)'}: ${e}`));
  });

  it('uninstalls everything it installed except the feature flags (server dry run)', async () => {
    const { stdout } = await run('make', ['-s', 'undeploy', 'ENV=dev'], { DRY_RUN: 'server' });
    const deleted = stdout.trim().split('\n').sort();
    const expected = rendered
      .dev!.filter((o) => o.metadata.name !== 'config-features')
      .map((o) => {
        const [resource, name] = kubectlName(o).split('/');
        const where = o.metadata.namespace ? ` from ${o.metadata.namespace} namespace` : '';
        return `${resource} "${name}" deleted${where} (server dry run)`;
      })
      .concat([`secret "modelctl-hf-token" deleted from ${SYSTEM_NS} namespace (server dry run)`])
      .sort();
    expect(deleted).toEqual(expected);
  });
});
