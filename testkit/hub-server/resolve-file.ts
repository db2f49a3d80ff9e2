import { createHmac, timingSafeEqual } from 'node:crypto';
import { openRepo, openRevision, type AccessDeps } from './repo-access.js';
import { objectPath, type RepoState, type StoredFile } from './repo-store.js';
import {
  baseHeaders,
  parseRange,
  sendFileRange,
  sendGzipped,
  sendHubError,
  writeBody,
  type RequestContext,
} from './respond.js';

export interface ResolveDeps extends AccessDeps {
  /** origin of the "CDN" listener (another port: another origin, as cdn-lfs.hf.co is) */
  cdnOrigin: () => string;
  signingSecret: string;
  /** lifetime of signed CDN URLs */
  cdnUrlTtlSeconds: () => number;
  now: () => number;
}

/**
 * `HEAD|GET /{repo}/resolve/{rev}/{path}`, as the Hub answers it:
 * - regular file of a public repo: 307 to the relative, commit-pinned
 *   `/api/resolve-cache/models/{repo}/{commit}/{path}?…&etag=…` (with `X-Repo-Commit`; see
 *   huggingface_hub#4815); private and gated repos and empty files are served directly;
 * - served directly: 200 (206 for a Range), `ETag` = quoted git blob sha1, `X-Repo-Commit`, `Content-Length`;
 * - LFS file: 302 to a signed absolute CDN URL with `X-Linked-Etag` = quoted sha256, `X-Linked-Size`,
 *   `X-Repo-Commit`, and an `ETag` that is NOT the sha256 (the pointer's git oid), so a client reading the
 *   wrong header fails its hash check.
 * `GET|HEAD /api/resolve-cache/models/{repo}/{commit}/{path}` serves the file directly (commit ids only).
 */
export async function handleResolve(
  ctx: RequestContext,
  deps: ResolveDeps,
  params: { rev: string; pinned: boolean },
): Promise<void> {
  const state = await openRepo(ctx, deps, { content: true });
  if (!state) return;
  const resolved = await openRevision(ctx, state, params.rev, { commitOnly: params.pinned });
  if (!resolved) return;
  const p = ctx.path ?? '';
  const file = resolved.commit.files[p];
  if (!file) return sendEntryNotFound(ctx, resolved.sha);
  const common = {
    ...baseHeaders(ctx),
    'X-Repo-Commit': resolved.sha,
    'Accept-Ranges': 'bytes',
    'Content-Disposition': contentDisposition(p),
  };
  if (file.lfs) return redirectToCdn(ctx, deps, { state, file, common });
  if (!servedDirectly(ctx, state, file, params.pinned)) {
    return redirectToResolveCache(ctx, { state, sha: resolved.sha, rev: params.rev, file, common });
  }
  await sendContent(ctx, {
    file: objectPath(deps.repos.root, state.id, file.contentOid),
    size: file.size,
    headers: { ...common, ETag: `"${file.oid}"`, 'Content-Type': contentType(p) },
  });
}

/** Commit-pinned requests, private and gated repos and empty files get the content, not a redirect. */
function servedDirectly(ctx: RequestContext, state: RepoState, file: StoredFile, pinned: boolean): boolean {
  return pinned || state.private || state.gated !== false || ctx.fault?.kind === 'gated' || !file.size;
}

function sendEntryNotFound(ctx: RequestContext, sha: string): Promise<void> {
  return sendHubError(ctx, {
    status: 404,
    code: 'EntryNotFound',
    message: 'Entry not found',
    headers: { 'X-Repo-Commit': sha },
  });
}

async function redirectToResolveCache(
  ctx: RequestContext,
  params: { state: RepoState; sha: string; rev: string; file: StoredFile; common: Record<string, string> },
): Promise<void> {
  const p = ctx.path ?? '';
  const encodedPath = p.split('/').map(encodeURIComponent).join('/');
  const original = encodeURIComponent(`/${params.state.id}/resolve/${params.rev}/${p}`);
  const location =
    `/api/resolve-cache/models/${params.state.id}/${params.sha}/${encodedPath}` +
    `?${original}=&etag=${encodeURIComponent(`"${params.file.oid}"`)}`;
  const body = Buffer.from(`Temporary Redirect. Redirecting to ${location}`);
  const headers = Object.fromEntries(Object.entries(params.common).filter(([k]) => k !== 'Content-Disposition'));
  ctx.res.writeHead(307, {
    ...headers,
    Location: location,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(body.length),
  });
  await writeBody(ctx, ctx.method === 'HEAD' ? [] : [body]);
}

function contentDisposition(p: string): string {
  const base = p.split('/').pop() ?? p;
  return `inline; filename*=UTF-8''${encodeURIComponent(base)}; filename="${base.replace(/["\\]/g, '_')}";`;
}

function contentType(p: string): string {
  return /\.(json|txt|md|py|yaml|yml|model|vocab|merges)$/.test(p)
    ? 'text/plain; charset=utf-8'
    : 'application/octet-stream';
}

async function redirectToCdn(
  ctx: RequestContext,
  deps: ResolveDeps,
  params: { state: RepoState; file: StoredFile; common: Record<string, string> },
): Promise<void> {
  const location = signCdnUrl(deps, { repo: params.state.id, sha256: params.file.sha256, path: ctx.path ?? '' });
  const body = Buffer.from(`Found. Redirecting to ${location}`);
  ctx.res.writeHead(302, {
    ...params.common,
    Location: location,
    ETag: `"${params.file.oid}"`,
    'X-Linked-Etag': `"${params.file.sha256}"`,
    'X-Linked-Size': String(params.file.size),
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(body.length),
  });
  await writeBody(ctx, ctx.method === 'HEAD' ? [] : [body]);
}

function signature(secret: string, pathname: string, expires: string): string {
  return createHmac('sha256', secret).update(`${pathname}\n${expires}`).digest('hex');
}

/** A CloudFront-like signed URL for an LFS object: `/repos/{repo}/{sha256}?…&Expires=&Signature=`. */
function signCdnUrl(deps: ResolveDeps, params: { repo: string; sha256: string; path: string }): string {
  const pathname = `/repos/${params.repo}/${params.sha256}`;
  const expires = String(Math.floor(deps.now() / 1000) + deps.cdnUrlTtlSeconds());
  const base = params.path.split('/').pop() ?? params.path;
  const q = new URLSearchParams({
    'response-content-disposition': `inline; filename*=UTF-8''${encodeURIComponent(base)};`,
    path: params.path,
    Expires: expires,
    Signature: signature(deps.signingSecret, pathname, expires),
    'Key-Pair-Id': 'KLOCALHUBTEST',
  });
  return `${deps.cdnOrigin()}${pathname}?${q.toString()}`;
}

/** Parses a CDN request path `/repos/{org}/{name}/{sha256}` (null when it is not one). */
function parseCdnPath(rawPath: string): { repo: string; sha256: string } | null {
  const m = /^\/repos\/([^/]+\/[^/]+)\/([0-9a-f]{64})$/.exec(rawPath);
  return m ? { repo: m[1]!, sha256: m[2]! } : null;
}

/**
 * `GET|HEAD /repos/{repo}/{sha256}?Expires=&Signature=` on the CDN origin: checks the signature and expiry
 * (403 AccessDenied otherwise), ignores `Authorization` (the request log records whether one was sent),
 * serves ranges; `ETag` is an md5-looking value, not the sha256 (as S3 gives it).
 */
export async function handleCdn(ctx: RequestContext, deps: ResolveDeps): Promise<void> {
  const target = parseCdnPath(ctx.rawPath);
  const expires = ctx.query.get('Expires') ?? '';
  const sig = ctx.query.get('Signature') ?? '';
  if (!target || !validSignature(deps, ctx.rawPath, expires, sig)) return cdnDenied(ctx, 'AccessDenied');
  if (Number(expires) * 1000 < deps.now()) return cdnDenied(ctx, 'Request has expired');
  const file = findBySha256(deps, target.repo, target.sha256);
  if (!file) return cdnDenied(ctx, 'NoSuchKey', 404);
  await sendContent(ctx, {
    file: objectPath(deps.repos.root, file.repo, file.entry.contentOid),
    size: file.entry.size,
    headers: {
      ETag: `"${file.entry.md5}"`,
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      'Last-Modified': new Date(Date.UTC(2026, 0, 1)).toUTCString(),
      'Content-Disposition': ctx.query.get('response-content-disposition') ?? 'inline',
      'X-Cache': 'Miss from cloudfront',
    },
  });
}

function validSignature(deps: ResolveDeps, pathname: string, expires: string, sig: string): boolean {
  const want = Buffer.from(signature(deps.signingSecret, pathname, expires));
  const got = Buffer.from(sig);
  return got.length === want.length && timingSafeEqual(got, want);
}

function findBySha256(deps: ResolveDeps, repo: string, sha256: string): { repo: string; entry: StoredFile } | null {
  let state = deps.repos.get(repo);
  if (state?.renamedTo) state = deps.repos.get(state.renamedTo);
  if (!state) return null;
  for (const commit of Object.values(state.commits)) {
    for (const entry of Object.values(commit.files)) {
      if (entry.lfs && entry.sha256 === sha256) return { repo: state.id, entry };
    }
  }
  return null;
}

async function cdnDenied(ctx: RequestContext, code: string, status = 403): Promise<void> {
  const body = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code></Error>`);
  ctx.res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': String(body.length) });
  await writeBody(ctx, ctx.method === 'HEAD' ? [] : [body]);
}

/** A GET of a whole text file, without body fault, from a client that accepts gzip. */
function wantsGzip(ctx: RequestContext, headers: Record<string, string>): boolean {
  const accepts = /\bgzip\b/.test(String(ctx.req.headers['accept-encoding'] ?? ''));
  return ctx.method === 'GET' && accepts && ctx.fault === null && (headers['Content-Type'] ?? '').startsWith('text/');
}

/** Sends a stored file, whole (200) or one range (206, `Content-Range`); 416 for an unsatisfiable range. */
async function sendContent(
  ctx: RequestContext,
  params: { file: string; size: number; headers: Record<string, string> },
): Promise<void> {
  const range = parseRange(ctx.req.headers.range, params.size);
  if (range === 'invalid') {
    ctx.res.writeHead(416, { ...params.headers, 'Content-Range': `bytes */${params.size}`, 'Content-Length': '0' });
    ctx.res.end();
    return;
  }
  if (!range && wantsGzip(ctx, params.headers)) {
    // the Hub gzips text files for clients that accept it: chunked, no Content-Length (file_download.py notes it)
    ctx.res.writeHead(200, { ...params.headers, 'Content-Encoding': 'gzip', Vary: 'Origin, Accept-Encoding' });
    return sendGzipped(ctx, params.file);
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? params.size - 1;
  const headers: Record<string, string> = { ...params.headers, 'Content-Length': String(end - start + 1) };
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${params.size}`;
  ctx.res.writeHead(range ? 206 : 200, headers);
  await sendFileRange(ctx, params.file, start, end);
}
