import type { ConfigMapRecord } from '../k8s/config-map-record.js';
import type { ConfigMaps } from '../k8s/config-maps.js';
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

/**
 * {@link publishPlan}'s answer. A plan over the size a ConfigMap holds is an expected outcome, not an exception:
 * nothing is written, and the same config gives the same plan, so retrying cannot help.
 */
export type PublishResult =
  { ok: true; outcome: PublishOutcome } | { ok: false; reason: 'plan-too-large'; message: string };

/**
 * Publishes `plan` in the plan ConfigMap, creating it or replacing it only if it is still at
 * `expectedResourceVersion` (null: it must not exist yet). Writes nothing when the published plan has the
 * same content hash and config hash.
 * A plan that does not fit in a ConfigMap is `{ ok: false, reason: 'plan-too-large' }`.
 * @throws AppError `CONFLICT` when another writer changed the ConfigMap since it was read (read again, re-plan)
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
  if (precondition === undefined) {
    const created = await configMaps.create(record);
    return { ok: true, outcome: { action: 'created', resourceVersion: created.resourceVersion ?? '' } };
  }
  const updated = await configMaps.replace({ ...record, resourceVersion: precondition });
  return { ok: true, outcome: { action: 'updated', resourceVersion: updated.resourceVersion ?? '' } };
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
