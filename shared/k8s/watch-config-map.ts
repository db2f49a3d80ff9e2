import { setTimeout as delay } from 'node:timers/promises';
import type { V1ConfigMap, V1ConfigMapList, V1Status } from '@kubernetes/client-node';
import { toRecord, type ConfigMapRecord } from './config-map-record.js';
import type { KubeRest } from './kube-rest.js';
import { isKubeStatus, kubeRestError, KubeStatusError } from './kube-status-error.js';

/** A running watch; `stop()` ends it. */
export interface ConfigMapWatch {
  stop(): Promise<void>;
}

/** One ConfigMap, or null when it does not exist. */
export async function readConfigMap(rest: KubeRest, namespace: string, name: string): Promise<ConfigMapRecord | null> {
  try {
    return toRecord(await rest.request<V1ConfigMap>({ path: configMapsPath(namespace, name) }));
  } catch (err) {
    if (isKubeStatus(err, 404)) return null;
    throw kubeRestError(err, `get ConfigMap ${namespace}/${name}`);
  }
}

function configMapsPath(namespace: string, name?: string): string {
  const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

/**
 * Watches one ConfigMap through the API server, as client-go's reflector does with a field selector on
 * `metadata.name` (the agent may only read this one ConfigMap, and keeps no cache of others): list, then watch
 * from the list's resourceVersion, resuming from the last one seen when the server ends the stream. `onChange`
 * gets the object when it appears or its resourceVersion changes, and null when it is deleted, within a second
 * or so of the change. When the watch breaks (API server restart, RBAC change), `onError` is told and the list
 * and watch start again after `retryDelayMs` (so nothing missed meanwhile is lost); an expired resourceVersion
 * (410 Gone) lists again at once.
 */
export function watchConfigMap(params: {
  rest: KubeRest;
  namespace: string;
  name: string;
  onChange: (configMap: ConfigMapRecord | null) => void;
  onError: (err: unknown) => void;
  /** @default 5000 */
  retryDelayMs?: number;
}): ConfigMapWatch {
  const { rest, name } = params;
  const path = configMapsPath(params.namespace);
  const fieldSelector = `metadata.name=${name}`;
  const stop = new AbortController();
  /** resourceVersion of what onChange last got (null: absent or not seen yet) */
  let seen: string | null = null;
  const emit = (cm: V1ConfigMap | null): void => {
    const rv = cm ? (cm.metadata?.resourceVersion ?? '') : null;
    if (rv === seen) return;
    seen = rv;
    params.onChange(cm ? toRecord(cm) : null);
  };
  /** One watch request from `resourceVersion`: the last resourceVersion seen, or null when it expired (410). */
  const watchFrom = async (resourceVersion: string): Promise<string | null> => {
    // 5 to 10 minutes per watch request, as client-go spreads its reflectors'
    const timeoutSeconds = String(300 + Math.floor(Math.random() * 300));
    const query = { fieldSelector, resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds };
    let rv = resourceVersion;
    for await (const ev of rest.watch<V1ConfigMap | V1Status>(path, query, stop.signal)) {
      if (ev.type === 'ERROR') {
        const err = watchStatusError(ev.object as V1Status, path);
        if (err === null) return null;
        throw err;
      }
      const cm = ev.object as V1ConfigMap;
      rv = cm.metadata?.resourceVersion ?? rv;
      if (ev.type !== 'BOOKMARK' && cm.metadata?.name === name) emit(ev.type === 'DELETED' ? null : cm);
    }
    return rv;
  };
  const listAndWatch = async (): Promise<void> => {
    const list = await rest.request<V1ConfigMapList>({ path, query: { fieldSelector }, signal: stop.signal });
    const found = list.items.find((cm) => cm.metadata?.name === name) ?? null;
    if (found || seen !== null) emit(found);
    let resourceVersion: string | null = list.metadata?.resourceVersion ?? '';
    while (!stop.signal.aborted) {
      const started = Date.now();
      resourceVersion = await watchFrom(resourceVersion);
      if (resourceVersion === null) return; // expired: list again
      // a server that closes every watch at once is not hammered
      if (Date.now() - started < 1000) await delay(1000, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  };
  const loop = (async () => {
    while (!stop.signal.aborted) {
      try {
        await listAndWatch();
      } catch (err) {
        if (stop.signal.aborted) return;
        params.onError(err);
        await delay(params.retryDelayMs ?? 5000, undefined, { signal: stop.signal }).catch(() => undefined);
      }
    }
  })();
  return {
    async stop() {
      stop.abort();
      await loop;
    },
  };
}

/** The error an ERROR watch event stands for; `null` for 410 Gone: the resourceVersion expired, list again. */
function watchStatusError(status: V1Status, path: string): KubeStatusError | null {
  if (status.code === 410) return null;
  return new KubeStatusError(status.code ?? 500, JSON.stringify(status), `watch ${path}`);
}
