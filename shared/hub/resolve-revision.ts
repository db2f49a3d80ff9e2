import { z } from 'zod';
import { AppError } from '../errors/app-error.js';
import { createHubFetch, type HubAccess } from './hub-fetch.js';

const RevisionInfo = z.looseObject({
  sha: z.string().regex(/^[0-9a-f]{40}$/),
  gated: z.union([z.literal(false), z.string()]).optional(),
  private: z.boolean().optional(),
});

/** A revision pinned to its commit. */
export interface ResolvedRevision {
  commit: string;
  /** false, or the Hub's gating mode ("auto" | "manual"): listing is public, downloads need access */
  gated: false | string;
}

/** Per-request timeout of Hub API calls. */
export const HUB_API_TIMEOUT_MS = 30_000;

/**
 * Pins `revision` (branch, tag or commit) of a model repo to a commit:
 * `GET /api/models/{repo}/revision/{revision}` → `sha`. One request.
 * @throws HubError (`HUB_REPO_NOT_FOUND`, `HUB_REVISION_NOT_FOUND`, `HUB_GATED_REPO`, 429/5xx …)
 * @throws AppError `HUB_BAD_RESPONSE` when the answer is not the JSON the protocol promises
 */
export async function resolveRevision(params: {
  access: HubAccess;
  repo: string;
  revision: string;
}): Promise<ResolvedRevision> {
  const { access, repo, revision } = params;
  const what = `${repo}@${revision}`;
  const fetchHub = createHubFetch(access, what);
  // huggingface_hub quotes the revision with safe="": "refs/pr/1" → "refs%2Fpr%2F1"
  const url = `${access.hubUrl}/api/models/${repo}/revision/${encodeURIComponent(revision)}`;
  const res = await fetchHub(url, { signal: AbortSignal.timeout(HUB_API_TIMEOUT_MS) });
  const parsed = RevisionInfo.safeParse(await res.json().catch(() => undefined));
  if (!parsed.success) {
    throw new AppError({
      code: 'HUB_BAD_RESPONSE',
      message: `Hub revision answer for ${what} has no valid "sha"`,
      statusCode: 502,
    });
  }
  return { commit: parsed.data.sha, gated: parsed.data.gated ?? false };
}
