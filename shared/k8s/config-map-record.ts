import type { V1ConfigMap } from '@kubernetes/client-node';

/** A ConfigMap as modelctl uses it: its data and the metadata needed for preconditions and Events. */
export interface ConfigMapRecord {
  namespace: string;
  name: string;
  data: Record<string, string>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** set on objects read from the API server; the precondition of a replace (config-maps.ts) */
  resourceVersion?: string;
  uid?: string;
  generation?: number;
}

/** The fields of a V1ConfigMap that {@link ConfigMapRecord} keeps. Exported for watch/event payloads. */
export function toRecord(cm: V1ConfigMap): ConfigMapRecord {
  const meta = cm.metadata ?? {};
  return {
    namespace: meta.namespace ?? '',
    name: meta.name ?? '',
    data: cm.data ?? {},
    labels: meta.labels ?? {},
    annotations: meta.annotations ?? {},
    ...(meta.resourceVersion === undefined ? {} : { resourceVersion: meta.resourceVersion }),
    ...(meta.uid === undefined ? {} : { uid: meta.uid }),
    ...(meta.generation === undefined ? {} : { generation: meta.generation }),
  };
}
