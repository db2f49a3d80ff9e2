import { createHash } from 'node:crypto';
import { ApiException, CoreV1Api, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import { redactSecrets } from '../log/create-logger.js';
import { translateError } from './config-maps.js';

/** The object an Event is about. */
export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string | undefined;
  resourceVersion?: string | undefined;
}

/** One Event to record. */
export interface EventRecord {
  involved: InvolvedObject;
  type: 'Normal' | 'Warning';
  /** UpperCamelCase, e.g. `InvalidConfig` */
  reason: string;
  /** scrubbed of credentials and cut to {@link EVENT_MESSAGE_MAX} characters */
  message: string;
}

/** Records Kubernetes Events (core/v1) about objects. */
export type RecordEvent = (event: EventRecord) => Promise<void>;

/** Event messages longer than this are cut (kubectl shows them on one line; events.k8s.io caps notes at 1 kB). */
export const EVENT_MESSAGE_MAX = 1024;

/**
 * A {@link RecordEvent} writing core/v1 Events through the API server, as client-go's recorder does:
 * the same (object, type, reason, message) again bumps `count` and `lastTimestamp` of one Event
 * instead of creating another.
 */
export function createEventRecorder(params: {
  kc: KubeConfig;
  /** `source.component` and `reportingComponent`, e.g. `modelctl-warm` */
  component: string;
  /** `reportingInstance` (the pod name) @default component */
  instance?: string;
  /** @default () => new Date() */
  now?: () => Date;
}): RecordEvent {
  const api = params.kc.makeApiClient(CoreV1Api);
  const now = params.now ?? (() => new Date());
  return async (record) => {
    const message = cutMessage(redactSecrets(record.message));
    const name = eventName({ ...record, message });
    const namespace = record.involved.namespace;
    const at = now();
    try {
      await api.createNamespacedEvent({ namespace, body: newEvent({ record, message, name, at, ...params }) });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409))
        throw translateError(err, `record Event ${namespace}/${name}`);
      await bumpEvent({ api, namespace, name, at });
    }
  };
}

function newEvent(params: {
  record: EventRecord;
  message: string;
  name: string;
  at: Date;
  component: string;
  instance?: string;
}): CoreV1Event {
  const { record, at } = params;
  const { uid, resourceVersion, ...ref } = record.involved;
  return {
    metadata: { name: params.name, namespace: record.involved.namespace },
    involvedObject: { ...ref, ...(uid ? { uid } : {}), ...(resourceVersion ? { resourceVersion } : {}) },
    type: record.type,
    reason: record.reason,
    message: params.message,
    count: 1,
    firstTimestamp: at,
    lastTimestamp: at,
    source: { component: params.component },
    reportingComponent: params.component,
    reportingInstance: params.instance ?? params.component,
  };
}

async function bumpEvent(params: { api: CoreV1Api; namespace: string; name: string; at: Date }): Promise<void> {
  const { api, namespace, name } = params;
  try {
    const existing = await api.readNamespacedEvent({ namespace, name });
    existing.count = (existing.count ?? 1) + 1;
    existing.lastTimestamp = params.at;
    await api.replaceNamespacedEvent({ namespace, name, body: existing });
  } catch (err) {
    // a concurrent bump won: the Event is there, which is what matters
    if (err instanceof ApiException && err.code === 409) return;
    throw translateError(err, `update Event ${namespace}/${name}`);
  }
}

/** `<object>.<hash of uid, type, reason, message>`: one Event per distinct occurrence, as client-go aggregates. */
function eventName(record: EventRecord): string {
  const key = [record.involved.kind, record.involved.uid ?? '', record.type, record.reason, record.message].join('\n');
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  return `${record.involved.name.slice(0, 253 - 17)}.${hash}`;
}

function cutMessage(message: string): string {
  return message.length <= EVENT_MESSAGE_MAX ? message : `${message.slice(0, EVENT_MESSAGE_MAX - 1)}…`;
}
