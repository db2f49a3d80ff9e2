import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  REPO_ROOT,
  getJson,
  knServiceList,
  kubectl,
  postThroughIngress,
  servicePods,
  sh,
  waitFor,
  waitReady,
} from '../../testkit/e2e/cluster.js';
import {
  MLFLOW_IN_CLUSTER,
  MLFLOW_NS,
  type MlflowFixtures,
  ensureMlflow,
  installModelctl,
  venvPython,
} from '../../testkit/e2e/mlflow.js';

/**
 * `modelctl deploy` of an MLflow model against the MLflow tracking server running in the cluster: the Knative
 * Service becomes Ready (init container fetch, container serve, queue-proxy), and a request through the ingress
 * (Traefik behind net-gateway-api) gets the same predictions MLflow's own pyfunc computes for the same input.
 * Knative's webhook refusal reaches the user. Then: scale to zero (no pod left) and the next request wakes it
 * through the activator.
 */
const NS = MLFLOW_NS;
const SERVE_NAME = 'iris-e2e';
const MODELCTL = path.join(REPO_ROOT, 'bin', 'modelctl');
const INPUT = {
  inputs: [
    [5.1, 3.5, 1.4, 0.2],
    [6.7, 3.0, 5.2, 2.3],
    [5.9, 3.0, 4.2, 1.5],
  ],
};

let fixtures: MlflowFixtures;

/** POST /invocations through the ingress with the Knative Service's host name. */
const invoke = () => postThroughIngress(SERVE_NAME, NS, '/invocations', INPUT);

function deployArgs(name: string): string[] {
  return [
    'deploy',
    ...['--serve-name', name, '--model-uri', 'models:/iris-onnx@champion', '--artifact-version', 'v1'],
    ...['--cores', '1', '--memory', '1', '--namespace', NS, '--image', 'dev.local/modelctl:e2e'],
    ...['--mlflow-tracking-uri', MLFLOW_IN_CLUSTER, '--scale-to-zero-retention', '0s'],
  ];
}

async function setInitContainersFlag(value: 'enabled' | 'disabled'): Promise<void> {
  await kubectl(
    'patch',
    'configmap',
    'config-features',
    '-n',
    'knative-serving',
    '--type',
    'merge',
    '-p',
    JSON.stringify({ data: { 'kubernetes.podspec-init-containers': value } }),
  );
}

describe('modelctl deploy of an MLflow model on the cluster', () => {
  beforeAll(async () => {
    await installModelctl();
    fixtures = await ensureMlflow();
  }, 900_000);

  afterAll(async () => {
    await kubectl('-n', NS, 'delete', 'ksvc', SERVE_NAME, '--ignore-not-found').catch(() => undefined);
  });

  test('deploy --wait: Ready, and the ingress answers with MLflow pyfunc predictions', async () => {
    await sh(MODELCTL, [...deployArgs(SERVE_NAME), '--wait'], { timeoutMs: 600_000 });
    await waitReady('ksvc', NS, SERVE_NAME);
    // what users look at (issue 17 (3)): `kn service list` lists it Ready
    expect((await knServiceList(NS)).find((row) => row['NAME'] === SERVE_NAME)?.['READY']).toBe('True');

    const champion = fixtures.e2e.iris.aliases.champion;
    const local = fixtures.e2e.iris.versions.find((v) => v.version === champion)!.localPath;
    const script = [
      'import json, sys, mlflow.pyfunc, numpy as np',
      'm = mlflow.pyfunc.load_model(sys.argv[1])',
      `x = np.array(json.loads(sys.argv[2])["inputs"], dtype=np.float32)`,
      'p = m.predict(x)',
      'print(json.dumps({k: np.asarray(v).tolist() for k, v in p.items()} if isinstance(p, dict) else np.asarray(p).tolist()))',
    ].join('\n');
    const expected = JSON.parse(
      (await promisify(execFile)(await venvPython(), ['-c', script, local, JSON.stringify(INPUT)])).stdout,
    ) as unknown;

    let last = { status: 0, body: '' };
    const res = await waitFor(
      'the ingress to route to the Revision',
      async () => {
        last = await invoke();
        return last.status === 200 ? last : undefined;
      },
      {
        describe: async () =>
          `last answer: ${last.status} ${last.body.slice(0, 300)}\n` +
          (await kubectl(
            'get',
            'ksvc,httproute,ingresses.networking.internal.knative.dev,pods',
            '-n',
            NS,
            '-o',
            'wide',
          )),
      },
    );
    const got = JSON.parse(res.body) as { predictions: unknown };
    expect(JSON.stringify(got.predictions)).toBe(JSON.stringify(expected));
  });

  test("a pod spec needing a flag that is off: Knative's webhook message reaches the user", async () => {
    await setInitContainersFlag('disabled');
    try {
      // the webhook reads config-features from its informer: wait until it refuses an init container
      await waitFor(
        'the webhook to see the flag off',
        async () =>
          await sh(MODELCTL, [...deployArgs('iris-flag-off'), '--dry-run', 'server']).then(
            () => undefined,
            () => true,
          ),
      );
      const failed = await sh(MODELCTL, deployArgs('iris-flag-off')).then(
        () => null,
        (err: unknown) => String(err),
      );
      expect(failed).not.toBeNull();
      expect(failed).toContain('enable kubernetes.podspec-init-containers in ConfigMap config-features');
      expect(failed).toContain('must not set the field(s): spec.template.spec.initContainers');
      const left = await getJson<{ items: unknown[] }>(
        'ksvc',
        '-n',
        NS,
        '--field-selector=metadata.name=iris-flag-off',
      );
      expect(left.items).toHaveLength(0);
    } finally {
      await setInitContainersFlag('enabled');
    }
  });

  test('scales to zero, and the next request through the ingress wakes it', async () => {
    await waitFor(
      'no pod of the Revision left',
      async () => ((await servicePods(NS, SERVE_NAME)).length === 0 ? true : undefined),
      { timeoutMs: 300_000, intervalMs: 3000 },
    );
    const woke = await invoke();
    expect(woke.status).toBe(200);
    expect((await servicePods(NS, SERVE_NAME)).length).toBeGreaterThan(0);
  });
});
