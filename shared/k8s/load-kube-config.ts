import { KubeConfig } from '@kubernetes/client-node';

export { KubeConfig };

/**
 * The cluster credentials a role uses: the given kubeconfig file, else client-node's default resolution
 * (`KUBECONFIG`, `~/.kube/config`, then the in-cluster service account).
 * A cluster whose `server` is `http://` (a plain-HTTP API server, e.g. behind `kubectl proxy`) is used as such:
 * client-node refuses http unless `insecure-skip-tls-verify` is set, though there is no TLS to verify (issue 14).
 */
export function loadKubeConfig(params: { kubeconfigPath?: string | undefined } = {}): KubeConfig {
  const kc = new KubeConfig();
  if (params.kubeconfigPath) kc.loadFromFile(params.kubeconfigPath);
  else kc.loadFromDefault();
  kc.clusters = kc.clusters.map((c) => (c.server.startsWith('http://') ? { ...c, skipTLSVerify: true } : c));
  return kc;
}
