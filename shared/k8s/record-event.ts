import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { translateError } from './config-maps.js';
import { makeEventRecorder, type EventRecorderParams, type RecordEvent } from './event-recorder-core.js';

export { type EventRecord, type InvolvedObject, type RecordEvent } from './event-recorder-core.js';

/**
 * A {@link RecordEvent} writing core/v1 Events through the API server `kc` points at, as client-go's recorder
 * does: the same (object, type, reason, message) again bumps `count` and `lastTimestamp` of one Event
 * instead of creating another. (The agent records through kube-rest-events.ts instead: no client-node.)
 */
export function createEventRecorder(params: EventRecorderParams & { kc: KubeConfig }): RecordEvent {
  const api = params.kc.makeApiClient(CoreV1Api);
  return makeEventRecorder(
    {
      async create(namespace, body) {
        await api.createNamespacedEvent({ namespace, body });
      },
      read: (namespace, name) => api.readNamespacedEvent({ namespace, name }),
      async replace(namespace, name, body) {
        await api.replaceNamespacedEvent({ namespace, name, body });
      },
      isConflict: (err) => err instanceof ApiException && err.code === 409,
      translate: translateError,
    },
    params,
  );
}
