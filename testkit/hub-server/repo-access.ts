import { readRepoState, repoStateStamp, type RepoState, type StoredCommit } from './repo-store.js';
import { baseHeaders, sendHubError, type RequestContext } from './respond.js';

/** What a token may do. */
export interface TokenGrant {
  user: string;
  /** may read gated and private repos */
  gatedAccess: boolean;
}

/** Repo states read from disk, re-read when repo.json changes. */
export class RepoCache {
  private readonly cache = new Map<string, { stamp: string; state: RepoState }>();
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  get(repo: string): RepoState | null {
    const stamp = repoStateStamp(this.root, repo);
    if (stamp === null) return null;
    const hit = this.cache.get(repo);
    if (hit?.stamp === stamp) return hit.state;
    const state = readRepoState(this.root, repo);
    if (state) this.cache.set(repo, { stamp, state });
    return state;
  }
}

export interface AccessDeps {
  repos: RepoCache;
  tokens: Record<string, TokenGrant>;
}

type Caller = { kind: 'anonymous' } | { kind: 'user'; grant: TokenGrant } | { kind: 'invalid' };

function callerOf(ctx: RequestContext, tokens: Record<string, TokenGrant>): Caller {
  const auth = ctx.req.headers.authorization;
  if (!auth) return { kind: 'anonymous' };
  const m = /^Bearer\s+(.+)$/i.exec(auth);
  const grant = m ? tokens[m[1]!.trim()] : undefined;
  return grant ? { kind: 'user', grant } : { kind: 'invalid' };
}

/**
 * The Hub's checks before serving anything of a repo, in its order: bad token → 401; unknown (or private,
 * not granted) repo → 401 for anonymous callers, 404 otherwise, `RepoNotFound` (the Hub does not reveal
 * private repos); renamed repo → 307 with a relative `Location`; gated content → 401/403 `GatedRepo`.
 * @returns the repo state, or null when the request has been answered
 */
export async function openRepo(
  ctx: RequestContext,
  deps: AccessDeps,
  opts: { content: boolean },
): Promise<RepoState | null> {
  const caller = callerOf(ctx, deps.tokens);
  if (caller.kind === 'invalid') {
    await sendHubError(ctx, { status: 401, message: 'Invalid credentials in Authorization header' });
    return null;
  }
  const granted = caller.kind === 'user' && caller.grant.gatedAccess;
  const state = await visibleRepo(ctx, deps, { anonymous: caller.kind === 'anonymous', granted });
  if (!state) return null;
  if (state.renamedTo) {
    redirectRenamed(ctx, ctx.repo!, state.renamedTo);
    return null;
  }
  const gated = state.gated !== false || ctx.fault?.kind === 'gated';
  if (opts.content && gated && !granted) {
    await sendGated(ctx, ctx.repo!, caller.kind === 'anonymous');
    return null;
  }
  return state;
}

/** The repo, unless it is unknown or private and not granted: then `RepoNotFound` is sent and null returned. */
async function visibleRepo(
  ctx: RequestContext,
  deps: AccessDeps,
  caller: { anonymous: boolean; granted: boolean },
): Promise<RepoState | null> {
  const state = ctx.fault?.kind === 'missing' ? null : deps.repos.get(ctx.repo!);
  if (state && !(state.private && !caller.granted)) return state;
  await sendHubError(ctx, {
    status: caller.anonymous ? 401 : 404,
    code: 'RepoNotFound',
    message: 'Repository not found',
  });
  return null;
}

async function sendGated(ctx: RequestContext, repo: string, anonymous: boolean): Promise<void> {
  const message = anonymous
    ? `Access to model ${repo} is restricted. You must have access to it and be authenticated to access it. Please log in.`
    : `Access to model ${repo} is restricted and you are not in the authorized list. Visit ${ctx.origin}/${repo} to ask for access.`;
  await sendHubError(ctx, { status: anonymous ? 401 : 403, code: 'GatedRepo', message });
}

/** The Hub answers a renamed repo's URLs with a relative redirect to the same URL under the new name. */
function redirectRenamed(ctx: RequestContext, from: string, to: string): void {
  const raw = ctx.req.url ?? '/';
  const location = raw.replace(`/${from}/`, `/${to}/`).replace(new RegExp(`/${escapeRegExp(from)}$`), `/${to}`);
  ctx.res.writeHead(307, {
    ...baseHeaders(ctx),
    Location: location,
    'Content-Type': 'text/plain; charset=utf-8',
  });
  const body = Buffer.from(`Temporary Redirect. Redirecting to ${location}`);
  ctx.bytes += ctx.method === 'HEAD' ? 0 : body.length;
  ctx.res.end(ctx.method === 'HEAD' ? undefined : body);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A branch, tag (optionally `refs/heads/…`, `refs/tags/…`), full commit id, or `HEAD` (the default branch, as
 * huggingface.js's modelInfo asks for) → the commit, or null.
 */
function resolveRevision(state: RepoState, rev: string): { sha: string; commit: StoredCommit } | null {
  const name = rev === 'HEAD' ? 'main' : rev.replace(/^refs\/(heads|tags)\//, '');
  const sha = state.branches[name] ?? state.tags[name] ?? (state.commits[rev] ? rev : undefined);
  const commit = sha ? state.commits[sha] : undefined;
  return sha && commit ? { sha, commit } : null;
}

/** Resolves the revision (only full commit ids with `commitOnly`) or answers 404 `RevisionNotFound`. */
export async function openRevision(
  ctx: RequestContext,
  state: RepoState,
  rev: string,
  opts: { commitOnly?: boolean } = {},
): Promise<{ sha: string; commit: StoredCommit } | null> {
  const resolved = opts.commitOnly && !state.commits[rev] ? null : resolveRevision(state, rev);
  if (!resolved) await sendHubError(ctx, { status: 404, code: 'RevisionNotFound', message: `Invalid rev id: ${rev}` });
  return resolved;
}
