import type { CoreV1Event } from '@kubernetes/client-node';
import { makeEventRecorder, type EventRecorderParams, type RecordEvent } from './event-recorder-core.js';
import type { KubeRest } from './kube-rest.js';
import { isKubeStatus, kubeRestError } from './kube-status-error.js';

/** {@link RecordEvent} over {@link KubeRest}: the same Events as record-event.ts, without client-node. */
export function createRestEventRecorder(params: EventRecorderParams & { rest: KubeRest }): RecordEvent {
  const { rest } = params;
  const events = (namespace: string, name?: string): string =>
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/events${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
  return makeEventRecorder(
    {
      async create(namespace, body) {
        await rest.request({ method: 'POST', path: events(namespace), body });
      },
      read: (namespace, name) => rest.request<CoreV1Event>({ path: events(namespace, name) }),
      async replace(namespace, name, body) {
        await rest.request({ method: 'PUT', path: events(namespace, name), body });
      },
      isConflict: (err) => isKubeStatus(err, 409),
      translate: kubeRestError,
    },
    params,
  );
}
