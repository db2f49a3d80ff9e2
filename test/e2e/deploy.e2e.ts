import { beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT, getJson, kubectl, sh, waitFor, waitReady } from '../../testkit/e2e/cluster.js';

/**
 * `make deploy ENV=dev`, unchanged, on the real cluster: every object it installs becomes Ready with the real
 * Knative controllers and Eventing's own adapters, and the agent DaemonSet's pod runs on the GPU-labelled node.
 */
const NS = 'modelctl-system';

interface DaemonSet {
  status: { desiredNumberScheduled: number; numberReady: number };
}
interface Pod {
  metadata: { name: string };
  spec: { nodeName?: string };
  status: { phase: string };
}

describe('make deploy ENV=dev on the cluster', () => {
  beforeAll(async () => {
    await sh('make', ['--no-print-directory', 'deploy', 'ENV=dev'], { timeoutMs: 300_000 });
  }, 400_000);

  test('config-features carries every flag knative/features sets', async () => {
    const wanted = (
      parse(readFileSync(path.join(REPO_ROOT, 'knative', 'features', 'config-features.yaml'), 'utf8')) as {
        data: Record<string, string>;
      }
    ).data;
    const live = await getJson<{ data: Record<string, string> }>(
      'configmap',
      'config-features',
      '-n',
      'knative-serving',
    );
    for (const [key, value] of Object.entries(wanted)) expect([key, live.data[key]]).toEqual([key, value]);
  });

  test('the agent DaemonSet runs one Ready pod on the GPU-labelled node', async () => {
    await waitFor(
      'modelctl-agent Ready on the node',
      async () => {
        const ds = await getJson<DaemonSet>('daemonset', 'modelctl-agent', '-n', NS);
        const { desiredNumberScheduled: desired, numberReady: ready } = ds.status;
        return desired === 1 && ready === 1 ? true : undefined;
      },
      { timeoutMs: 240_000, describe: () => kubectl('describe', 'daemonset', 'modelctl-agent', '-n', NS) },
    );
    const pods = await getJson<{ items: Pod[] }>('pods', '-n', NS, '-l', 'app.kubernetes.io/name=modelctl-agent');
    expect(pods.items).toHaveLength(1);
    const [pod] = pods.items as [Pod];
    expect(pod.status.phase).toBe('Running');
    const node = await getJson<{ metadata: { labels: Record<string, string> } }>('node', pod.spec.nodeName ?? '');
    expect(node.metadata.labels['nvidia.com/gpu.product']).toBeTruthy();
  });

  test('the warm and cleanup Knative Services are Ready', async () => {
    await waitReady('ksvc', NS, 'modelctl-warm');
    await waitReady('ksvc', NS, 'modelctl-cleanup');
  });

  test('the ApiServerSource and both PingSources are Ready with Eventing adapters', async () => {
    await waitReady('apiserversource', NS, 'modelctl-models');
    await waitReady('pingsource', NS, 'modelctl-warm-hourly');
    await waitReady('pingsource', NS, 'modelctl-cleanup-daily');
    // ApiServerSource: its own adapter Deployment in our namespace; PingSource: Eventing's shared mt adapter
    const adapters = await getJson<{ items: Pod[] }>(
      'pods',
      '-n',
      NS,
      '-l',
      'eventing.knative.dev/sourceName=modelctl-models',
    );
    expect(adapters.items.some((p) => p.status.phase === 'Running')).toBe(true);
    await waitFor('the PingSource adapter running', async () => {
      const mt = await getJson<{ items: Pod[] }>(
        'pods',
        '-n',
        'knative-eventing',
        '-l',
        'sources.knative.dev/role=adapter',
      );
      return mt.items.some((p) => p.status.phase === 'Running') ? true : undefined;
    });
  });

  test('the shared model cache PVC is bound', async () => {
    const pvc = await getJson<{ status: { phase: string } }>('pvc', 'modelctl-model-cache', '-n', NS);
    expect(pvc.status.phase).toBe('Bound');
  });
});
