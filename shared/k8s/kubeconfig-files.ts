import path from 'node:path';

/**
 * The files of a `KUBECONFIG`-style list (`path.delimiter`-separated, empty entries dropped). Its own module so
 * the agent's REST client can split the list without loading client-node.
 */
export function kubeconfigFiles(kubeconfigPath: string | undefined): string[] {
  return kubeconfigPath?.split(path.delimiter).filter(Boolean) ?? [];
}
