import pLimit from 'p-limit';
import type { ModelsConfig } from '../../shared/config/models-config.js';
import type { HubAccess } from '../../shared/hub/hub-fetch.js';
import { resolveModel, type HubRequestCounts } from '../../shared/hub/resolve-model.js';
import type { HubRetryPolicy } from '../../shared/hub/with-hub-retry.js';
import type { Logger } from '../../shared/log/create-logger.js';
import type { Plan, PlanModel } from '../../shared/plan/plan.js';

/** One model's outcome of a planning pass. */
export interface PlannedModel {
  model: PlanModel;
  /** true when a transient Hub failure left the previous good entry in force */
  keptPrevious: boolean;
  /** the failed resolution when {@link keptPrevious} */
  failure?: PlanModel;
}

/**
 * Resolves every model of `config` against the Hub, reusing what the plan in force already knows:
 * - `refresh` false (a config change): a model whose spec is unchanged and was ok keeps its entry, no Hub call;
 * - `refresh` true (the periodic check): moving revisions are asked again (one call each), trees re-listed only
 *   when the commit moved; commits pinned in the config need no call at all.
 * A transient failure (`error`) of a model that was ok keeps the previous entry.
 */
export async function planModels(params: {
  config: ModelsConfig;
  current: Plan | null;
  refresh: boolean;
  hub: HubAccess;
  /** @default 4 */
  concurrency?: number;
  retry?: HubRetryPolicy | undefined;
  log: Logger;
}): Promise<{ models: PlannedModel[]; requests: HubRequestCounts }> {
  const previous = new Map((params.current?.models ?? []).map((m) => [m.repo, m]));
  const limit = pLimit(params.concurrency ?? 4);
  const requests: HubRequestCounts = { revision: 0, tree: 0, resolve: 0 };
  const models = await Promise.all(
    Object.entries(params.config.models).map(([repo, spec]) =>
      limit(async (): Promise<PlannedModel> => {
        const before = previous.get(repo);
        const result = await resolveModel({
          access: params.hub,
          repo,
          spec,
          previous: before,
          ...(params.retry ? { retry: params.retry } : {}),
          reuseWithoutCall: !params.refresh,
        });
        requests.revision += result.requests.revision;
        requests.tree += result.requests.tree;
        requests.resolve += result.requests.resolve;
        if (result.model.status === 'error' && before?.status === 'ok' && result.reusable) {
          params.log.warn({ repo, message: result.model.message }, 'Hub failure; keeping the previous resolution');
          return { model: before, keptPrevious: true, failure: result.model };
        }
        return { model: result.model, keptPrevious: false };
      }),
    ),
  );
  return { models, requests };
}
