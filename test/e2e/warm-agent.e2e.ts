import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { getJson, kubectl, sh, waitFor } from '../../testkit/e2e/cluster.js';
import {
  HUB_NS,
  SYSTEM_NS,
  devModelsYaml,
  editModelsConfig,
  mainCommit,
  pointModelctlAtHub,
  putHubRepo,
  readModelsYaml,
  readPlan,
  readyLabel,
  startHubInCluster,
  waitForPlanned,
  waitForReadyNode,
} from '../../testkit/e2e/hub.js';

/**
 * Issue 17 (2): edit the models ConfigMap of `make deploy ENV=dev` and the warm path runs for real: Eventing's
 * ApiServerSource adapter delivers the update to the warm Knative Service, warm resolves the model on the Hub
 * stand-in (a Service in the cluster, HF_ENDPOINT) and publishes the plan, the agent pod downloads it into the
 * node's hostPath, the Node gets the model's ready label, and huggingface_hub in another pod on that node reads the
 * model offline (HF_HUB_OFFLINE=1) from the hostPath. A bad config: warm's Warning Event on the ConfigMap, the
 * plan in force kept.
 */
const REPO = 'e2e-org/warm-tiny';
// LFS (redirect to the stand-in's CDN origin) and regular files; README.md is outside allow_patterns
const FILES: Record<string, Buffer> = {
  'config.json': Buffer.from(JSON.stringify({ model_type: 'gpt2', n_layer: 2, seed: randomBytes(8).toString('hex') })),
  'model.safetensors': randomBytes(6 * 1024 * 1024 + 123),
  'tokenizer/tokenizer.json': Buffer.from(JSON.stringify({ version: '1.0', vocab: randomBytes(64).toString('hex') })),
  'README.md': Buffer.from('# not downloaded: outside allow_patterns\n'),
};
const WANTED = ['config.json', 'model.safetensors', 'tokenizer/tokenizer.json'];
const READER_POD = 'hf-offline-reader';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let originalModels: string;
let commit: string;

/** huggingface_hub 2.4.0 (the testing ground's, in the MLflow e2e image) reading the node cache offline. */
const READER_SCRIPT = `
import hashlib, json, os
from huggingface_hub import hf_hub_download, scan_cache_dir, snapshot_download
repo, rev = os.environ["REPO"], os.environ["REVISION"]
snap = snapshot_download(repo, revision=rev, local_files_only=True)
files = {}
for root, _, names in os.walk(snap):
    for name in names:
        rel = os.path.relpath(os.path.join(root, name), snap)
        with open(hf_hub_download(repo, rel, revision=rev, local_files_only=True), "rb") as f:
            files[rel] = hashlib.sha256(f.read()).hexdigest()
scan = scan_cache_dir()
info = [r for r in scan.repos if r.repo_id == repo]
print(json.dumps({
    "snapshot": snap, "files": files,
    "commits": [x.commit_hash for x in info[0].revisions] if info else [],
    "refs": sorted(info[0].refs) if info else [],
    "warnings": [str(w) for w in scan.warnings],
}))
`;

interface ReaderResult {
  snapshot: string;
  files: Record<string, string>;
  commits: string[];
  refs: string[];
  warnings: string[];
}

async function runOfflineReader(hostCacheDir: string, revision: string): Promise<ReaderResult> {
  await kubectl('delete', 'pod', READER_POD, '-n', HUB_NS, '--ignore-not-found', '--wait=true');
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: READER_POD, namespace: HUB_NS },
    spec: {
      restartPolicy: 'Never',
      // scheduled by the agent's label: only a node where the model is complete
      nodeSelector: { [readyLabel(REPO)]: 'ready' },
      containers: [
        {
          name: 'reader',
          image: 'dev.local/modelctl-e2e-mlflow:dev',
          command: ['/bin/sh', '-c', 'exec "$MLFLOW_VENV/bin/python" -c "$1"', 'sh', READER_SCRIPT],
          env: [
            { name: 'HF_HUB_OFFLINE', value: '1' },
            { name: 'HF_HUB_CACHE', value: '/hf-cache' },
            { name: 'HF_HUB_DISABLE_TELEMETRY', value: '1' },
            { name: 'REPO', value: REPO },
            { name: 'REVISION', value: revision },
          ],
          volumeMounts: [{ name: 'hf-cache', mountPath: '/hf-cache', readOnly: true }],
          resources: { requests: { cpu: '50m', memory: '128Mi' } },
        },
      ],
      volumes: [{ name: 'hf-cache', hostPath: { path: hostCacheDir, type: 'Directory' } }],
    },
  };
  await sh('bash', ['knative/kubectl.sh', 'apply', '-f', '-'], { input: JSON.stringify(pod) });
  const phase = await waitFor(
    'the offline reader pod to finish',
    async () => {
      const p = await getJson<{ status: { phase: string } }>('pod', READER_POD, '-n', HUB_NS);
      return p.status.phase === 'Succeeded' || p.status.phase === 'Failed' ? p.status.phase : undefined;
    },
    { timeoutMs: 180_000, describe: () => kubectl('describe', 'pod', READER_POD, '-n', HUB_NS) },
  );
  const logs = await kubectl('logs', READER_POD, '-n', HUB_NS);
  if (phase !== 'Succeeded') throw new Error(`the offline reader failed:\n${logs}`);
  const last = logs.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as ReaderResult;
}

describe('models ConfigMap edit → ApiServerSource → warm → agent → node cache → huggingface_hub offline', () => {
  beforeAll(async () => {
    await startHubInCluster();
    commit = mainCommit(await putHubRepo(REPO, FILES));
    await pointModelctlAtHub();
    originalModels = await readModelsYaml();
  }, 600_000);

  afterAll(async () => {
    await kubectl('delete', 'pod', READER_POD, '-n', HUB_NS, '--ignore-not-found').catch(() => undefined);
    if (originalModels) await editModelsConfig(originalModels).catch(() => undefined);
  });

  test('the edit is delivered, planned, downloaded into the hostPath, labelled and read offline', async () => {
    // a new commit (random content): no label or cache of an earlier run can answer for it
    const labels = await getJson<{ items: { metadata: { labels?: Record<string, string> } }[] }>('nodes');
    expect(labels.items.every((n) => n.metadata.labels?.[readyLabel(REPO)] === undefined)).toBe(true);
    const edited = Date.now();
    await editModelsConfig(
      devModelsYaml(originalModels, {
        [REPO]: { gpu_compatible: ['ALL'], revision: 'main', allow_patterns: ['*.json', '*.safetensors'] },
      }),
    );
    // only the ApiServerSource can bring this so fast: warm's PingSource fires every checkIntervalSeconds (300 s)
    const plan = await waitForPlanned(REPO, commit, 240_000);
    const planned = Date.now();
    // the ApiServerSource delivered it: warm checked the plan on the update event of our ConfigMap (read before
    // warm, min-scale 0, scales down)
    const warmLogs = await kubectl(
      ...['logs', '-n', SYSTEM_NS, '-l', 'serving.knative.dev/service=modelctl-warm', '-c', 'warm', '--tail=400'],
    );
    expect(warmLogs).toMatch(
      /"ceType":"dev\.knative\.apiserver\.resource\.update"[^\n]*"ceSubject":"[^"]*configmaps\/modelctl-models"/,
    );
    const node = await waitForReadyNode(REPO);
    const labelled = Date.now();
    console.log(
      `warm path: ConfigMap edit → plan published ${((planned - edited) / 1000).toFixed(1)} s → ` +
        `Node ${node} labelled ready ${((labelled - edited) / 1000).toFixed(1)} s after the edit ` +
        `(${(FILES['model.safetensors']!.length / 2 ** 20).toFixed(1)} MiB)`,
    );
    const entry = plan.models.find((m) => m.repo === REPO)!;
    expect(entry.files.map((f) => f.path).sort()).toEqual(WANTED);

    // the node's hostPath (this single-node cluster's node is this machine): refs/main names the commit, no newline
    const hostCache = path.join(plan.settings.nodeHostPath, plan.settings.cachePath);
    const repoDir = path.join(hostCache, `models--${REPO.replace('/', '--')}`);
    expect(await readFile(path.join(repoDir, 'refs', 'main'), 'utf8')).toBe(commit);

    const read = await runOfflineReader(hostCache, 'main');
    expect(read.snapshot).toBe(`/hf-cache/models--${REPO.replace('/', '--')}/snapshots/${commit}`);
    expect(read.files).toEqual(Object.fromEntries(WANTED.map((f) => [f, sha256(FILES[f]!)])));
    // an earlier run's commit may stay beside it (the agent evicts under disk pressure, not on a new commit)
    expect(read.commits).toContain(commit);
    expect(read.refs).toEqual(['main']);
    expect(read.warnings).toEqual([]);
  });

  test('a bad config: a Warning Event on the ConfigMap names the problem, and the plan in force stays', async () => {
    const before = await readPlan();
    expect(before?.models.some((m) => m.repo === REPO && m.commit === commit)).toBe(true);
    const sent = new Date();
    await editModelsConfig(
      devModelsYaml(originalModels, { [REPO]: { gpu_compatible: ['ALL'], revision: 'main' } }).replace(
        /^minFreeSpaceGB:.*$/m,
        'minFreeSpaceGB: lots',
      ),
    );
    const event = await waitFor(
      'warm Warning Event InvalidConfig on the models ConfigMap',
      async () => {
        const events = await getJson<{
          items: { type: string; reason: string; message: string; lastTimestamp?: string; eventTime?: string }[];
        }>(
          'events',
          '-n',
          SYSTEM_NS,
          '--field-selector',
          'involvedObject.kind=ConfigMap,involvedObject.name=modelctl-models',
        );
        return events.items.find(
          (e) =>
            e.type === 'Warning' &&
            e.reason === 'InvalidConfig' &&
            new Date(e.lastTimestamp ?? e.eventTime ?? 0).getTime() >= sent.getTime() - 1000,
        );
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    expect(event.message).toMatch(/minFreeSpaceGB/);
    const after = await readPlan();
    expect(after?.models.find((m) => m.repo === REPO)?.commit).toBe(commit);
  });
});
