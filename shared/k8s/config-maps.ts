import { ApiException, CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { AppError } from '../errors/app-error.js';
import { toRecord, type ConfigMapRecord } from './config-map-record.js';
import { kubeAppError } from './kube-error.js';

/**
 * A write's answer: the ConfigMap as written, or `stale`, an expected outcome of optimistic concurrency and not an
 * exception: what the write assumed no longer holds (it exists already or changed meanwhile: 409; it or its
 * namespace is gone: 404). `error` is the API server's answer, for a caller that gives up.
 */
export type ConfigMapWrite = { ok: true; configMap: ConfigMapRecord } | { ok: false; reason: 'stale'; error: AppError };

/** Get/create/replace of ConfigMaps, with optimistic concurrency by resourceVersion. */
export interface ConfigMaps {
  /** The ConfigMap, or null when it does not exist. */
  get(namespace: string, name: string): Promise<ConfigMapRecord | null>;
  /** Creates it; `stale` when it already exists. @throws AppError for other failures */
  create(configMap: ConfigMapRecord): Promise<ConfigMapWrite>;
  /**
   * Replaces the whole object, only if its resourceVersion is still `configMap.resourceVersion`; `stale` when
   * someone changed it meanwhile or it is gone. @throws AppError for other failures
   */
  replace(configMap: ConfigMapRecord & { resourceVersion: string }): Promise<ConfigMapWrite>;
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
      const { namespace, name } = configMap;
      try {
        return {
          ok: true,
          configMap: toRecord(await api.createNamespacedConfigMap({ namespace, body: toBody(configMap) })),
        };
      } catch (err) {
        return staleWrite(err, `create ConfigMap ${namespace}/${name}`);
      }
    },
    async replace(configMap) {
      const { namespace, name } = configMap;
      try {
        return {
          ok: true,
          configMap: toRecord(await api.replaceNamespacedConfigMap({ namespace, name, body: toBody(configMap) })),
        };
      } catch (err) {
        return staleWrite(err, `replace ConfigMap ${namespace}/${name}`);
      }
    },
  };
}

/** A write refused with 409 or 404 is `stale`; any other failure is thrown as an AppError. */
function staleWrite(err: unknown, action: string): ConfigMapWrite {
  const error = translateError(err, action);
  if (err instanceof ApiException && (err.code === 409 || err.code === 404))
    return { ok: false, reason: 'stale', error };
  throw error;
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
