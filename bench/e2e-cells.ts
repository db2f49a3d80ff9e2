// The Knative Services `make bench-e2e` cold-starts (bench/cold-start-e2e.ts): one per model and source, each
// rendered by `modelctl deploy` itself and applied with the bench's fast scale-to-zero annotations.
import path from 'node:path';
import { REPO_ROOT, getJson, kubectl, sh, waitReady } from '../testkit/e2e/cluster.js';

export type Source = 'mlflow' | 'pvc' | 'hf';
export type ModelKey = 'tiny' | 'embed-1g';

export interface Cell {
  source: Source;
  model: ModelKey;
  service: string;
  /** `modelctl deploy` arguments beyond the common ones */
  args: string[];
  /** the pod has fetch as init container (MLflow sources); hf:// is read from the node cache by serve itself */
  hasInit: boolean;
  /**
   * what must hold before each start, waited for outside the measured time (hf://: the model in the models
   * ConfigMap and ready on the node, which other tests' `make deploy` can undo)
   */
  ensure?: () => Promise<void>;
}

const MODELCTL = path.join(REPO_ROOT, 'bin', 'modelctl');

/**
 * Per revision: the autoscaler's stable window at its minimum (6 s) and no pod retention, so an idle Revision
 * goes to zero within seconds of its last request (Knative's defaults: 60 s window).
 */
export const FAST_SCALE_DOWN = {
  'autoscaling.knative.dev/window': '6s',
  'autoscaling.knative.dev/scale-to-zero-pod-retention-period': '0s',
};

/** What every cell shares: `cores` (requested = limit), SERVE_MAX_CONCURRENCY=1 (one onnxruntime session), our image. */
export function commonArgs(params: { cell: Cell; namespace: string; image: string; cores: number }): string[] {
  const big = params.cell.model === 'embed-1g';
  return [
    ...['--serve-name', params.cell.service, '--artifact-version', 'v1', '--namespace', params.namespace],
    ...['--cores', String(params.cores), '--memory', big ? '3' : '1', '--image', params.image],
    ...(big ? ['--model-size', '1'] : []),
    ...['--env', 'SERVE_MAX_CONCURRENCY=1'],
  ];
}

interface ServiceObject {
  spec: { template: { metadata: { annotations?: Record<string, string> } } };
}

/**
 * Renders the Service with `modelctl deploy --dry-run client -o json`, adds `annotations` to its revision template
 * and applies it server-side (field manager modelctl, as deploy does); `wait`: until it is Ready.
 */
export async function applyCell(params: {
  args: string[];
  annotations: Record<string, string>;
  namespace: string;
  service: string;
  /** @default true */
  wait?: boolean;
}): Promise<void> {
  const { stdout } = await sh(MODELCTL, ['deploy', ...params.args, '--dry-run', 'client', '-o', 'json']);
  const svc = JSON.parse(stdout) as ServiceObject;
  const meta = svc.spec.template.metadata;
  meta.annotations = { ...meta.annotations, ...params.annotations };
  await sh(
    'bash',
    [path.join(REPO_ROOT, 'knative', 'kubectl.sh'), 'apply', '--server-side', '--field-manager', 'modelctl', '-f', '-'],
    { input: JSON.stringify(svc) },
  );
  if (params.wait !== false) await waitReady('ksvc', params.namespace, params.service, 900_000);
}

interface NodeAndPods {
  node: { status: { allocatable: { cpu: string } } };
  pods: {
    status: { phase: string };
    spec: { containers: { resources?: { requests?: { cpu?: string } } }[] };
  }[];
}

const milliCpu = (q: string | undefined): number =>
  q === undefined ? 0 : q.endsWith('m') ? Number(q.slice(0, -1)) : Math.round(Number(q) * 1000);

async function nodeAndPods(): Promise<NodeAndPods> {
  const nodes = await getJson<{ items: NodeAndPods['node'][] }>('nodes');
  const pods = await getJson<{ items: NodeAndPods['pods'] }>(
    'pods',
    '-A',
    '--field-selector=status.phase!=Succeeded,status.phase!=Failed',
  );
  return { node: nodes.items[0]!, pods: pods.items };
}

/**
 * Waits until the (single) node has `milli` CPU unrequested: a pod that cannot be scheduled waits for a terminating
 * one (Knative's queue-proxy drains for about 30 s) or for other tests' pods, which is not part of a cold start.
 * @returns ms waited
 */
export async function waitForCpu(milli: number, timeoutMs = 600_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const { node, pods } = await nodeAndPods();
    const used = pods.flatMap((p) => p.spec.containers).reduce((n, c) => n + milliCpu(c.resources?.requests?.cpu), 0);
    if (milliCpu(node.status.allocatable.cpu) - used >= milli) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`no ${milli}m CPU free on the node in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Deletes the bench's Services (a re-run starts from a clean Revision v1). */
export async function deleteServices(namespace: string, services: string[]): Promise<void> {
  if (services.length === 0) return;
  await kubectl('delete', 'ksvc', '-n', namespace, ...services, '--ignore-not-found', '--wait=true');
}

interface PodList {
  items: { metadata: { name: string; deletionTimestamp?: string } }[];
}

/** The Service's pods: those still serving, and the names of all (terminating ones included). */
export async function servicePods(namespace: string, service: string): Promise<{ live: number; names: string[] }> {
  const pods = await getJson<PodList>('pods', '-n', namespace, '-l', `serving.knative.dev/service=${service}`);
  return {
    live: pods.items.filter((p) => p.metadata.deletionTimestamp === undefined).length,
    names: pods.items.map((p) => p.metadata.name),
  };
}
