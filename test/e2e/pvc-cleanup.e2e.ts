import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readFile, readdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import {
  REPO_ROOT,
  getJson,
  kubectl,
  postThroughIngress,
  servicePods,
  sh,
  waitFor,
  waitReady,
} from '../../testkit/e2e/cluster.js';
import { MLFLOW_IN_CLUSTER, ensureMlflow, installModelctl } from '../../testkit/e2e/mlflow.js';

/**
 * The shared PVC cache on the cluster. (4) `modelctl deploy --storage pvc`: the first pod downloads into the PVC,
 * the Service scales to zero, and the pod the next request wakes starts from a cache hit. (5) The cleanup
 * PingSource (every minute in the e2e overlay) fires cleanup on that PVC: an expired entry no pod uses goes, an
 * expired entry a running pod uses stays.
 */
const NS = 'modelctl-system';
const MODELCTL = path.join(REPO_ROOT, 'bin', 'modelctl');
const WAKE = 'iris-pvc-wake';
const KEEP = 'iris-pvc-keep';
const INPUT = { inputs: [[5.1, 3.5, 1.4, 0.2]] };

let cacheRoot: string;

const invoke = (service: string) => postThroughIngress(service, NS, '/invocations', INPUT);

async function deployPvc(name: string, uri: string, extra: string[]): Promise<void> {
  await sh(
    MODELCTL,
    [
      'deploy',
      ...['--serve-name', name, '--model-uri', uri, '--artifact-version', 'v1', '--storage', 'pvc'],
      ...['--cores', '0.2', '--memory', '1', '--namespace', NS, '--image', 'dev.local/modelctl:e2e'],
      ...['--mlflow-tracking-uri', MLFLOW_IN_CLUSTER, '--wait', ...extra],
    ],
    { timeoutMs: 600_000 },
  );
}

/** The entries of the shared cache on the node's disk (the PV is a hostPath), by the model URI they hold. */
async function entriesByUri(): Promise<Map<string, string>> {
  const byUri = new Map<string, string>();
  const dir = path.join(cacheRoot, 'entries');
  for (const key of await readdir(dir).catch(() => [] as string[])) {
    const manifest = await readFile(path.join(dir, key, 'manifest.json'), 'utf8').catch(() => null);
    if (manifest !== null) byUri.set((JSON.parse(manifest) as { source: { uri: string } }).source.uri, key);
  }
  return byUri;
}

/** Makes an entry look unused for 30 days (cleanup reads the mtime of `last-used`, else of the manifest). */
async function age(key: string): Promise<void> {
  const old = new Date(Date.now() - 30 * 24 * 3600 * 1000);
  for (const name of ['last-used', 'manifest.json']) {
    await utimes(path.join(cacheRoot, 'entries', key, name), old, old).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}

describe('the shared PVC cache on the cluster', () => {
  beforeAll(async () => {
    await installModelctl();
    await ensureMlflow();
    const pvc = await getJson<{ spec: { volumeName: string } }>('pvc', 'modelctl-model-cache', '-n', NS);
    const pv = await getJson<{ spec: { hostPath?: { path: string }; local?: { path: string } } }>(
      'pv',
      pvc.spec.volumeName,
    );
    const root = pv.spec.hostPath?.path ?? pv.spec.local?.path;
    if (root === undefined) throw new Error(`PV ${pvc.spec.volumeName} is neither hostPath nor local`);
    cacheRoot = root;
  }, 900_000);

  afterAll(async () => {
    await kubectl('-n', NS, 'delete', 'ksvc', WAKE, KEEP, '--ignore-not-found').catch(() => undefined);
  });

  test('--storage pvc: Ready, scales to zero, and the woken pod starts from a cache hit', async () => {
    await deployPvc(WAKE, 'models:/iris-onnx/3', ['--scale-to-zero-retention', '0s']);
    await waitReady('ksvc', NS, WAKE);
    const first = await waitFor('the ingress to route to the Revision', async () => {
      const r = await invoke(WAKE);
      return r.status === 200 ? r : undefined;
    });
    expect(JSON.parse(first.body)).toHaveProperty('predictions');
    expect((await entriesByUri()).has('models:/iris-onnx/3')).toBe(true);

    await waitFor(
      'no pod of the Revision left',
      async () => ((await servicePods(NS, WAKE)).length === 0 ? true : undefined),
      {
        timeoutMs: 300_000,
        intervalMs: 3000,
      },
    );
    const woke = await invoke(WAKE);
    expect([woke.status, woke.body]).toEqual([200, first.body]);
    const [pod] = await servicePods(NS, WAKE);
    const log = await kubectl('logs', '-n', NS, pod!.metadata.name, '-c', 'model-downloader');
    // fetch's last line (JSON): 'model ready' with the source it used
    const ready = log.split('\n').find((l) => l.includes('"model ready"'));
    expect(ready).toContain('"source":"cache-hit"');
  });

  test('the cleanup PingSource evicts an expired entry no pod uses, and keeps one a running pod uses', async () => {
    // KEEP: a running pod (min-scale 1) serving version 1 from the PVC; WAKE's version 3 entry: no pod once deleted
    await deployPvc(KEEP, 'models:/iris-onnx/1', ['--min-scale', '1']);
    await kubectl('-n', NS, 'delete', 'ksvc', WAKE, '--wait=true');
    await waitFor('no pod of the deleted Service left', async () =>
      (await servicePods(NS, WAKE)).length === 0 ? true : undefined,
    );
    const entries = await entriesByUri();
    const used = entries.get('models:/iris-onnx/1');
    const unused = entries.get('models:/iris-onnx/3');
    expect(used && unused).toBeTruthy();
    await age(used!);
    await age(unused!);

    await waitFor(
      'cleanup (fired by the PingSource) to evict the unused entry',
      async () => ((await entriesByUri()).has('models:/iris-onnx/3') ? undefined : true),
      {
        timeoutMs: 240_000,
        intervalMs: 5000,
        describe: () =>
          kubectl(
            'logs',
            '-n',
            NS,
            '-l',
            'serving.knative.dev/service=modelctl-cleanup',
            '-c',
            'user-container',
            '--tail=40',
          ),
      },
    );
    expect((await entriesByUri()).get('models:/iris-onnx/1')).toBe(used);
    expect(await invoke(KEEP)).toMatchObject({ status: 200 });
  });
});
