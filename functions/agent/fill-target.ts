import type { ModelsConfig } from '../../shared/config/models-config.js';
import type { RepoFile } from '../../shared/hub/list-repo-files.js';
import type { Plan } from '../../shared/plan/plan.js';
import { isModelForGpu } from './select-models.js';

/** One model the fill pass brings to ready on the node: from the plan (commit + files pinned) or from a models config. */
export interface FillTarget {
  repo: string;
  revision: string;
  /** pinned by the plan; resolved on the Hub when absent (a plain models config) */
  commit?: string | undefined;
  /** the plan's file list (patterns already applied); listed on the Hub when absent */
  files?: RepoFile[] | undefined;
  /** `files` is every file of the commit (the plan applied no pattern) */
  filesAreComplete?: boolean | undefined;
  allowPatterns?: string[] | undefined;
  ignorePatterns?: string[] | undefined;
}

/** The plan's models for these GPU types; models whose resolution failed are returned apart. */
export function targetsFromPlan(
  plan: Plan,
  gpuTypes: readonly string[] | null,
): { targets: FillTarget[]; unresolved: Plan['models'] } {
  const mine = plan.models.filter((m) => isModelForGpu(m.gpuCompatible, gpuTypes));
  const targets = mine
    .filter((m) => m.status === 'ok' && m.commit !== null)
    .map((m) => ({
      repo: m.repo,
      revision: m.revision,
      commit: m.commit ?? undefined,
      files: m.files.map((f) => ({
        path: f.path,
        size: f.size,
        etag: f.lfsSha256 ?? f.oid,
        isLfs: f.lfsSha256 !== undefined,
        blobId: f.oid,
      })),
      filesAreComplete: m.allowPatterns === null && m.ignorePatterns === null,
    }));
  return { targets, unresolved: mine.filter((m) => m.status !== 'ok') };
}

/** The models of a raw models config for these GPU types (revision resolved and files listed at download). */
export function targetsFromConfig(config: ModelsConfig, gpuTypes: readonly string[] | null): FillTarget[] {
  return Object.entries(config.models)
    .filter(([, spec]) => isModelForGpu(spec.gpu_compatible, gpuTypes))
    .map(([repo, spec]) => ({
      repo,
      revision: spec.revision,
      allowPatterns: spec.allow_patterns,
      ignorePatterns: spec.ignore_patterns,
    }));
}
