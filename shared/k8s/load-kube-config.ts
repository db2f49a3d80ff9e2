import { KubeConfig } from '@kubernetes/client-node';

export { KubeConfig };

/**
 * The cluster credentials a role uses: the given kubeconfig file, else client-node's default resolution
 * (`KUBECONFIG`, `~/.kube/config`, then the in-cluster service account).
 */
export function loadKubeConfig(params: { kubeconfigPath?: string | undefined } = {}): KubeConfig {
  const kc = new KubeConfig();
  if (params.kubeconfigPath) kc.loadFromFile(params.kubeconfigPath);
  else kc.loadFromDefault();
  return kc;
}
