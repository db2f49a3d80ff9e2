import type { KubeRest } from '../../shared/k8s/kube-rest.js';

/** Annotations `modelctl deploy` puts on an LLM runtime's Revision template (functions/deploy/render-service.ts). */
const HF_REPO_ANNOTATION = 'modelctl.dev/hf-repo';
const HF_COMMIT_ANNOTATION = 'modelctl.dev/hf-commit';
/** Label on those pods naming the runtime: narrows the list to modelctl's serving pods. */
const RUNTIME_LABEL = 'modelctl.dev/runtime';

interface PodLike {
  metadata?: { annotations?: Record<string, string> };
  status?: { conditions?: { type?: string; status?: string }[] };
}

/**
 * The snapshots (`repo@commit`) Ready pods on `nodeName` serve from the node cache: how the agent knows a
 * Service still uses a model. One list of the node's pods carrying modelctl's runtime label
 * (`fieldSelector=spec.nodeName=…`), keeping those whose Ready condition is True and reading the model and commit
 * from their `modelctl.dev/hf-repo` / `modelctl.dev/hf-commit` annotations (Knative copies the Revision template's
 * annotations onto its pods). Needs `list pods` cluster-wide (pods of every namespace can use the cache).
 */
export async function listServingSnapshots(rest: KubeRest, nodeName: string): Promise<Set<string>> {
  const list = await rest.request<{ items?: PodLike[] }>({
    path: '/api/v1/pods',
    query: { fieldSelector: `spec.nodeName=${nodeName}`, labelSelector: RUNTIME_LABEL },
  });
  return servingSnapshots(list.items ?? []);
}

/** The `repo@commit` of each Ready pod that names one. Pure. */
export function servingSnapshots(pods: readonly PodLike[]): Set<string> {
  const keys = new Set<string>();
  for (const pod of pods) {
    const key = isReady(pod) ? snapshotKey(pod.metadata?.annotations ?? {}) : null;
    if (key !== null) keys.add(key);
  }
  return keys;
}

function isReady(pod: PodLike): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function snapshotKey(annotations: Record<string, string>): string | null {
  const repo = annotations[HF_REPO_ANNOTATION];
  const commit = annotations[HF_COMMIT_ANNOTATION];
  return repo && commit ? `${repo}@${commit}` : null;
}
