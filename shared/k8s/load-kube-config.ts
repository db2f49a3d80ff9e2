import { KubeConfig } from '@kubernetes/client-node';
import { kubeconfigFiles } from './kubeconfig-files.js';

export { KubeConfig };

/**
 * The one reading of `KUBECONFIG` (every role, `--kubeconfig`, and the agent's REST client when it needs more
 * than one static file): client-node's own loading. `kubeconfig` is a path or a `:`-separated list whose files
 * are merged as client-node's `loadFromDefault()` merges `$KUBECONFIG` (clusters, users and contexts of all;
 * a later file's current-context wins; a missing file is an error). Without it, client-node's default
 * resolution: `$KUBECONFIG`, `~/.kube/config`, then the in-cluster service account.
 * A cluster whose `server` is `http://` (a plain-HTTP API server, e.g. behind `kubectl proxy`) is used as such:
 * client-node refuses http unless `insecure-skip-tls-verify` is set, though there is no TLS to verify (issue 14).
 */
export function loadKubeConfig(params: { kubeconfigPath?: string | undefined } = {}): KubeConfig {
  const files = kubeconfigFiles(params.kubeconfigPath);
  const kc = new KubeConfig();
  const [first, ...rest] = files;
  if (first === undefined) kc.loadFromDefault();
  else kc.loadFromFile(first);
  for (const file of rest) {
    const next = new KubeConfig();
    next.loadFromFile(file);
    kc.mergeConfig(next);
  }
  kc.clusters = kc.clusters.map((c) => (c.server.startsWith('http://') ? { ...c, skipTLSVerify: true } : c));
  return kc;
}
