import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, getJson, kubectl, postThroughIngress, waitFor, waitReady } from '../../testkit/e2e/cluster.js';
import { MLFLOW_NS, ensureMlflow, installModelctl, venvPython } from '../../testkit/e2e/mlflow.js';

/**
 * Issue 15, the original runtimes' contracts on the cluster: the custom deployment the replaced MLflow serving
 * runtime documented (test/e2e/manifests/legacy-custom-runtime.yaml) runs with only the image (and the init
 * container's command) swapped for ours; `kubectl logs <pod> -c model-downloader` shows the download; the ingress
 * answers with MLflow's own predictions for `models:/my-model/Production`.
 */
const NS = 'modelctl-e2e-rt';
const NAME = 'legacy-custom';
const MODEL = 'my-model';
const INPUT = {
  inputs: [
    [5.1, 3.5, 1.4, 0.2],
    [6.7, 3.0, 5.2, 2.3],
  ],
};

let trackingUri: string;

/** Python of the testing ground with MLflow, against the in-cluster server (through its ClusterIP). */
async function mlflowPython(script: string, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(await venvPython(), ['-c', script, trackingUri, ...args], {
    timeout: 300_000,
    maxBuffer: 16 << 20,
    env: { ...process.env, MLFLOW_DISABLE_TELEMETRY: 'true', DO_NOT_TRACK: 'true' },
  });
  return stdout.trim().split('\n').pop() ?? '';
}

describe('the replaced runtime documented custom deployment, image swapped for ours', () => {
  beforeAll(async () => {
    await ensureMlflow();
    await installModelctl(); // config-features: init containers and PVCs
    const svc = await getJson<{ spec: { clusterIP: string } }>('service', 'mlflow', '-n', MLFLOW_NS);
    trackingUri = `http://${svc.spec.clusterIP}:5000`;
    // my-model, as the documentation names it: a new version of iris-onnx's first model, in stage Production
    await mlflowPython(
      [
        'import sys',
        'from mlflow import MlflowClient',
        'c = MlflowClient(sys.argv[1])',
        `name = "${MODEL}"`,
        'if not c.search_registered_models(f"name = \'{name}\'"): c.create_registered_model(name)',
        'src = c.get_model_version("iris-onnx", "1")',
        // MLflow 3: the source names a logged model (models:/m-<id>) that the request must name too
        'mid = src.source[len("models:/"):] if src.source.startswith("models:/m-") else None',
        'v = c.create_model_version(name, src.source, run_id=src.run_id, model_id=mid)',
        'c.transition_model_version_stage(name, v.version, "Production", archive_existing_versions=True)',
        'print(v.version)',
      ].join('\n'),
    );
    await kubectl('get', 'namespace', NS).catch(() => kubectl('create', 'namespace', NS));
    await kubectl('delete', 'ksvc', NAME, '-n', NS, '--ignore-not-found', '--wait=true');
  }, 900_000);

  afterAll(async () => {
    // the PVC stays: its PV is Retain (a deleted claim would leave the PV Released, unusable by the next run)
    await kubectl('delete', 'ksvc', NAME, '-n', NS, '--ignore-not-found').catch(() => undefined);
  });

  test('Ready; the ingress answers with MLflow pyfunc predictions; logs -c model-downloader show the download', async () => {
    await kubectl('apply', '-f', path.join(REPO_ROOT, 'test', 'e2e', 'manifests', 'legacy-custom-runtime.yaml'));
    await waitReady('ksvc', NS, NAME, 480_000);

    const expected = JSON.parse(
      await mlflowPython(
        [
          'import json, sys, mlflow, mlflow.pyfunc, numpy as np',
          'mlflow.set_tracking_uri(sys.argv[1])',
          `m = mlflow.pyfunc.load_model("models:/${MODEL}/Production")`,
          'p = m.predict(np.array(json.loads(sys.argv[2])["inputs"], dtype=np.float32))',
          'print(json.dumps({k: np.asarray(v).tolist() for k, v in p.items()} if isinstance(p, dict) else np.asarray(p).tolist()))',
        ].join('\n'),
        JSON.stringify(INPUT),
      ),
    ) as unknown;
    const res = await waitFor('the ingress to route to the legacy Service', async () => {
      const r = await postThroughIngress(NAME, NS, '/invocations', INPUT);
      return r.status === 200 ? r : undefined;
    });
    expect(JSON.stringify((JSON.parse(res.body) as { predictions: unknown }).predictions)).toBe(
      JSON.stringify(expected),
    );

    const pods = await getJson<{ items: { metadata: { name: string; deletionTimestamp?: string } }[] }>(
      ...['pods', '-n', NS, '-l', `serving.knative.dev/service=${NAME}`],
    );
    const pod = pods.items.find((p) => p.metadata.deletionTimestamp === undefined)!;
    const downloader = await kubectl('logs', pod.metadata.name, '-n', NS, '-c', 'model-downloader');
    expect(downloader).toMatch(/models:\/my-model\/Production/);
    // STORAGE_STRATEGY=pvc: resolved once, through the shared cache on the PVC
    expect(downloader).toMatch(/"key":"[^"]+"[^\n]*"msg":"model resolved"/);
    const server = await kubectl('logs', pod.metadata.name, '-n', NS, '-c', 'model-server');
    expect(server.length).toBeGreaterThan(0);
  });
});
