import { z } from 'zod';
import { describeIssues } from '../../shared/config/describe-issues.js';
import { readModelsConfigMapData } from '../../shared/config/models-config.js';
import { AppError } from '../../shared/errors/app-error.js';
import type { CloudEventOutcome } from '../../shared/cloudevents/mount-cloud-event-route.js';
import type { ReceivedCloudEvent } from '../../shared/cloudevents/receive-cloud-event.js';
import type { ConfigMapRecord } from '../../shared/k8s/config-map-record.js';
import type { InvolvedObject } from '../../shared/k8s/record-event.js';
import type { Logger } from '../../shared/log/create-logger.js';
import type { PlanSource } from '../../shared/plan/plan.js';
import { updatePlan } from './update-plan.js';
import { WARM_PLANNED_TYPE, type WarmDeps } from './warm-deps.js';

/** CloudEvent types warm acts on. */
const APISERVER_ADD = 'dev.knative.apiserver.resource.add';
const APISERVER_UPDATE = 'dev.knative.apiserver.resource.update';
const APISERVER_DELETE = 'dev.knative.apiserver.resource.delete';
const PING = 'dev.knative.sources.ping';
const ACCEPTED = [APISERVER_ADD, APISERVER_UPDATE, APISERVER_DELETE, PING];

/** The ConfigMap an ApiServerSource sends as `data` in Resource mode (what warm relies on of it). */
const ConfigMapObject = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('ConfigMap'),
  metadata: z.looseObject({
    name: z.string().min(1),
    namespace: z.string().min(1),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    generation: z.number().int().optional(),
  }),
  data: z.record(z.string(), z.string()).optional(),
});
type ConfigMapObject = z.output<typeof ConfigMapObject>;

/**
 * The warm function's `handle(event)`:
 * - ApiServerSource add/update of the models ConfigMap (Resource mode): a trigger only; the ConfigMap is read
 *   from the API server, validated, planned, published (an event older than it is acknowledged and ignored);
 * - its delete: keep the plan in force, record an Event;
 * - PingSource: read the models ConfigMap and re-resolve moving revisions;
 * - anything else: 400 (not retried by Knative), logged.
 * An invalid config is a Warning Event on the ConfigMap and a 200 (retrying cannot fix it); the plan in force stays.
 */
export async function handleWarmEvent(
  deps: WarmDeps,
  event: ReceivedCloudEvent,
  log: Logger,
): Promise<CloudEventOutcome> {
  if (!ACCEPTED.includes(event.type)) {
    throw new AppError({
      code: 'UNSUPPORTED_EVENT_TYPE',
      statusCode: 400,
      message: `event type ${JSON.stringify(event.type)} is not handled: warm takes ${ACCEPTED.join(', ')} (ApiServerSource in mode Resource, PingSource)`,
    });
  }
  if (event.type === PING) return handlePing(deps, log);
  const cm = configMapOf(event);
  if (cm.metadata.namespace !== deps.namespace || cm.metadata.name !== deps.modelsConfigMap) {
    log.info({ configMap: `${cm.metadata.namespace}/${cm.metadata.name}` }, 'event about another ConfigMap ignored');
    return reply(deps, {
      action: 'ignored',
      reason: `not the models ConfigMap ${deps.namespace}/${deps.modelsConfigMap}`,
    });
  }
  const involved = involvedOf(cm);
  if (event.type === APISERVER_DELETE) {
    await deps.recordEvent({
      involved,
      type: 'Warning',
      reason: 'ConfigDeleted',
      message: `models ConfigMap deleted: the plan in ConfigMap ${deps.planConfigMap} stays in force until a new config is created`,
    });
    return reply(deps, { action: 'kept', reason: 'models ConfigMap deleted; plan kept' });
  }
  const live = await deps.configMaps.get(cm.metadata.namespace, cm.metadata.name);
  const stale = staleness(cm, live);
  if (stale !== null || live === null) {
    log.info({ resourceVersion: cm.metadata.resourceVersion, reason: stale }, 'outdated event ignored');
    return reply(deps, { action: 'ignored', reason: stale ?? 'the ConfigMap no longer exists' });
  }
  // the event is a trigger, never the truth: the plan comes from the ConfigMap as the API server has it, so an
  // event whose data was forged or altered cannot put a repo into the plan (issue 14)
  return planFrom(deps, { record: live, involved: involvedOfRecord(live), refresh: false, log });
}

/**
 * Why an add/update event no longer describes the ConfigMap (null when it does): Knative redelivers failed
 * events later, possibly after newer ones; the newer version's own event (or the next ping) plans it.
 */
function staleness(cm: ConfigMapObject, live: ConfigMapRecord | null): string | null {
  if (live === null) return 'the ConfigMap no longer exists';
  if (cm.metadata.uid !== undefined && live.uid !== cm.metadata.uid)
    return 'the ConfigMap was deleted and created again since';
  if (cm.metadata.resourceVersion !== undefined && live.resourceVersion !== cm.metadata.resourceVersion) {
    return `outdated: the event carries resourceVersion ${cm.metadata.resourceVersion}, the ConfigMap is at ${live.resourceVersion ?? '?'}`;
  }
  return null;
}

/** PingSource: the config as it is now in the API server (events missed while down are caught up here). */
async function handlePing(deps: WarmDeps, log: Logger): Promise<CloudEventOutcome> {
  const record = await deps.configMaps.get(deps.namespace, deps.modelsConfigMap);
  if (record === null) {
    log.warn({ configMap: deps.modelsConfigMap }, 'no models ConfigMap; plan kept');
    return reply(deps, {
      action: 'kept',
      reason: `ConfigMap ${deps.namespace}/${deps.modelsConfigMap} not found; plan kept`,
    });
  }
  return planFrom(deps, { record, involved: involvedOfRecord(record), refresh: true, log });
}

function involvedOfRecord(record: ConfigMapRecord): InvolvedObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    name: record.name,
    namespace: record.namespace,
    uid: record.uid,
    resourceVersion: record.resourceVersion,
  };
}

async function planFrom(
  deps: WarmDeps,
  params: { record: ConfigMapRecord; involved: InvolvedObject; refresh: boolean; log: Logger },
): Promise<CloudEventOutcome> {
  const { record, involved, log } = params;
  const read = readModelsConfigMapData(record.data);
  if (!read.ok) {
    const { errors } = read;
    log.warn({ errors, resourceVersion: record.resourceVersion }, 'invalid models config rejected; plan kept');
    await deps.recordEvent({
      involved,
      type: 'Warning',
      reason: 'InvalidConfig',
      message: `models config rejected, the plan in force is unchanged: ${errors.join('; ')}`,
    });
    return reply(deps, { action: 'rejected', errors });
  }
  const { config } = read;
  const source: PlanSource = {
    namespace: record.namespace,
    name: record.name,
    ...(record.uid ? { uid: record.uid } : {}),
    ...(record.resourceVersion ? { resourceVersion: record.resourceVersion } : {}),
    ...(record.generation === undefined ? {} : { generation: record.generation }),
  };
  const result = await updatePlan({ deps, config, source, involved, refresh: params.refresh, log });
  if (!result.ok) {
    // permanent: retrying the same config gives the same plan; say so on the ConfigMap and acknowledge
    log.warn({ message: result.message }, 'plan too large; plan in force kept');
    await deps.recordEvent({
      involved,
      type: 'Warning',
      reason: 'PlanTooLarge',
      message: `${result.message}; the plan in force is unchanged`,
    });
    return reply(deps, { action: 'rejected', errors: [result.message] });
  }
  const { update } = result;
  log.info(
    {
      action: update.action,
      contentHash: update.contentHash,
      changes: update.changes,
      hubRequests: update.hubRequests,
    },
    'plan checked',
  );
  return reply(deps, update);
}

function configMapOf(event: ReceivedCloudEvent): ConfigMapObject {
  let data = event.data;
  if (typeof data === 'string' || Buffer.isBuffer(data)) {
    try {
      data = JSON.parse(data.toString()) as unknown;
    } catch {
      // left as is: the schema below names the problem
    }
  }
  const parsed = ConfigMapObject.safeParse(data);
  if (parsed.success) return parsed.data;
  const fields = describeIssues(parsed.error.issues, { root: '(data)' }).join('; ');
  throw new AppError({
    code: 'BAD_EVENT_DATA',
    statusCode: 400,
    message: `${event.type} data is not a ConfigMap (is the ApiServerSource in mode Resource?): ${fields}`,
  });
}

function involvedOf(cm: ConfigMapObject): InvolvedObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    name: cm.metadata.name,
    namespace: cm.metadata.namespace,
    uid: cm.metadata.uid,
    resourceVersion: cm.metadata.resourceVersion,
  };
}

function reply<T extends { action: string }>(deps: WarmDeps, data: T): CloudEventOutcome {
  return {
    reply: {
      type: WARM_PLANNED_TYPE,
      source: deps.replySource ?? '/modelctl/warm',
      subject: `/apis/v1/namespaces/${deps.namespace}/configmaps/${deps.planConfigMap}`,
      data,
    },
  };
}
