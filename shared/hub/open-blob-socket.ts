import { hubErrorFromResponse } from './hub-error.js';
import {
  MAX_REDIRECTS,
  requestHeaders,
  resolveUrl,
  startsAtZero,
  tooManyRedirects,
  type BlobRequest,
} from './open-blob-body.js';
import { socketGet, type SocketResponse } from './socket-get.js';

/** A response over its own socket that carries the file from the offset asked for, or from byte 0. */
export interface BlobSocket {
  response: SocketResponse & { contentLength: number };
  /** the server ignored the Range and sends the whole file (200) */
  restartFromZero: boolean;
}

/**
 * {@link openBlobBody}'s requests, each over a socket of its own ({@link socketGet}): the same redirects (the
 * token only to the Hub's origin, never after another origin), the same Range and status checks.
 * @returns null when the body is not framed by a Content-Length (the caller fetches it with openBlobBody)
 * @throws HubError for an error status; AppError DOWNLOAD_INCOMPLETE for a 206 of another range,
 *   HUB_BAD_RESPONSE after too many redirects
 */
export async function openBlobSocket(req: BlobRequest, offset: number): Promise<BlobSocket | null> {
  const hubOrigin = new URL(req.access.hubUrl).origin;
  let url = resolveUrl(req);
  let withToken = true;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    withToken &&= url.origin === hubOrigin;
    const res = await socketGet({ url, headers: requestHeaders(req.access, offset, withToken), signal: req.signal });
    const location = res.headers.location;
    if (res.status >= 300 && res.status < 400 && location !== undefined) {
      res.close();
      url = new URL(location, url);
      continue;
    }
    let restartFromZero: boolean | null;
    try {
      restartFromZero = startsAtZero(req, offset, { status: res.status, contentRange: res.headers['content-range'] });
    } catch (err) {
      res.close();
      throw err;
    }
    if (restartFromZero === null) {
      res.close();
      throw hubErrorFromResponse({ status: res.status, headers: res.headers, what: `${req.repo}/${req.file.path}` });
    }
    if (res.contentLength === null) {
      res.close();
      return null;
    }
    return { response: { ...res, contentLength: res.contentLength }, restartFromZero };
  }
  throw tooManyRedirects(req);
}
