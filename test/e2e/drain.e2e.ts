import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import path from 'node:path';
import { REPO_ROOT, getJson, kubectl, postThroughIngress, sh, waitFor } from '../../testkit/e2e/cluster.js';
import { MLFLOW_IN_CLUSTER, MLFLOW_NS, ensureMlflow, installModelctl } from '../../testkit/e2e/mlflow.js';

/**
 * (6) A serving pod scaled down under load: the Revision runs two pods under steady traffic through the ingress,
 * its scale bounds drop to one (the Revision's own annotations: same Revision, no rollout), Knative terminates a
 * pod, and no request fails: queue-proxy drains, serve finishes what it accepted and exits on SIGTERM.
 */
const NS = MLFLOW_NS;
const NAME = 'iris-drain';
const REVISION = `${NAME}-v1`;
const INPUT = { inputs: [[5.1, 3.5, 1.4, 0.2]] };

interface Pod {
  metadata: { name: string; deletionTimestamp?: string };
  status: { containerStatuses?: { ready: boolean }[] };
}

async function pods(): Promise<Pod[]> {
  return (await getJson<{ items: Pod[] }>('pods', '-n', NS, '-l', `serving.knative.dev/revision=${REVISION}`)).items;
}

const ready = (p: Pod): boolean =>
  p.metadata.deletionTimestamp === undefined && (p.status.containerStatuses ?? []).every((c) => c.ready);

/** Workers posting one request after another until stopped; every non-200 (or network error) is kept. */
function load(workers: number): { stop: () => Promise<{ ok: number; failures: string[] }> } {
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const worker = async (): Promise<void> => {
    while (running) {
      try {
        const res = await postThroughIngress(NAME, NS, '/invocations', INPUT);
        if (res.status === 200) ok += 1;
        else failures.push(`${res.status} ${res.body.slice(0, 200)}`);
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const all = Array.from({ length: workers }, worker);
  return {
    stop: async () => {
      running = false;
      await Promise.all(all);
      return { ok, failures };
    },
  };
}

describe('a serving pod scaled down under load', () => {
  beforeAll(async () => {
    await installModelctl();
    await ensureMlflow();
    await sh(
      path.join(REPO_ROOT, 'bin', 'modelctl'),
      [
        'deploy',
        ...['--serve-name', NAME, '--model-uri', 'models:/iris-onnx@champion', '--artifact-version', 'v1'],
        ...['--cores', '0.2', '--memory', '0.5', '--namespace', NS, '--image', 'dev.local/modelctl:e2e'],
        ...['--mlflow-tracking-uri', MLFLOW_IN_CLUSTER, '--min-scale', '2', '--max-scale', '2', '--wait'],
      ],
      { timeoutMs: 600_000 },
    );
    await waitFor('two Ready pods', async () => ((await pods()).filter(ready).length === 2 ? true : undefined), {
      timeoutMs: 300_000,
    });
    // the ingress programs the route a moment after the Service is Ready (Traefik answers 404 until then)
    await waitFor('the ingress to route to the Revision', async () =>
      (await postThroughIngress(NAME, NS, '/invocations', INPUT)).status === 200 ? true : undefined,
    );
  }, 900_000);

  afterAll(async () => {
    await kubectl('-n', NS, 'delete', 'ksvc', NAME, '--ignore-not-found').catch(() => undefined);
  });

  test('2 -> 1 pods while requests flow: every request answers 200', async () => {
    const traffic = load(3);
    await new Promise((r) => setTimeout(r, 5000));
    const [victim, survivor] = (await pods()).map((p) => p.metadata.name);
    await kubectl(
      'annotate',
      'revision',
      REVISION,
      '-n',
      NS,
      '--overwrite',
      'autoscaling.knative.dev/min-scale=1',
      'autoscaling.knative.dev/max-scale=1',
    );
    await waitFor(
      'one pod of the Revision left',
      async () => {
        const left = await pods();
        return left.length === 1 ? left : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 1000 },
    );
    await new Promise((r) => setTimeout(r, 3000));
    const { ok, failures } = await traffic.stop();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    // one of the two pods went, the other one kept serving
    const left = (await pods()).map((p) => p.metadata.name);
    expect(left).toHaveLength(1);
    expect([victim, survivor]).toContain(left[0]);
  });
});
