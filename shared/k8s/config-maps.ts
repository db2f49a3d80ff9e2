import { ApiException, CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { AppError } from '../errors/app-error.js';
import { toRecord, type ConfigMapRecord } from './config-map-record.js';
import { kubeAppError } from './kube-error.js';

/** Get/create/replace of ConfigMaps, with optimistic concurrency by resourceVersion. */
export interface ConfigMaps {
  /** The ConfigMap, or null when it does not exist. */
  get(namespace: string, name: string): Promise<ConfigMapRecord | null>;
  /** @throws AppError `CONFLICT` (409) when it already exists */
  create(configMap: ConfigMapRecord): Promise<ConfigMapRecord>;
  /**
   * Replaces the whole object, only if its resourceVersion is still `configMap.resourceVersion`.
   * @throws AppError `CONFLICT` (409) when someone changed it meanwhile, `NOT_FOUND` (404) when it is gone
   */
  replace(configMap: ConfigMapRecord & { resourceVersion: string }): Promise<ConfigMapRecord>;
}

/** {@link ConfigMaps} backed by the API server `kc` points at. */
export function createConfigMaps(kc: KubeConfig): ConfigMaps {
  const api = kc.makeApiClient(CoreV1Api);
  return {
    async get(namespace, name) {
      try {
        return toRecord(await api.readNamespacedConfigMap({ namespace, name }));
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return null;
        throw translateError(err, `get ConfigMap ${namespace}/${name}`);
      }
    },
    async create(configMap) {
      try {
        return toRecord(
          await api.createNamespacedConfigMap({ namespace: configMap.namespace, body: toBody(configMap) }),
        );
      } catch (err) {
        throw translateError(err, `create ConfigMap ${configMap.namespace}/${configMap.name}`);
      }
    },
    async replace(configMap) {
      const { namespace, name } = configMap;
      try {
        return toRecord(await api.replaceNamespacedConfigMap({ namespace, name, body: toBody(configMap) }));
      } catch (err) {
        throw translateError(err, `replace ConfigMap ${namespace}/${name}`);
      }
    },
  };
}

function toBody(cm: ConfigMapRecord): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      namespace: cm.namespace,
      name: cm.name,
      labels: cm.labels,
      annotations: cm.annotations,
      ...(cm.resourceVersion === undefined ? {} : { resourceVersion: cm.resourceVersion }),
    },
    data: cm.data,
  };
}

/** client-node's API errors as AppErrors with a stable code (see kubeAppError). */
export function translateError(err: unknown, action: string): AppError {
  return kubeAppError(err, action, err instanceof ApiException ? { status: err.code as number, body: err.body } : null);
}
