import type { ModelSpec } from '../config/models-config.js';
import type { PlanFile, PlanModel } from '../plan/plan.js';
import { HubError } from './hub-error.js';
import { createHubFetch, type HubAccess } from './hub-fetch.js';
import { listRepoTree, type RepoFile } from './list-repo-files.js';
import { resolvePatterns } from './resolve-patterns.js';
import { resolveRepoPathProblem } from './resolve-repo-path.js';
import { HUB_API_TIMEOUT_MS, resolveRevision } from './resolve-revision.js';
import { withHubRetry, type HubRetryPolicy } from './with-hub-retry.js';

/** Hub requests made while resolving, by endpoint (for metrics and the "one resolution per model" check). */
export interface HubRequestCounts {
  revision: number;
  tree: number;
  resolve: number;
}

/**
 * Resolves one model of the config into its plan entry, with as few Hub calls as the situation allows:
 * - `previous` is an ok entry for the same spec and the revision is a commit (commits never move) or
 *   `reuseWithoutCall` is set: no call;
 * - else one `revision` call; when the commit equals `previous.commit`, the previous files are kept (no tree call);
 * - else the recursive tree (one call per page), then, for a gated repo, one `HEAD …/resolve/…` to see
 *   whether our token may download it.
 * Hub failures become the entry's status (`gated`, `not-found`, `revision-not-found`, `error`), never a throw.
 */
export async function resolveModel(params: {
  access: HubAccess;
  repo: string;
  spec: ModelSpec;
  /** this model's entry in the plan in force, if any */
  previous?: PlanModel | undefined;
  /** keep an ok `previous` of the same spec without asking the Hub whether its revision moved @default false */
  reuseWithoutCall?: boolean;
  retry?: HubRetryPolicy;
}): Promise<{ model: PlanModel; requests: HubRequestCounts; reusable: boolean }> {
  const counts: HubRequestCounts = { revision: 0, tree: 0, resolve: 0 };
  const base = baseEntry(params.repo, params.spec);
  const reusable =
    params.previous && isSameSpec(params.previous, base) && params.previous.status === 'ok'
      ? params.previous
      : undefined;
  const found = reusable !== undefined;
  if (reusable && (params.reuseWithoutCall === true || reusable.commit === base.revision)) {
    return { model: reusable, requests: counts, reusable: found };
  }
  try {
    const model = await resolveFresh({ ...params, base, reusable, counts });
    return { model, requests: counts, reusable: found };
  } catch (err) {
    return { model: { ...base, status: statusOf(err), message: messageOf(err) }, requests: counts, reusable: found };
  }
}

type BaseEntry = Omit<PlanModel, 'status' | 'message'>;

function baseEntry(repo: string, spec: ModelSpec): BaseEntry {
  return {
    repo,
    revision: spec.revision,
    commit: null,
    files: [],
    totalBytes: 0,
    allowPatterns: spec.allow_patterns ?? null,
    ignorePatterns: spec.ignore_patterns ?? null,
    gpuCompatible: spec.gpu_compatible,
  };
}

function isSameSpec(a: PlanModel, b: BaseEntry): boolean {
  const same = (x: readonly string[] | null, y: readonly string[] | null) => JSON.stringify(x) === JSON.stringify(y);
  return (
    a.repo === b.repo &&
    a.revision === b.revision &&
    same(a.allowPatterns, b.allowPatterns) &&
    same(a.ignorePatterns, b.ignorePatterns) &&
    same(a.gpuCompatible, b.gpuCompatible)
  );
}

async function resolveFresh(params: {
  access: HubAccess;
  repo: string;
  base: BaseEntry;
  reusable: PlanModel | undefined;
  counts: HubRequestCounts;
  retry?: HubRetryPolicy;
}): Promise<PlanModel> {
  const { access, repo, base, counts } = params;
  const retrying = <T>(run: () => Promise<T>) => retryHub(run, params.retry);
  // 1. revision → commit
  const pinned = await retrying(() => {
    counts.revision++;
    return resolveRevision({ access, repo, revision: base.revision });
  });
  if (params.reusable?.commit === pinned.commit) return params.reusable;
  // 2. the commit's files, filtered by the patterns, each path validated
  const listed = await retrying(async () => {
    const result = await listRepoTree({ access, repo, commit: pinned.commit });
    counts.tree += result.requests;
    return result.files;
  });
  const files = keptFiles(listed, base);
  // 3. a gated repo lists publicly but may refuse our downloads: ask once
  const probe = files[0];
  if (pinned.gated !== false && probe) {
    await retrying(() => {
      counts.resolve++;
      return checkDownloadAccess({ access, repo, commit: pinned.commit, path: probe.path });
    });
  }
  return {
    ...base,
    commit: pinned.commit,
    files,
    totalBytes: files.reduce((n, f) => n + f.size, 0),
    status: 'ok',
  };
}

function keptFiles(listed: readonly RepoFile[], base: BaseEntry): PlanFile[] {
  const kept = resolvePatterns({
    items: listed,
    allow: base.allowPatterns,
    ignore: base.ignorePatterns,
    pathOf: (f) => f.path,
  });
  for (const f of kept) {
    const problem = resolveRepoPathProblem(f.path);
    if (problem) throw new UnsafeRepoPathError(`repo lists an unsafe file path ${JSON.stringify(f.path)} (${problem})`);
  }
  return kept.map((f) => ({
    path: f.path,
    size: f.size,
    oid: f.blobId,
    ...(f.isLfs ? { lfsSha256: f.etag } : {}),
  }));
}

class UnsafeRepoPathError extends Error {}

/** `HEAD /{repo}/resolve/{commit}/{path}`: throws HubError `HUB_GATED_REPO` when access is refused. */
async function checkDownloadAccess(params: {
  access: HubAccess;
  repo: string;
  commit: string;
  path: string;
}): Promise<void> {
  const fetchHub = createHubFetch(params.access, `${params.repo}@${params.commit}`);
  const encoded = params.path.split('/').map(encodeURIComponent).join('/');
  const res = await fetchHub(`${params.access.hubUrl}/${params.repo}/resolve/${params.commit}/${encoded}`, {
    method: 'HEAD',
    headers: { 'accept-encoding': 'identity' },
    signal: AbortSignal.timeout(HUB_API_TIMEOUT_MS),
  });
  await res.body?.cancel().catch(() => undefined);
}

function retryHub<T>(run: () => Promise<T>, policy: HubRetryPolicy | undefined): Promise<T> {
  return withHubRetry({ run, operation: 'resolve', policy });
}

const STATUS_BY_CODE: Record<string, PlanModel['status']> = {
  HUB_GATED_REPO: 'gated',
  HUB_UNAUTHORIZED: 'gated',
  HUB_REPO_NOT_FOUND: 'not-found',
  HUB_DISABLED_REPO: 'not-found',
  HUB_NOT_FOUND: 'not-found',
  HUB_REVISION_NOT_FOUND: 'revision-not-found',
};

function statusOf(err: unknown): PlanModel['status'] {
  if (err instanceof HubError) return STATUS_BY_CODE[err.code] ?? 'error';
  return 'error';
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
