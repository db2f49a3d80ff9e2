import type { AppError } from '../errors/app-error.js';
import type { ConfigMapRecord } from '../k8s/config-map-record.js';
import type { ConfigMaps, ConfigMapWrite } from '../k8s/config-maps.js';
import {
  PLAN_CONFIG_MAP_NAME,
  PLAN_CONTENT_HASH_ANNOTATION,
  PLAN_KEY,
  PLAN_LABELS,
  PLAN_MAX_BYTES,
  serializePlan,
  type Plan,
} from './plan.js';

/** What {@link publishPlan} did. */
export type PublishOutcome =
  | { action: 'created' | 'updated'; resourceVersion: string }
  /** the published plan already has this content and config hash: nothing written */
  | { action: 'unchanged'; resourceVersion: string };

/** A plan over the size a ConfigMap holds: nothing written; the same config gives the same plan, so retrying cannot help. */
export type PlanTooLarge = { ok: false; reason: 'plan-too-large'; message: string };

/** Another writer created, changed or removed the plan ConfigMap since it was read: read it again and re-plan. */
export type PlanStale = { ok: false; reason: 'stale'; error: AppError };

/** {@link publishPlan}'s answer; its two refusals are expected outcomes, not exceptions. */
export type PublishResult = { ok: true; outcome: PublishOutcome } | PlanTooLarge | PlanStale;

/**
 * Publishes `plan` in the plan ConfigMap, creating it or replacing it only if it is still at
 * `expectedResourceVersion` (null: it must not exist yet). Writes nothing when the published plan has the
 * same content hash and config hash.
 * A plan that does not fit in a ConfigMap is `{ ok: false, reason: 'plan-too-large' }`; a ConfigMap that another
 * writer created, changed or removed since it was read is `{ ok: false, reason: 'stale' }` (read again, re-plan).
 * @throws AppError for the API server's other failures
 */
export async function publishPlan(params: {
  configMaps: ConfigMaps;
  namespace: string;
  plan: Plan;
  /** the current plan, as read with readPlan (null when none) */
  current: { plan: Plan; resourceVersion: string } | null;
  /** @default PLAN_CONFIG_MAP_NAME */
  name?: string;
  /** when `current` is null but the ConfigMap exists (its plan unreadable): replace it at this resourceVersion */
  overwriteResourceVersion?: string;
}): Promise<PublishResult> {
  const { configMaps, namespace, plan, current } = params;
  const name = params.name ?? PLAN_CONFIG_MAP_NAME;
  if (current && samePlan(current.plan, plan)) {
    return { ok: true, outcome: { action: 'unchanged', resourceVersion: current.resourceVersion } };
  }
  const text = serializePlan(plan);
  const bytes = Buffer.byteLength(text);
  if (bytes > PLAN_MAX_BYTES) {
    return {
      ok: false,
      reason: 'plan-too-large',
      message: `plan is ${bytes} bytes, above the ${PLAN_MAX_BYTES} a ConfigMap holds: narrow allow_patterns or split the models`,
    };
  }
  const record = planRecord({ namespace, name, plan, text });
  const precondition = current?.resourceVersion ?? params.overwriteResourceVersion;
  if (precondition === undefined) return written(await configMaps.create(record), 'created');
  return written(await configMaps.replace({ ...record, resourceVersion: precondition }), 'updated');
}

function written(write: ConfigMapWrite, action: 'created' | 'updated'): PublishResult {
  if (!write.ok) return write;
  return { ok: true, outcome: { action, resourceVersion: write.configMap.resourceVersion ?? '' } };
}

/** The same content and the same config hash: publishing `b` over `a` would change nothing. */
function samePlan(a: Plan, b: Plan): boolean {
  return a.contentHash === b.contentHash && a.configHash === b.configHash;
}

/** The plan ConfigMap's content, `text` the serialized plan. */
function planRecord(params: { namespace: string; name: string; plan: Plan; text: string }): ConfigMapRecord {
  return {
    namespace: params.namespace,
    name: params.name,
    data: { [PLAN_KEY]: params.text },
    labels: { ...PLAN_LABELS },
    annotations: { [PLAN_CONTENT_HASH_ANNOTATION]: params.plan.contentHash },
  };
}
