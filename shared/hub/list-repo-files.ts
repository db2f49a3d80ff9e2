import { listFiles } from '@huggingface/hub';
import { z } from 'zod';
import { AppError } from '../errors/app-error.js';
import { assertRepoFilePath, assertRepoId, isCommitHash } from '../hf-cache/cache-paths.js';
import { createHubFetch, type HubAccess } from './hub-fetch.js';

/** One file of a repo at a commit, as the cache stores it. */
export interface RepoFile {
  /** path inside the repo, `/`-separated, checked safe */
  path: string;
  size: number;
  /** blob name in the cache: sha256 (`lfs.oid`) for LFS/Xet files, git blob sha1 (`oid`) otherwise */
  etag: string;
  /** true when `etag` is a sha256 of the content; false when it is the git blob sha1 */
  isLfs: boolean;
  /** git blob id (`oid`), for `trees/{commit}.json` */
  blobId: string;
}

const TreeEntry = z.object({
  type: z.string(),
  path: z.string(),
  size: z.number().int().nonnegative(),
  oid: z.string().regex(/^[0-9a-f]{40}$/),
  lfs: z
    .object({ oid: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() })
    .optional()
    .nullable(),
});

/**
 * Every file of `repo` at `commit` (`GET /api/models/{repo}/tree/{commit}?recursive=true`, pages followed via
 * `Link`), each entry checked with zod and its path checked safe.
 * @throws HubError for Hub failures; AppError HUB_BAD_RESPONSE / UNSAFE_REPO_PATH for a listing we cannot trust
 */
export async function listRepoFiles(params: { access: HubAccess; repo: string; commit: string }): Promise<RepoFile[]> {
  assertRepoId(params.repo);
  if (!isCommitHash(params.commit)) throw new Error(`listRepoFiles needs a commit hash, got ${params.commit}`);
  const files: RepoFile[] = [];
  const entries = listFiles({
    repo: { type: 'model', name: params.repo },
    revision: params.commit,
    recursive: true,
    hubUrl: params.access.hubUrl,
    fetch: createHubFetch(params.access, `${params.repo}@${params.commit}`),
  });
  for await (const raw of entries) {
    const entry = TreeEntry.safeParse(raw);
    if (!entry.success) {
      if ((raw as { type?: unknown }).type === 'directory') continue;
      throw new AppError({
        code: 'HUB_BAD_RESPONSE',
        message: `unexpected tree entry for ${params.repo}: ${entry.error.issues[0]?.message ?? ''}`,
        statusCode: 502,
      });
    }
    if (entry.data.type !== 'file') continue;
    assertRepoFilePath(entry.data.path);
    const lfs = entry.data.lfs ?? undefined;
    files.push({
      path: entry.data.path,
      size: lfs?.size ?? entry.data.size,
      etag: lfs?.oid ?? entry.data.oid,
      isLfs: lfs !== undefined,
      blobId: entry.data.oid,
    });
  }
  return files;
}
