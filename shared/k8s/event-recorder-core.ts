import { createHash } from 'node:crypto';
import type { CoreV1Event } from '@kubernetes/client-node';
import { redactSecrets } from '../log/create-logger.js';

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
const EVENT_MESSAGE_MAX = 1024;

/** The core/v1 Event calls a recorder makes, whatever client carries them. */
export interface EventsApi {
  create(namespace: string, body: CoreV1Event): Promise<void>;
  read(namespace: string, name: string): Promise<CoreV1Event>;
  replace(namespace: string, name: string, body: CoreV1Event): Promise<void>;
  /** true for the API server's 409 Conflict / AlreadyExists */
  isConflict(err: unknown): boolean;
  /** the error to throw for anything else */
  translate(err: unknown, action: string): Error;
}

export interface EventRecorderParams {
  /** `source.component` and `reportingComponent`, e.g. `modelctl-warm` */
  component: string;
  /** `reportingInstance` (the pod name) @default component */
  instance?: string;
  /** @default () => new Date() */
  now?: () => Date;
}

/**
 * A {@link RecordEvent} writing core/v1 Events through `api`, as client-go's recorder does: the same
 * (object, type, reason, message) again bumps `count` and `lastTimestamp` of one Event instead of creating another.
 */
export function makeEventRecorder(api: EventsApi, params: EventRecorderParams): RecordEvent {
  const now = params.now ?? (() => new Date());
  return async (record) => {
    const message = cutMessage(redactSecrets(record.message));
    const name = eventName({ ...record, message });
    const namespace = record.involved.namespace;
    const at = now();
    try {
      await api.create(namespace, newEvent({ record, message, name, at, ...params }));
    } catch (err) {
      if (!api.isConflict(err)) throw api.translate(err, `record Event ${namespace}/${name}`);
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

async function bumpEvent(params: { api: EventsApi; namespace: string; name: string; at: Date }): Promise<void> {
  const { api, namespace, name } = params;
  try {
    const existing = await api.read(namespace, name);
    existing.count = (existing.count ?? 1) + 1;
    existing.lastTimestamp = params.at;
    await api.replace(namespace, name, existing);
  } catch (err) {
    // a concurrent bump won: the Event is there, which is what matters
    if (api.isConflict(err)) return;
    throw api.translate(err, `update Event ${namespace}/${name}`);
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
