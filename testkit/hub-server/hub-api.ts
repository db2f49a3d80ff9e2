import { createHash } from 'node:crypto';
import { HOSTILE_NAMES } from './faults.js';
import { openRepo, openRevision, type AccessDeps } from './repo-access.js';
import type { RepoState, StoredCommit, StoredFile } from './repo-store.js';
import { sendHubError, sendJson, type RequestContext } from './respond.js';

/** A `/tree` or `/paths-info` entry, shaped as the Hub sends it. */
export interface TreeEntry {
  type: 'file' | 'directory';
  oid: string;
  size: number;
  path: string;
  lfs?: { oid: string; size: number; pointerSize: number };
  lastCommit?: { id: string; title: string; date: string };
}

export interface ApiDeps extends AccessDeps {
  /** entries per `/tree` page (the Hub uses 1000, 50 with expand) */
  treePageSize: () => number;
}

/** `GET /api/models/{repo}` and `GET /api/models/{repo}/revision/{rev}` (`?blobs=true` adds sizes and LFS info). */
export async function handleModelInfo(ctx: RequestContext, deps: ApiDeps, rev: string): Promise<void> {
  const state = await openRepo(ctx, deps, { content: false });
  if (!state) return;
  const resolved = await openRevision(ctx, state, rev);
  if (!resolved) return;
  const blobs = ctx.query.get('blobs') === 'true' || ctx.query.get('blobs') === '1';
  const names = [...Object.keys(resolved.commit.files).sort(), ...hostileNames(ctx)];
  const siblings = names.map((rfilename) => {
    const f = resolved.commit.files[rfilename];
    if (!blobs || !f) return { rfilename };
    return { rfilename, blobId: f.oid, size: f.size, ...(f.lfs ? { lfs: lfsInfo(f) } : {}) };
  });
  await sendJson(ctx, 200, {
    _id: createHash('sha1').update(state.id).digest('hex').slice(0, 24),
    id: state.id,
    modelId: state.id,
    author: state.id.split('/')[0],
    sha: resolved.sha,
    lastModified: resolved.commit.date,
    createdAt: state.createdAt,
    private: state.private,
    disabled: false,
    gated: ctx.fault?.kind === 'gated' ? 'manual' : state.gated,
    downloads: 0,
    likes: 0,
    tags: [],
    library_name: 'transformers',
    siblings,
    spaces: [],
    usedStorage: Object.values(resolved.commit.files).reduce((n, f) => n + f.size, 0),
  });
}

function lfsInfo(f: StoredFile): { oid: string; size: number; pointerSize: number } {
  return { oid: f.sha256, size: f.size, pointerSize: f.pointerSize ?? 0 };
}

function hostileNames(ctx: RequestContext): string[] {
  return ctx.fault?.kind === 'hostile-names' ? (ctx.fault.names ?? HOSTILE_NAMES) : [];
}

/** Every entry of a commit: files, plus one per folder (as `recursive=true` lists them). */
function allEntries(sha: string, commit: StoredCommit, expand: boolean): TreeEntry[] {
  const entries: TreeEntry[] = [];
  const dirs = new Set<string>();
  for (const [p, f] of Object.entries(commit.files)) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    entries.push(fileEntry(p, f));
  }
  for (const d of dirs) {
    const oid = createHash('sha1').update(`tree ${sha} ${d}`).digest('hex');
    entries.push({ type: 'directory', oid, size: 0, path: d });
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (expand) {
    const lastCommit = { id: sha, title: commit.message, date: commit.date };
    for (const e of entries) e.lastCommit = lastCommit;
  }
  return entries;
}

function fileEntry(p: string, f: StoredFile): TreeEntry {
  return { type: 'file', oid: f.oid, size: f.size, path: p, ...(f.lfs ? { lfs: lfsInfo(f) } : {}) };
}

function hostileEntries(ctx: RequestContext): TreeEntry[] {
  return hostileNames(ctx).map((p) => ({
    type: 'file' as const,
    oid: createHash('sha1').update(p).digest('hex'),
    size: 5,
    path: p,
  }));
}

/**
 * `GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=&expand=&cursor=`: a page of entries and, when more
 * remain, `Link: <absolute url with cursor>; rel="next"` (huggingface_hub and huggingface.js follow it).
 */
export async function handleTree(ctx: RequestContext, deps: ApiDeps, rev: string, dir: string): Promise<void> {
  const state = await openRepo(ctx, deps, { content: false });
  if (!state) return;
  const resolved = await openRevision(ctx, state, rev);
  if (!resolved) return;
  const recursive = ['true', '1'].includes(ctx.query.get('recursive') ?? '');
  const expand = ['true', '1'].includes(ctx.query.get('expand') ?? '');
  const all = allEntries(resolved.sha, resolved.commit, expand);
  const prefix = dir ? `${dir}/` : '';
  if (dir && !all.some((e) => e.type === 'directory' && e.path === dir)) {
    await sendHubError(ctx, {
      status: 404,
      code: 'EntryNotFound',
      message: `${dir} does not exist on "${rev}"`,
      headers: { 'X-Repo-Commit': resolved.sha },
    });
    return;
  }
  const listed = [
    ...all.filter((e) => e.path.startsWith(prefix) && (recursive || !e.path.slice(prefix.length).includes('/'))),
    // injected names are listed wherever the listing is, whatever they look like
    ...hostileEntries(ctx),
  ];
  // the Hub caps pages at 1000 entries, 50 with expand (huggingface_hub's _list_repo_tree_pages says so)
  const pageSize = expand ? Math.min(50, deps.treePageSize()) : deps.treePageSize();
  await sendPage(ctx, { entries: listed, pageSize, sha: resolved.sha, state });
}

async function sendPage(
  ctx: RequestContext,
  params: { entries: TreeEntry[]; pageSize: number; sha: string; state: RepoState },
): Promise<void> {
  const offset = decodeCursor(ctx.query.get('cursor'));
  const page = params.entries.slice(offset, offset + params.pageSize);
  const headers: Record<string, string> = { 'X-Repo-Commit': params.sha };
  if (offset + params.pageSize < params.entries.length) {
    const next = new URLSearchParams(ctx.query);
    next.set('cursor', encodeCursor(offset + params.pageSize));
    const pathOnly = ctx.rawPath;
    headers.Link = `<${ctx.origin}${pathOnly}?${next.toString()}>; rel="next"`;
  }
  await sendJson(ctx, 200, page, headers);
}

function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ file_offset: offset })).toString('base64url');
}

function decodeCursor(cursor: string | null): number {
  if (!cursor) return 0;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { file_offset?: unknown };
    return typeof parsed.file_offset === 'number' && parsed.file_offset >= 0 ? parsed.file_offset : 0;
  } catch {
    return 0;
  }
}

/**
 * `POST /api/models/{repo}/paths-info/{rev}` with `paths` (+ `expand`) as JSON (huggingface.js) or form
 * fields (huggingface_hub): the entries of the paths that exist, missing ones left out.
 */
export async function handlePathsInfo(ctx: RequestContext, deps: ApiDeps, rev: string, body: string): Promise<void> {
  const state = await openRepo(ctx, deps, { content: false });
  if (!state) return;
  const resolved = await openRevision(ctx, state, rev);
  if (!resolved) return;
  const request = parsePathsInfoBody(ctx.req.headers['content-type'] ?? '', body);
  if (!request) {
    await sendHubError(ctx, { status: 400, message: 'Invalid body: expected "paths"' });
    return;
  }
  const all = [...allEntries(resolved.sha, resolved.commit, request.expand), ...hostileEntries(ctx)];
  const wanted = new Set(request.paths);
  await sendJson(
    ctx,
    200,
    all.filter((e) => wanted.has(e.path) || hostileNames(ctx).includes(e.path)),
    { 'X-Repo-Commit': resolved.sha },
  );
}

function parsePathsInfoBody(contentType: string, body: string): { paths: string[]; expand: boolean } | null {
  if (contentType.includes('application/json')) {
    try {
      const json = JSON.parse(body) as { paths?: unknown; expand?: unknown };
      const paths = typeof json.paths === 'string' ? [json.paths] : json.paths;
      if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) return null;
      return { paths, expand: json.expand === true };
    } catch {
      return null;
    }
  }
  const form = new URLSearchParams(body);
  const paths = form.getAll('paths');
  if (!form.has('paths')) return null;
  return { paths, expand: ['true', 'True', '1'].includes(form.get('expand') ?? '') };
}

/** `GET /api/models/{repo}/refs`: branches and tags with their commits (`list_repo_refs`). */
export async function handleRefs(ctx: RequestContext, deps: ApiDeps): Promise<void> {
  const state = await openRepo(ctx, deps, { content: false });
  if (!state) return;
  const refs = (names: Record<string, string>, kind: 'heads' | 'tags') =>
    Object.entries(names).map(([name, targetCommit]) => ({ name, ref: `refs/${kind}/${name}`, targetCommit }));
  await sendJson(ctx, 200, { branches: refs(state.branches, 'heads'), converts: [], tags: refs(state.tags, 'tags') });
}
