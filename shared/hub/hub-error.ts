import { redactSecrets } from '../log/create-logger.js';
import { AppError } from '../errors/app-error.js';
import { isConnectionError, isRetryableStatus, parseRetryAfter } from '../retry/with-retry.js';

/**
 * The codes shared/hub throws: the Hub's answers (`X-Error-Code` or the status), and a download's own failures
 * (a body that broke off or failed its hash, patterns matching nothing).
 */
export type HubErrorCode =
  | 'HUB_GATED_REPO'
  | 'HUB_REPO_NOT_FOUND'
  | 'HUB_REVISION_NOT_FOUND'
  | 'HUB_ENTRY_NOT_FOUND'
  | 'HUB_DISABLED_REPO'
  | 'HUB_UNAUTHORIZED'
  | 'HUB_NOT_FOUND'
  | 'HUB_RATE_LIMITED'
  | 'HUB_UNAVAILABLE'
  | 'HUB_BAD_RESPONSE'
  | 'DOWNLOAD_INCOMPLETE'
  | 'DOWNLOAD_INTEGRITY'
  | 'NO_FILES_MATCH';

declare module '../errors/app-error.js' {
  interface ErrorCodes {
    hub: HubErrorCode;
  }
}

/**
 * A failed Hub request. `permanent` errors (gated, unauthorized, repo/revision/file missing) are not retried
 * until the config changes or the next interval; others (429, 5xx, dropped connections) are retried with backoff,
 * `retryAfterMs` carrying the server's `Retry-After`.
 */
export class HubError extends AppError {
  readonly status: number;
  readonly permanent: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(params: {
    code: HubErrorCode;
    message: string;
    status: number;
    permanent: boolean;
    retryAfterMs?: number;
    cause?: unknown;
  }) {
    super({
      code: params.code,
      message: params.message,
      statusCode: params.status >= 500 ? 502 : params.status,
      cause: params.cause,
    });
    this.name = 'AppError';
    this.status = params.status;
    this.permanent = params.permanent;
    this.retryAfterMs = params.retryAfterMs;
  }
}

/** Hub `X-Error-Code` values and what they mean for us. */
const ERROR_CODES: Record<string, HubErrorCode> = {
  GatedRepo: 'HUB_GATED_REPO',
  RepoNotFound: 'HUB_REPO_NOT_FOUND',
  RevisionNotFound: 'HUB_REVISION_NOT_FOUND',
  EntryNotFound: 'HUB_ENTRY_NOT_FOUND',
  DisabledRepo: 'HUB_DISABLED_REPO',
};

/**
 * Translates a non-2xx Hub response into a {@link HubError}. `what` names the request for the message
 * (e.g. `org/name@main`); the URL is not included (it may carry a signed CDN query string).
 */
export function hubErrorFromResponse(params: {
  status: number;
  headers: Headers | Record<string, string | string[] | undefined>;
  what: string;
}): HubError {
  const header = (name: string): string | null => readHeader(params.headers, name);
  const xCode = header('x-error-code');
  const status = params.status;
  const mapped = xCode === null ? undefined : ERROR_CODES[xCode];
  const code = mapped ?? codeForStatus(status);
  const retryAfterMs =
    status === 429 || status === 503 ? (parseRetryAfter(header('retry-after')) ?? undefined) : undefined;
  const permanent = !isRetryableStatus(status);
  // an unknown X-Error-Code is the Hub's text: shown short and scrubbed of credentials (issue 14)
  const reason =
    xCode === null ? `HTTP ${status}` : mapped ? xCode : `${redactSecrets(xCode).slice(0, 80)} (HTTP ${status})`;
  return new HubError({
    code,
    status,
    permanent,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    message: `Hub request for ${params.what} failed: ${reason}${permanent ? ' (permanent: not retried until the config changes or the next check)' : ''}`,
  });
}

function codeForStatus(status: number): HubErrorCode {
  if (status === 401) return 'HUB_UNAUTHORIZED';
  if (status === 403) return 'HUB_GATED_REPO';
  if (status === 404) return 'HUB_NOT_FOUND';
  if (status === 429) return 'HUB_RATE_LIMITED';
  if (status >= 500) return 'HUB_UNAVAILABLE';
  return 'HUB_BAD_RESPONSE';
}

function readHeader(headers: Headers | Record<string, string | string[] | undefined>, name: string): string | null {
  if (headers instanceof Headers) return headers.get(name);
  const value = headers[name] ?? headers[name.toLowerCase()];
  if (Array.isArray(value)) return value[0] ?? null;
  return value ?? null;
}

/** True when retrying now could help: 408/429/5xx, a dropped connection, a body that broke off or failed its hash. */
export function isRetryableHubError(err: unknown): boolean {
  if (err instanceof HubError) return !err.permanent;
  if (err instanceof AppError) return err.code === 'DOWNLOAD_INTEGRITY' || err.code === 'DOWNLOAD_INCOMPLETE';
  return isConnectionError(err);
}

/** True for gated/401/404-type failures: report them and wait for a config change or the next interval. */
export function isPermanentHubError(err: unknown): boolean {
  return err instanceof HubError && err.permanent;
}
