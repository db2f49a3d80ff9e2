import { z } from 'zod';
import { AppError } from '../errors/app-error.js';
import { createHubFetch, type HubAccess } from './hub-fetch.js';
import { HUB_API_TIMEOUT_MS } from './resolve-revision.js';

const TreeEntry = z.looseObject({
  type: z.enum(['file', 'directory']),
  path: z.string(),
  size: z.number().int().nonnegative(),
  oid: z.string().regex(/^[0-9a-f]{40}$/),
  lfs: z.looseObject({ oid: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() }).optional(),
});
const TreePage = z.array(TreeEntry);

/** A file of a commit as the tree lists it. */
export interface RepoFile {
  path: string;
  /** bytes of the file itself (the LFS object for LFS/Xet files) */
  size: number;
  /** git blob sha1 (of the LFS pointer for LFS files) */
  oid: string;
  /** sha256 of the content, for LFS/Xet files */
  lfsSha256?: string;
}

/** Guard against a server whose `Link` never ends. */
const MAX_PAGES = 10_000;

/**
 * Every file of `repo` at `commit`: `GET /api/models/{repo}/tree/{commit}?recursive=true`, following
 * `Link: <…>; rel="next"` pages. Directories are left out. Paths are returned as listed (validate them).
 * @returns files sorted by path, and the number of requests made
 * @throws HubError for Hub failures; AppError `HUB_BAD_RESPONSE` for a malformed page or a foreign `Link`
 */
export async function resolveFileList(params: {
  access: HubAccess;
  repo: string;
  commit: string;
}): Promise<{ files: RepoFile[]; requests: number }> {
  const { access, repo, commit } = params;
  const what = `${repo}@${commit}`;
  const fetchHub = createHubFetch(access, what);
  const origin = new URL(access.hubUrl).origin;
  const files: RepoFile[] = [];
  let next: string | null = `${access.hubUrl}/api/models/${repo}/tree/${commit}?recursive=true`;
  let requests = 0;
  while (next !== null) {
    if (requests >= MAX_PAGES) throw badResponse(what, `more than ${MAX_PAGES} tree pages`);
    const res = await fetchHub(next, { signal: AbortSignal.timeout(HUB_API_TIMEOUT_MS) });
    requests++;
    const page = TreePage.safeParse(await res.json().catch(() => undefined));
    if (!page.success) throw badResponse(what, 'a tree page is not a list of entries');
    for (const e of page.data) if (e.type === 'file') files.push(toRepoFile(e));
    next = nextLink(res.headers.get('link'), next);
    if (next !== null && new URL(next).origin !== origin)
      throw badResponse(what, 'tree "Link" points to another origin');
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, requests };
}

function toRepoFile(e: z.output<typeof TreeEntry>): RepoFile {
  if (e.lfs) return { path: e.path, size: e.lfs.size, oid: e.oid, lfsSha256: e.lfs.oid };
  return { path: e.path, size: e.size, oid: e.oid };
}

/** The `rel="next"` target of a `Link` header (RFC 8288), resolved against the current URL. */
export function nextLink(header: string | null, current: string): string | null {
  if (!header) return null;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    const [, target, attributes] = m ?? [];
    if (target !== undefined && attributes !== undefined && /;\s*rel="?next"?(\s*;|\s*$)/i.test(attributes)) {
      return new URL(target, current).toString();
    }
  }
  return null;
}

function badResponse(what: string, why: string): AppError {
  return new AppError({ code: 'HUB_BAD_RESPONSE', message: `Hub tree answer for ${what}: ${why}`, statusCode: 502 });
}
