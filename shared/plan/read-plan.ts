import type { ConfigMaps } from '../k8s/config-maps.js';
import { PLAN_CONFIG_MAP_NAME, PLAN_KEY, parsePlan, type Plan } from './plan.js';

/** The published plan and the resourceVersion of its ConfigMap (the precondition for the next write). */
export interface PublishedPlan {
  plan: Plan;
  resourceVersion: string;
}

/**
 * Reads the plan ConfigMap through the API server.
 * @returns null when no plan was published yet
 * @throws Error when the ConfigMap exists but its plan is missing or invalid (naming each bad field)
 */
export async function readPlan(params: {
  configMaps: ConfigMaps;
  namespace: string;
  /** @default PLAN_CONFIG_MAP_NAME */
  name?: string;
}): Promise<PublishedPlan | null> {
  const name = params.name ?? PLAN_CONFIG_MAP_NAME;
  const cm = await params.configMaps.get(params.namespace, name);
  if (cm === null) return null;
  const text = cm.data[PLAN_KEY];
  if (text === undefined) throw new Error(`ConfigMap ${params.namespace}/${name} has no ${PLAN_KEY} key`);
  return { plan: parsePlan(text), resourceVersion: cm.resourceVersion ?? '' };
}
