// The Knative Services `make bench-e2e` cold-starts (bench/cold-start-e2e.ts): one per model and source, each
// rendered by `modelctl deploy` itself and applied with the bench's fast scale-to-zero annotations.
import path from 'node:path';
import { REPO_ROOT, getJson, kubectl, sh, waitReady } from '../test/e2e/cluster.js';

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

/** What every cell shares: one core, SERVE_MAX_CONCURRENCY=1 (one onnxruntime session), our image. */
export function commonArgs(params: { cell: Cell; namespace: string; image: string }): string[] {
  const big = params.cell.model === 'embed-1g';
  return [
    ...['--serve-name', params.cell.service, '--artifact-version', 'v1', '--namespace', params.namespace],
    ...['--cores', '1', '--memory', big ? '3' : '1', '--image', params.image],
    ...(big ? ['--model-size', '1'] : []),
    ...['--env', 'SERVE_MAX_CONCURRENCY=1'],
  ];
}

interface ServiceObject {
  spec: { template: { metadata: { annotations?: Record<string, string> } } };
}

/**
 * Renders the Service with `modelctl deploy --dry-run client -o json`, adds `annotations` to its revision template,
 * applies it server-side (field manager modelctl, as deploy does) and waits until it is Ready.
 */
export async function applyCell(params: {
  args: string[];
  annotations: Record<string, string>;
  namespace: string;
  service: string;
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
  await waitReady('ksvc', params.namespace, params.service, 900_000);
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
