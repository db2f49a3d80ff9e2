import { execFile } from 'node:child_process';
import { mkdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { CACHE, REPO_ROOT, getJson, kubectl, sh } from './cluster.js';

/**
 * The MLflow tracking server of the end-to-end suite (testkit/e2e/manifests/mlflow.yaml: `--serve-artifacts`, sqlite on
 * an emptyDir) and the models testkit/fixtures/mlflow/make-models.py logs into it. Every e2e file that needs MLflow
 * calls `ensureMlflow()`: the first logs the models, later ones (and later runs against the same pod) reuse them.
 */
export const MLFLOW_NS = 'modelctl-e2e';
/** The tracking URI pods use (the Service's cluster DNS name). */
export const MLFLOW_IN_CLUSTER = `http://mlflow.${MLFLOW_NS}.svc.cluster.local:5000`;

export interface IrisFixtures {
  aliases: Record<string, string>;
  versions: { version: string; localPath: string }[];
}
export interface MlflowFixtures {
  e2e: { iris: IrisFixtures; sampleInput: number[][] };
}

/** The testing ground's Python (MLflow, onnx, scikit-learn): testkit/peers/ensure-python.sh. */
export async function venvPython(): Promise<string> {
  return (
    await sh('bash', [path.join(REPO_ROOT, 'testkit', 'peers', 'ensure-python.sh'), '--print-python'])
  ).stdout.trim();
}

/**
 * Applies the MLflow Deployment, waits for it, and logs the fixture models once per MLflow pod (its data lives on
 * the pod's emptyDir, so a new pod gets them logged again). Returns what make-models.py described.
 */
export async function ensureMlflow(): Promise<MlflowFixtures> {
  await kubectl('apply', '-f', path.join(REPO_ROOT, 'testkit', 'e2e', 'manifests', 'mlflow.yaml'));
  await kubectl('-n', MLFLOW_NS, 'rollout', 'status', 'deployment/mlflow', '--timeout=300s');
  const pods = await getJson<{ items: { metadata: { uid: string }; status: { phase: string } }[] }>(
    'pods',
    '-n',
    MLFLOW_NS,
    '-l',
    'app=mlflow',
    '--field-selector=status.phase=Running',
  );
  const uid = pods.items[0]?.metadata.uid;
  if (uid === undefined) throw new Error('the MLflow Deployment reports rolled out but no pod is Running');
  const work = path.join(CACHE, 'e2e', `mlflow-${uid}`);
  const out = path.join(work, 'fixtures.json');
  const cached = await readFile(out, 'utf8').catch(() => null);
  if (cached !== null) return JSON.parse(cached) as MlflowFixtures;
  await mkdir(work, { recursive: true });
  // the host reaches the Service's cluster IP through kube-proxy's rules
  const svc = await getJson<{ spec: { clusterIP: string } }>('service', 'mlflow', '-n', MLFLOW_NS);
  await promisify(execFile)(
    await venvPython(),
    [
      path.join(REPO_ROOT, 'testkit', 'fixtures', 'mlflow', 'make-models.py'),
      ...['--work-dir', work, '--out', `${out}.partial`, '--server', `e2e=http://${svc.spec.clusterIP}:5000`],
    ],
    { timeout: 600_000, maxBuffer: 64 << 20 },
  );
  await rename(`${out}.partial`, out);
  return JSON.parse(await readFile(out, 'utf8')) as MlflowFixtures;
}

/** `make deploy ENV=e2e` (the dev overlay, cleanup every minute) with the in-cluster MLflow as tracking server. */
export async function installModelctl(): Promise<void> {
  await sh('make', ['--no-print-directory', 'deploy', 'ENV=e2e', `MLFLOW_TRACKING_URI=${MLFLOW_IN_CLUSTER}`], {
    timeoutMs: 300_000,
  });
}
