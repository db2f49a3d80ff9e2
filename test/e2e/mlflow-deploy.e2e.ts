import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, getJson, kubectl, sh, waitFor, waitReady } from './cluster.js';

/**
 * `modelctl deploy` of an MLflow model against the MLflow tracking server running in the cluster: the Knative
 * Service becomes Ready (init container fetch, container serve, queue-proxy), and a request through the ingress
 * (Traefik behind net-gateway-api) gets the same predictions MLflow's own pyfunc computes for the same input.
 * Then: scale to zero (no pod left) and the next request wakes it through the activator.
 */
const NS = 'modelctl-e2e';
const INGRESS = process.env.CLUSTER_INGRESS ?? 'http://10.213.0.1:31080';
const SERVE_NAME = 'iris-e2e';
const MLFLOW_IN_CLUSTER = `http://mlflow.${NS}.svc.cluster.local:5000`;
const INPUT = {
  inputs: [
    [5.1, 3.5, 1.4, 0.2],
    [6.7, 3.0, 5.2, 2.3],
    [5.9, 3.0, 4.2, 1.5],
  ],
};

interface Fixtures {
  e2e: { iris: { aliases: Record<string, string>; versions: { version: string; localPath: string }[] } };
}

let work: string;
let fixtures: Fixtures;

async function venvPython(): Promise<string> {
  return (
    await sh('bash', [path.join(REPO_ROOT, 'test', 'peers', 'ensure-python.sh'), '--print-python'])
  ).stdout.trim();
}

/** POST /invocations through the ingress with the Knative Service's host name. */
async function invoke(): Promise<{ status: number; body: string }> {
  const res = await fetch(`${INGRESS}/invocations`, {
    method: 'POST',
    headers: { host: `${SERVE_NAME}.${NS}.example.com`, 'content-type': 'application/json' },
    body: JSON.stringify(INPUT),
  });
  return { status: res.status, body: await res.text() };
}

describe('modelctl deploy of an MLflow model on the cluster', () => {
  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'modelctl-e2e-'));
    await kubectl('apply', '-f', path.join(REPO_ROOT, 'test', 'e2e', 'manifests', 'mlflow.yaml'));
    await kubectl('-n', NS, 'rollout', 'status', 'deployment/mlflow', '--timeout=300s');
    // the host reaches the Service's cluster IP through kube-proxy's rules
    const svc = await getJson<{ spec: { clusterIP: string } }>('service', 'mlflow', '-n', NS);
    const out = path.join(work, 'fixtures.json');
    await promisify(execFile)(
      await venvPython(),
      [
        path.join(REPO_ROOT, 'test', 'fixtures', 'mlflow', 'make-models.py'),
        ...['--work-dir', work, '--out', out, '--server', `e2e=http://${svc.spec.clusterIP}:5000`],
      ],
      { timeout: 600_000, maxBuffer: 64 << 20 },
    );
    fixtures = JSON.parse(await readFile(out, 'utf8')) as Fixtures;
  }, 900_000);

  afterAll(async () => {
    await kubectl('-n', NS, 'delete', 'ksvc', SERVE_NAME, '--ignore-not-found').catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('deploy --wait: Ready, and the ingress answers with MLflow pyfunc predictions', async () => {
    await sh(
      path.join(REPO_ROOT, 'bin', 'modelctl'),
      [
        'deploy',
        ...['--serve-name', SERVE_NAME, '--model-uri', 'models:/iris-onnx@champion', '--artifact-version', 'v1'],
        ...['--cores', '1', '--memory', '1', '--namespace', NS, '--image', 'dev.local/modelctl:e2e'],
        ...['--mlflow-tracking-uri', MLFLOW_IN_CLUSTER, '--scale-to-zero-retention', '0s', '--wait'],
      ],
      { timeoutMs: 600_000 },
    );
    await waitReady('ksvc', NS, SERVE_NAME);

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

    const res = await waitFor('the ingress to route to the Revision', async () => {
      const r = await invoke();
      return r.status === 200 ? r : undefined;
    });
    const got = JSON.parse(res.body) as { predictions: unknown };
    expect(JSON.stringify(got.predictions)).toBe(JSON.stringify(expected));
  });

  test('scales to zero, and the next request through the ingress wakes it', async () => {
    await waitFor(
      'no pod of the Revision left',
      async () => {
        const pods = await getJson<{ items: unknown[] }>(
          'pods',
          '-n',
          NS,
          '-l',
          `serving.knative.dev/service=${SERVE_NAME}`,
        );
        return pods.items.length === 0 ? true : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 3000 },
    );
    const woke = await invoke();
    expect(woke.status).toBe(200);
    const pods = await getJson<{ items: unknown[] }>(
      'pods',
      '-n',
      NS,
      '-l',
      `serving.knative.dev/service=${SERVE_NAME}`,
    );
    expect(pods.items.length).toBeGreaterThan(0);
  });
});
