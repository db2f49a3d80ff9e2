import { setTimeout as delay } from 'node:timers/promises';

/** What {@link withRetry} reports before each wait. */
export interface RetryAttempt {
  /** 1 for the first retry */
  retry: number;
  /** retries allowed in total */
  maxRetries: number;
  delayMs: number;
  /** true when the wait came from the server's `Retry-After` */
  fromRetryAfter: boolean;
  error: unknown;
}

/**
 * Runs `run` and retries it while `isRetryable(error)` holds, at most `maxRetries` times, waiting
 * "full jitter" exponential backoff (a uniform random delay in `[0, min(maxDelayMs, baseDelayMs * 2^n)]`,
 * see https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/) or, when the error says
 * so, at least the server's `Retry-After`.
 *
 * Written by hand (not p-retry) because p-retry has no notion of a server-imposed minimum delay and no
 * injectable clock/random for tests; this is the whole policy in one small function.
 * @returns what `run` resolved with
 * @throws the last error when it is not retryable, retries are used up, or a `Retry-After` asks for more
 *   than `maxDelayMs` (waiting longer than the budget would only delay the same failure)
 */
export async function withRetry<T>(params: {
  /** the operation; `attempt` is 0 for the first try */
  run: (attempt: number) => Promise<T>;
  /** retries after the first attempt (so up to `maxRetries + 1` attempts); 0 = no retry */
  maxRetries: number;
  /** base of the exponential backoff, e.g. `BACKOFF_SECONDS * 1000` */
  baseDelayMs: number;
  /** cap on one wait, also on an honoured `Retry-After` @default 300000 */
  maxDelayMs?: number;
  /** which errors are worth another try @default isConnectionError */
  isRetryable?: (error: unknown) => boolean;
  /** a server-imposed minimum wait for this error, or null @default retryAfterMsOf */
  retryAfterMs?: (error: unknown) => number | null;
  /** called before each wait (log it) */
  onRetry?: (attempt: RetryAttempt) => void;
  /** stops waiting and rethrows the last error when aborted */
  signal?: AbortSignal;
  /** injected in tests @default Math.random */
  random?: () => number;
  /** injected in tests @default timers/promises setTimeout */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}): Promise<T> {
  const sleep = params.sleep ?? sleepUnlessAborted;
  for (let attempt = 0; ; attempt++) {
    try {
      return await params.run(attempt);
    } catch (error) {
      const wait = nextWait({ ...params, attempt, error });
      if (wait === null) throw error;
      params.onRetry?.({ retry: attempt + 1, maxRetries: params.maxRetries, ...wait, error });
      await sleep(wait.delayMs, params.signal).catch(() => {
        throw error;
      });
    }
  }
}

function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal });
}

/** The wait before the next attempt, or null when `error` ends the loop. */
function nextWait(params: {
  attempt: number;
  error: unknown;
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs?: number;
  random?: () => number;
  signal?: AbortSignal;
  isRetryable?: (error: unknown) => boolean;
  retryAfterMs?: (error: unknown) => number | null;
}): { delayMs: number; fromRetryAfter: boolean } | null {
  const isRetryable = params.isRetryable ?? isConnectionError;
  if (params.attempt >= params.maxRetries || params.signal?.aborted === true) return null;
  if (!isRetryable(params.error)) return null;
  return retryDelay({ ...params, retryAfterOf: params.retryAfterMs ?? retryAfterMsOf });
}

function retryDelay(params: {
  attempt: number;
  error: unknown;
  baseDelayMs: number;
  maxDelayMs?: number;
  random?: () => number;
  retryAfterOf: (error: unknown) => number | null;
}): { delayMs: number; fromRetryAfter: boolean } | null {
  const cap = params.maxDelayMs ?? 300_000;
  const ceiling = Math.min(cap, params.baseDelayMs * 2 ** params.attempt);
  const jittered = Math.floor((params.random ?? Math.random)() * ceiling);
  const retryAfter = params.retryAfterOf(params.error);
  if (retryAfter === null) return { delayMs: jittered, fromRetryAfter: false };
  if (retryAfter > cap) return null;
  return retryAfter >= jittered
    ? { delayMs: retryAfter, fromRetryAfter: true }
    : { delayMs: jittered, fromRetryAfter: false };
}

/** HTTP statuses worth retrying: 408, 429 and every 5xx (as MLflow's and huggingface_hub's clients do). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * True for a dropped/refused/timed-out connection anywhere in the `cause` chain (Node's and undici's
 * codes; `fetch` wraps them in `TypeError('fetch failed', { cause })`).
 */
export function isConnectionError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== null && typeof e === 'object' && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The `retryAfterMs` an error carries (set it when a response had `Retry-After`), else null. */
function retryAfterMsOf(error: unknown): number | null {
  if (error === null || typeof error !== 'object') return null;
  const value = (error as { retryAfterMs?: unknown }).retryAfterMs;
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
}

/**
 * Parses a `Retry-After` header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
 * @returns milliseconds to wait (0 for a date in the past), or null when absent or unparseable
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | null {
  if (value === null || value === undefined) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now);
}
