import { request, type Dispatcher } from 'undici';
import { AppError } from '../errors/app-error.js';
import { hubErrorFromResponse } from './hub-error.js';
import type { HubAccess } from './hub-fetch.js';
import type { RepoFile } from './list-repo-files.js';

export const MAX_REDIRECTS = 5;

/** One file of one commit, as a download asks the Hub for it. */
export interface BlobRequest {
  access: HubAccess;
  /** `org/name` */
  repo: string;
  commit: string;
  file: Pick<RepoFile, 'path' | 'size' | 'isLfs'>;
  dispatcher?: Dispatcher | undefined;
  signal?: AbortSignal | undefined;
}

/** A response body that carries the file from the offset asked for, or from byte 0. */
export interface BlobBody {
  stream: AsyncIterable<unknown>;
  /** the server ignored the Range and sends the whole file (200) */
  restartFromZero: boolean;
}

/**
 * GETs `/{repo}/resolve/{commit}/{path}` from `offset` (a `Range` when > 0), following redirects by hand: a
 * relative or same-origin redirect keeps the token, a redirect to another origin (the signed CDN URL) never gets
 * it, not even if it redirects back. Accepts 200 (whole file) and a 206 whose `Content-Range` starts at `offset`
 * and names the file's size.
 * @throws HubError for an error status; AppError DOWNLOAD_INCOMPLETE for a 206 of another range,
 *   HUB_BAD_RESPONSE after too many redirects
 */
export async function openBlobBody(req: BlobRequest, offset: number): Promise<BlobBody> {
  const { access, file } = req;
  const hubOrigin = new URL(access.hubUrl).origin;
  let url = resolveUrl(req);
  let withToken = true;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    withToken &&= url.origin === hubOrigin;
    const res = await request(url, {
      method: 'GET',
      headers: requestHeaders(access, offset, withToken),
      ...(req.dispatcher ? { dispatcher: req.dispatcher } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
    });
    const location = res.headers.location;
    if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string') {
      await res.body.dump();
      url = new URL(location, url);
      continue;
    }
    const restartFromZero = startsAtZero(req, offset, {
      status: res.statusCode,
      contentRange: res.headers['content-range'],
    });
    if (restartFromZero !== null) return { stream: res.body, restartFromZero };
    await res.body.dump().catch(() => undefined);
    throw hubErrorFromResponse({ status: res.statusCode, headers: res.headers, what: `${req.repo}/${file.path}` });
  }
  throw tooManyRedirects(req);
}

/** `{hub}/{repo}/resolve/{commit}/{path}` */
export function resolveUrl(req: BlobRequest): URL {
  const encoded = req.file.path.split('/').map(encodeURIComponent).join('/');
  return new URL(`${req.access.hubUrl}/${req.repo}/resolve/${req.commit}/${encoded}`);
}

export function tooManyRedirects(req: BlobRequest): AppError {
  return new AppError({
    code: 'HUB_BAD_RESPONSE',
    statusCode: 502,
    message: `${req.file.path}: more than ${MAX_REDIRECTS} redirects`,
  });
}

/** What a download sends: no compression, the Range from `offset`, the token only where `withToken`. */
export function requestHeaders(access: HubAccess, offset: number, withToken: boolean): Record<string, string> {
  const headers: Record<string, string> = {
    'accept-encoding': 'identity',
    'user-agent': access.userAgent ?? 'modelctl',
  };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  if (withToken && access.token) headers.authorization = `Bearer ${access.token}`;
  return headers;
}

/**
 * null when the status is an error; else whether the body starts at byte 0 although we asked for `offset`.
 * @throws AppError DOWNLOAD_INCOMPLETE for a 206 of another range than `offset`- of the file
 */
export function startsAtZero(
  req: BlobRequest,
  offset: number,
  res: { status: number; contentRange: string | string[] | undefined },
): boolean | null {
  if (res.status === 200) return offset > 0;
  if (res.status !== 206) return null;
  const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.contentRange ?? ''));
  if (range === null || Number(range[1]) !== offset || (range[3] !== '*' && Number(range[3]) !== req.file.size)) {
    throw new AppError({
      code: 'DOWNLOAD_INCOMPLETE',
      statusCode: 502,
      message: `${req.file.path}: unexpected Content-Range ${String(res.contentRange)} for offset ${offset}`,
    });
  }
  return false;
}
