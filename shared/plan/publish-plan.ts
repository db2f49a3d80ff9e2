import { AppError } from '../errors/app-error.js';
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

declare module '../errors/app-error.js' {
  interface ErrorCodes {
    /** a plan over the ConfigMap size limit */
    plan: 'PLAN_TOO_LARGE';
  }
}

/** What {@link publishPlan} did. */
export type PublishOutcome =
  | { action: 'created' | 'updated'; resourceVersion: string }
  /** the published plan already has this content and config hash: nothing written */
  | { action: 'unchanged'; resourceVersion: string };

/**
 * Publishes `plan` in the plan ConfigMap, creating it or replacing it only if it is still at
 * `expectedResourceVersion` (null: it must not exist yet). Writes nothing when the published plan has the
 * same content hash and config hash.
 * @throws AppError `CONFLICT` when another writer changed the ConfigMap since it was read (read again, re-plan)
 * @throws AppError `PLAN_TOO_LARGE` when the plan does not fit in a ConfigMap
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
}): Promise<PublishOutcome> {
  const { configMaps, namespace, plan, current } = params;
  const name = params.name ?? PLAN_CONFIG_MAP_NAME;
  if (current && current.plan.contentHash === plan.contentHash && current.plan.configHash === plan.configHash) {
    return { action: 'unchanged', resourceVersion: current.resourceVersion };
  }
  const record = planRecord({ namespace, name, plan });
  const precondition = current?.resourceVersion ?? params.overwriteResourceVersion;
  if (precondition === undefined) {
    const created = await configMaps.create(record);
    return { action: 'created', resourceVersion: created.resourceVersion ?? '' };
  }
  const updated = await configMaps.replace({ ...record, resourceVersion: precondition });
  return { action: 'updated', resourceVersion: updated.resourceVersion ?? '' };
}

/** The plan ConfigMap's content. @throws AppError `PLAN_TOO_LARGE` */
function planRecord(params: { namespace: string; name: string; plan: Plan }): ConfigMapRecord {
  const text = serializePlan(params.plan);
  const bytes = Buffer.byteLength(text);
  if (bytes > PLAN_MAX_BYTES) {
    throw new AppError({
      code: 'PLAN_TOO_LARGE',
      message: `plan is ${bytes} bytes, above the ${PLAN_MAX_BYTES} a ConfigMap holds: narrow allow_patterns or split the models`,
    });
  }
  return {
    namespace: params.namespace,
    name: params.name,
    data: { [PLAN_KEY]: text },
    labels: { ...PLAN_LABELS },
    annotations: { [PLAN_CONTENT_HASH_ANNOTATION]: params.plan.contentHash },
  };
}
