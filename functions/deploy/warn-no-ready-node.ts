import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '../../shared/k8s/load-kube-config.js';
import { modelReadyLabelKey } from '../../shared/k8s/node-labels.js';
import { isLlmRuntime, runtimeOf, type DeployOptions } from './deploy-options.js';
import { modelSourceOf } from './model-source-of.js';

/**
 * With required affinity, a pod of an hf:// runtime schedules only on a node whose agent labelled the model
 * ready. When no node carries that label, says so now: Knative would only show the Revision as Unschedulable
 * ("didn't match Pod's node affinity/selector") once the pod is Pending. Silent when nodes cannot be listed.
 */
export async function warnIfNoReadyNode(params: {
  kubeConfig: KubeConfig;
  options: DeployOptions;
  warn: (text: string) => void;
}): Promise<void> {
  const { options } = params;
  const source = modelSourceOf(options.modelUri);
  if (source.kind !== 'hf' || !isLlmRuntime(runtimeOf(options))) return;
  const label = modelReadyLabelKey(source.repo);
  let count: number;
  try {
    const api = params.kubeConfig.makeApiClient(CoreV1Api);
    const nodes = await api.listNode({ labelSelector: label, limit: 1 });
    count = nodes.items.length;
  } catch {
    return; // listing Nodes needs a ClusterRole many users lack: the Revision's status still tells
  }
  if (count > 0) return;
  const what =
    options.nodeAffinity === 'required'
      ? 'its pods stay Pending (Revision Unschedulable) until an agent reports it ready'
      : 'its pods download the model from the Hub on whatever node they land';
  params.warn(`warning: no node has ${source.repo} warm (label ${label}): ${what}`);
}
