import { resolveKubeAccess, type InClusterEnv } from './kube-rest-access.js';
import { restClient } from './kube-rest-client.js';

/**
 * A small Kubernetes REST client for long-lived processes that touch a handful of core/v1 objects (the agent):
 * JSON requests and watch streams over undici, nothing else. `@kubernetes/client-node` loads its whole generated
 * API (~25 MB of JavaScript, ~60 MB of RSS) even for one call; this does not load it, except as the fallback for
 * kubeconfig users whose credentials come from a plugin (exec, auth-provider) or who go through a proxy.
 */
export interface KubeRest {
  /** the API server's base URL */
  readonly server: string;
  /**
   * One JSON request. `path` starts with `/api/` or `/apis/`.
   * @throws KubeStatusError when the server answers with a status ≥ 300; other errors as they come (network)
   */
  request<T>(req: KubeRequest): Promise<T>;
  /** A watch (`watch=true` is added): the events as they come, until the server ends the stream or `signal` aborts. */
  watch<T>(path: string, query: Record<string, string>, signal: AbortSignal): AsyncIterable<WatchEvent<T>>;
  /** Closes the connections. */
  close(): Promise<void>;
}

export interface KubeRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string> | undefined;
  body?: unknown;
  /** @default application/json */
  contentType?: string;
  signal?: AbortSignal | undefined;
}

/** One line of a watch stream. `ERROR` carries a metav1.Status (410 Gone: list again). */
export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/**
 * The client for `kubeconfigPath` (`KUBECONFIG`; a `:`-separated list is merged by client-node's own loading),
 * else `~/.kube/config`, else the in-cluster ServiceAccount: the resolution of client-node's `loadFromDefault()`.
 * Split by capability: credentials in kube-rest-access.ts, requests and watches in kube-rest-client.ts, API
 * errors in kube-status-error.ts.
 */
export async function loadKubeRest(params: {
  kubeconfigPath?: string | undefined;
  env: InClusterEnv;
}): Promise<KubeRest> {
  return restClient(await resolveKubeAccess(params));
}
