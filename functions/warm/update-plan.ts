import {
  hashModelsConfig,
  buildPlan,
  parsePlan,
  PLAN_KEY,
  type Plan,
  type PlanModel,
  type PlanSource,
} from '../../shared/plan/plan.js';
import {
  publishPlan,
  type PlanStale,
  type PlanTooLarge,
  type PublishOutcome,
  type PublishResult,
} from '../../shared/plan/publish-plan.js';
import type { ModelsConfig } from '../../shared/config/models-config.js';
import type { HubRequestCounts } from '../../shared/hub/resolve-model.js';
import type { InvolvedObject } from '../../shared/k8s/record-event.js';
import type { Logger } from '../../shared/log/create-logger.js';
import { planModels, type PlannedModel } from './plan-models.js';
import type { WarmDeps } from './warm-deps.js';

/** One line of what changed between the plan in force and the new one. */
export interface ModelChange {
  repo: string;
  change: 'added' | 'removed' | 'commit' | 'status' | 'files';
  from?: string | null;
  to?: string | null;
}

/** What {@link updatePlan} did: the data of the `…warm.planned` reply. */
export interface PlanUpdate {
  action: PublishOutcome['action'];
  contentHash: string;
  configHash: string;
  resourceVersion: string;
  changes: ModelChange[];
  models: {
    repo: string;
    revision: string;
    status: PlanModel['status'];
    commit: string | null;
    totalBytes: number;
    message?: string;
  }[];
  hubRequests: HubRequestCounts;
}

/** {@link updatePlan}'s answer: the update, or why no plan could be published (an expected outcome, see PublishResult). */
export type PlanUpdateResult = { ok: true; update: PlanUpdate } | PlanTooLarge;

/** What one plan update works from. */
export interface UpdatePlanParams {
  deps: WarmDeps;
  config: ModelsConfig;
  source: PlanSource;
  involved: InvolvedObject;
  refresh: boolean;
  log: Logger;
}

/**
 * Turns a valid config into the published plan:
 * 1. read the plan in force;
 * 2. on a config event whose config hash equals the plan's, stop: nothing to do, no Hub call;
 * 3. resolve the models (see planModels);
 * 4. publish with a resourceVersion precondition (no write when the content is the same), re-planning from
 *    step 1 when another writer got there first (a `stale` write; at the third, the API server's refusal is thrown);
 * 5. record Events: a Warning per model newly unavailable, a Normal when a new plan is published.
 * A plan too large for its ConfigMap stops at step 4: nothing published, no Event, `{ ok: false }`.
 */
export async function updatePlan(params: UpdatePlanParams): Promise<PlanUpdateResult> {
  for (let attempt = 0; ; attempt++) {
    const result = await planOnce(params);
    if (result.ok || result.reason !== 'stale') return result;
    if (attempt >= 2) throw result.error;
    params.log.info({ attempt }, 'plan changed while planning; planning again');
  }
}

async function planOnce(params: UpdatePlanParams): Promise<PlanUpdateResult | PlanStale> {
  const { deps, config, log } = params;
  // 1.
  const current = await readCurrentPlan(deps, log);
  // 2.
  const configHash = hashModelsConfig(config);
  if (!params.refresh && current.plan?.configHash === configHash) {
    const update = summarize({
      plan: current.plan,
      previous: current.plan,
      action: 'unchanged',
      resourceVersion: current.resourceVersion ?? '',
      planned: null,
    });
    return { ok: true, update };
  }
  // 3.
  const planned = await planModels({
    config,
    current: current.plan,
    refresh: params.refresh,
    hub: deps.hub,
    log,
    ...tuning(deps),
  });
  for (const [endpoint, n] of Object.entries(planned.requests)) deps.metrics.hubRequests.inc({ endpoint }, n);
  // 4.
  const plan = buildPlan({ config, models: planned.models.map((m) => m.model), source: params.source });
  const published = await publishAgainst(deps, plan, current);
  if (!published.ok) return published;
  const { outcome } = published;
  deps.metrics.publishes.inc({ action: outcome.action });
  const inForce = outcome.action === 'unchanged' && current.plan ? current.plan : plan;
  setModelGauges(deps, inForce);
  // 5.
  await recordModelEvents({ deps, involved: params.involved, previous: current.plan, planned: planned.models });
  const update = summarize({
    plan: inForce,
    previous: current.plan,
    action: outcome.action,
    resourceVersion: outcome.resourceVersion,
    planned,
  });
  if (outcome.action !== 'unchanged') await announcePlan(deps, params.involved, update);
  return { ok: true, update };
}

function tuning(deps: WarmDeps): { concurrency?: number; retry?: WarmDeps['retry'] } {
  return {
    ...(deps.concurrency ? { concurrency: deps.concurrency } : {}),
    ...(deps.retry ? { retry: deps.retry } : {}),
  };
}

/** Publishes `plan` over the one read in step 1 (or over an unreadable one, at its resourceVersion). */
function publishAgainst(
  deps: WarmDeps,
  plan: Plan,
  current: { plan: Plan | null; resourceVersion: string | null },
): Promise<PublishResult> {
  const base = { configMaps: deps.configMaps, namespace: deps.namespace, name: deps.planConfigMap, plan };
  if (current.plan)
    return publishPlan({ ...base, current: { plan: current.plan, resourceVersion: current.resourceVersion ?? '' } });
  if (current.resourceVersion !== null)
    return publishPlan({ ...base, current: null, overwriteResourceVersion: current.resourceVersion });
  return publishPlan({ ...base, current: null });
}

async function announcePlan(deps: WarmDeps, involved: InvolvedObject, update: PlanUpdate): Promise<void> {
  const ok = update.models.filter((m) => m.status === 'ok').length;
  await deps.recordEvent({
    involved,
    type: 'Normal',
    reason: 'PlanPublished',
    message: `plan ${update.contentHash.slice(0, 12)} published in ConfigMap ${deps.planConfigMap}: ${ok} of ${update.models.length} models ready to download, ${describeChanges(update.changes)}`,
  });
}

/** The plan in force and its ConfigMap's resourceVersion; a plan that no longer parses counts as none. */
async function readCurrentPlan(
  deps: WarmDeps,
  log: Logger,
): Promise<{ plan: Plan | null; resourceVersion: string | null }> {
  const cm = await deps.configMaps.get(deps.namespace, deps.planConfigMap);
  if (cm === null) return { plan: null, resourceVersion: null };
  const text = cm.data[PLAN_KEY];
  try {
    if (text === undefined) throw new Error(`no ${PLAN_KEY} key`);
    return { plan: parsePlan(text), resourceVersion: cm.resourceVersion ?? '' };
  } catch (err) {
    log.warn({ err, configMap: deps.planConfigMap }, 'the published plan is unreadable; it will be replaced');
    return { plan: null, resourceVersion: cm.resourceVersion ?? '' };
  }
}

function setModelGauges(deps: WarmDeps, plan: Plan): void {
  deps.metrics.models.reset();
  for (const m of plan.models) deps.metrics.models.inc({ status: m.status });
  deps.metrics.planBytes.set(plan.models.filter((m) => m.status === 'ok').reduce((n, m) => n + m.totalBytes, 0));
}

async function recordModelEvents(params: {
  deps: WarmDeps;
  involved: InvolvedObject;
  previous: Plan | null;
  planned: readonly PlannedModel[];
}): Promise<void> {
  const before = new Map((params.previous?.models ?? []).map((m) => [m.repo, m]));
  for (const p of params.planned) {
    const message = unavailableMessage(p, before.get(p.model.repo));
    if (message === null) continue;
    await params.deps.recordEvent({ involved: params.involved, type: 'Warning', reason: 'ModelUnavailable', message });
  }
}

function isSameFailure(old: PlanModel | undefined, failed: PlanModel): boolean {
  return old !== undefined && old.status === failed.status && old.message === failed.message;
}

/** The Warning to record for a model that failed to resolve, or null (ok, or the same failure as before). */
function unavailableMessage(p: PlannedModel, old: PlanModel | undefined): string | null {
  const failed = p.failure ?? (p.model.status === 'ok' ? undefined : p.model);
  if (!failed) return null;
  if (!p.keptPrevious && isSameFailure(old, failed)) return null;
  const kept = p.keptPrevious ? `; keeping ${p.model.commit ?? 'the previous commit'} meanwhile` : '';
  return `${failed.repo}@${failed.revision}: ${failed.status}: ${failed.message ?? ''}${kept}`;
}

function summarize(params: {
  plan: Plan;
  previous: Plan | null;
  action: PublishOutcome['action'];
  resourceVersion: string;
  planned: { requests: HubRequestCounts } | null;
}): PlanUpdate {
  return {
    action: params.action,
    contentHash: params.plan.contentHash,
    configHash: params.plan.configHash,
    resourceVersion: params.resourceVersion,
    changes: diffModels(params.previous?.models ?? [], params.plan.models),
    models: params.plan.models.map((m) => ({
      repo: m.repo,
      revision: m.revision,
      status: m.status,
      commit: m.commit,
      totalBytes: m.totalBytes,
      ...(m.message === undefined ? {} : { message: m.message }),
    })),
    hubRequests: params.planned?.requests ?? { revision: 0, tree: 0, resolve: 0 },
  };
}

/** Added, removed and moved models between two plans. */
function diffModels(before: readonly PlanModel[], after: readonly PlanModel[]): ModelChange[] {
  const old = new Map(before.map((m) => [m.repo, m]));
  const changes: ModelChange[] = [];
  for (const m of after) {
    const o = old.get(m.repo);
    old.delete(m.repo);
    if (!o) changes.push({ repo: m.repo, change: 'added', to: m.commit ?? m.status });
    else if (o.status !== m.status) changes.push({ repo: m.repo, change: 'status', from: o.status, to: m.status });
    else if (o.commit !== m.commit) changes.push({ repo: m.repo, change: 'commit', from: o.commit, to: m.commit });
    else if (JSON.stringify(o.files) !== JSON.stringify(m.files)) changes.push({ repo: m.repo, change: 'files' });
  }
  for (const o of old.values()) changes.push({ repo: o.repo, change: 'removed', from: o.commit ?? o.status });
  return changes;
}

function describeChanges(changes: readonly ModelChange[]): string {
  if (changes.length === 0) return 'no model changed';
  return changes.map((c) => `${c.repo} ${c.change}${c.to === undefined ? '' : ` → ${c.to ?? 'none'}`}`).join(', ');
}
