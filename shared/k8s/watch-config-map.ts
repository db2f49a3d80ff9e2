import { CoreV1Api, ListWatch, Watch, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { toRecord, type ConfigMapRecord } from './config-maps.js';

/** A running watch; `stop()` ends it. */
export interface ConfigMapWatch {
  stop(): Promise<void>;
}

/**
 * Watches one ConfigMap through the API server (list + watch by `metadata.name`, as client-go's informers do):
 * `onChange` gets the object on add/update and null on delete, within a second or so of the change. When the
 * watch breaks (API server restart, expired resourceVersion, RBAC change), `onError` is told and the watch
 * restarts after `retryDelayMs`, listing again (so nothing missed meanwhile is lost).
 */
export function watchConfigMap(params: {
  kc: KubeConfig;
  namespace: string;
  name: string;
  onChange: (configMap: ConfigMapRecord | null) => void;
  onError: (err: unknown) => void;
  /** @default 5000 */
  retryDelayMs?: number;
}): ConfigMapWatch {
  const api = params.kc.makeApiClient(CoreV1Api);
  const fieldSelector = `metadata.name=${params.name}`;
  // ListWatch directly: makeInformer() takes no field selector, and the agent may only read this one ConfigMap.
  const informer = new ListWatch<V1ConfigMap>(
    `/api/v1/namespaces/${params.namespace}/configmaps`,
    new Watch(params.kc),
    () => api.listNamespacedConfigMap({ namespace: params.namespace, fieldSelector }),
    false,
    undefined,
    fieldSelector,
  );
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const emit = (cm: V1ConfigMap): void => {
    if (cm.metadata?.name === params.name) params.onChange(toRecord(cm));
  };
  informer.on('add', emit);
  informer.on('update', emit);
  informer.on('delete', (cm) => {
    if (cm.metadata?.name === params.name) params.onChange(null);
  });
  const restart = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      informer.start().catch((err: unknown) => {
        params.onError(err);
        restart();
      });
    }, params.retryDelayMs ?? 5000);
  };
  informer.on('error', (err) => {
    params.onError(err);
    restart();
  });
  informer.start().catch((err: unknown) => {
    params.onError(err);
    restart();
  });
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await informer.stop();
    },
  };
}
