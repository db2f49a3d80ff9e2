import type { Logger } from '../log/create-logger.js';
import { withRetry } from '../retry/with-retry.js';
import { isRetryableHubError } from './hub-error.js';

/**
 * The one policy for transient Hub failures (408/429/5xx, dropped connections, a body that broke off or failed
 * its hash): warm's resolution, the agent's and fetch's downloads.
 */
export interface HubRetryPolicy {
  /** @default {@link HUB_RETRY_DEFAULTS} of the operation: 8 for downloads, 3 for resolving */
  maxRetries?: number | undefined;
  /** @default 1000 */
  baseDelayMs?: number | undefined;
  /** @default 60000: a longer Retry-After gives up (warm: until the next event; downloads: the pass fails) */
  maxDelayMs?: number | undefined;
}

/**
 * Retries by operation: a download keeps going through a flaky Hub (8); resolving answers a CloudEvent, and the
 * next event or PingSource tick asks again (3).
 */
export const HUB_RETRY_DEFAULTS = {
  download: { maxRetries: 8, baseDelayMs: 1000, maxDelayMs: 60_000 },
  resolve: { maxRetries: 3, baseDelayMs: 1000, maxDelayMs: 60_000 },
} as const;

/**
 * Runs one Hub call under `policy` (unset fields from the `operation`'s defaults), retrying what
 * {@link isRetryableHubError} allows, and logs each retry at warn when `log` is given.
 * @throws the last error when it is permanent, retries are used up or `signal` aborts
 */
export function withHubRetry<T>(params: {
  run: () => Promise<T>;
  operation: keyof typeof HUB_RETRY_DEFAULTS;
  policy?: HubRetryPolicy | undefined;
  /** logs `{retry, delayMs, err, ...logFields}` with `logMessage` before each wait */
  log?: Logger | undefined;
  logFields?: Record<string, unknown>;
  /** @default 'hub request retry' */
  logMessage?: string;
  signal?: AbortSignal | undefined;
}): Promise<T> {
  const defaults = HUB_RETRY_DEFAULTS[params.operation];
  const { log } = params;
  return withRetry({
    run: params.run,
    maxRetries: params.policy?.maxRetries ?? defaults.maxRetries,
    baseDelayMs: params.policy?.baseDelayMs ?? defaults.baseDelayMs,
    maxDelayMs: params.policy?.maxDelayMs ?? defaults.maxDelayMs,
    isRetryable: isRetryableHubError,
    ...(log
      ? {
          onRetry: (a) =>
            log.warn(
              { ...params.logFields, retry: a.retry, delayMs: a.delayMs, err: a.error },
              params.logMessage ?? 'hub request retry',
            ),
        }
      : {}),
    ...(params.signal ? { signal: params.signal } : {}),
  });
}
