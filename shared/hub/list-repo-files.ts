import { listFiles } from '@huggingface/hub';
import { z } from 'zod';
import { describeFirstIssue } from '../config/describe-issues.js';
import { AppError } from '../errors/app-error.js';
import { assertRepoFilePath, assertRepoId, isCommitHash } from '../hf-cache/cache-paths.js';
import { createHubFetch, type HubAccess } from './hub-fetch.js';
import { HUB_API_TIMEOUT_MS } from './resolve-revision.js';

/** One file of a repo at a commit, as the tree lists it and the cache stores it. */
export interface RepoFile {
  /** path inside the repo, `/`-separated (checked safe by {@link listRepoFiles}, as listed by {@link listRepoTree}) */
  path: string;
  /** bytes of the file itself (the LFS object for LFS/Xet files) */
  size: number;
  /** blob name in the cache: sha256 (`lfs.oid`) for LFS/Xet files, git blob sha1 (`oid`) otherwise */
  etag: string;
  /** true when `etag` is a sha256 of the content; false when it is the git blob sha1 */
  isLfs: boolean;
  /** git blob id (`oid`; of the LFS pointer for LFS files), for `trees/{commit}.json` and the plan */
  blobId: string;
}

/** Any entry: only `type` is required of entries that are not files (directories). */
const AnyEntry = z.looseObject({ type: z.string() });
const FileEntry = z.looseObject({
  type: z.literal('file'),
  path: z.string(),
  size: z.number().int().nonnegative(),
  oid: z.string().regex(/^[0-9a-f]{40}$/),
  lfs: z
    .looseObject({ oid: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() })
    .optional()
    .nullable(),
});
const TreePage = z.array(AnyEntry);

/** Guard against a server whose `Link` never ends. */
const MAX_PAGES = 10_000;

/**
 * Every file of `repo` at `commit`: `GET /api/models/{repo}/tree/{commit}?recursive=true` through
 * @huggingface/hub's `listFiles`, which follows the `Link: <…>; rel="next"` pages. Our fetch under it counts
 * the pages, bounds them, keeps them on the Hub's origin, times each out, turns Hub errors into HubError and
 * refuses a page that is not a JSON list; each file entry is then checked with zod. Directories are left out;
 * paths are returned as listed (the caller checks those it keeps).
 * @returns files sorted by path, and the number of requests made
 * @throws HubError for Hub failures; AppError `HUB_BAD_RESPONSE` for a malformed page or a foreign `Link`
 */
export async function listRepoTree(params: {
  access: HubAccess;
  repo: string;
  commit: string;
}): Promise<{ files: RepoFile[]; requests: number }> {
  const { access, repo, commit } = params;
  const what = `${repo}@${commit}`;
  const fetchHub = createHubFetch(access, what);
  const origin = new URL(access.hubUrl).origin;
  let requests = 0;
  const fetchPage: typeof fetch = async (input) => {
    // a relative `Link` resolves against the Hub (the Hub sends absolute ones)
    const url = new URL(input instanceof Request ? input.url : String(input), access.hubUrl);
    if (url.origin !== origin) throw badResponse(what, 'tree "Link" points to another origin');
    if (requests >= MAX_PAGES) throw badResponse(what, `more than ${MAX_PAGES} tree pages`);
    requests++;
    const res = await fetchHub(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(HUB_API_TIMEOUT_MS),
    });
    const text = await res.text();
    if (!TreePage.safeParse(parseJson(text)).success) throw badResponse(what, 'a tree page is not a list of entries');
    return new Response(text, { status: res.status, headers: res.headers });
  };
  const files: RepoFile[] = [];
  const listing = listFiles({
    repo: { type: 'model', name: repo },
    revision: commit,
    recursive: true,
    hubUrl: access.hubUrl,
    fetch: fetchPage,
  });
  for await (const raw of listing) {
    if (raw.type !== 'file') continue;
    const entry = FileEntry.safeParse(raw);
    if (!entry.success) throw badResponse(what, `unexpected file entry: ${describeFirstIssue(entry.error)}`);
    files.push(toRepoFile(entry.data));
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, requests };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * {@link listRepoTree} for a download: the repo id and commit checked first, and every listed path checked safe.
 * @throws HubError for Hub failures; AppError HUB_BAD_RESPONSE / UNSAFE_REPO_PATH for a listing we cannot trust
 */
export async function listRepoFiles(params: { access: HubAccess; repo: string; commit: string }): Promise<RepoFile[]> {
  assertRepoId(params.repo);
  if (!isCommitHash(params.commit)) throw new Error(`listRepoFiles needs a commit hash, got ${params.commit}`);
  const { files } = await listRepoTree(params);
  for (const f of files) assertRepoFilePath(f.path);
  return files;
}

function toRepoFile(e: z.output<typeof FileEntry>): RepoFile {
  const lfs = e.lfs ?? undefined;
  return {
    path: e.path,
    size: lfs?.size ?? e.size,
    etag: lfs?.oid ?? e.oid,
    isLfs: lfs !== undefined,
    blobId: e.oid,
  };
}

function badResponse(what: string, why: string): AppError {
  return new AppError({ code: 'HUB_BAD_RESPONSE', message: `Hub tree answer for ${what}: ${why}`, statusCode: 502 });
}
