import { isAppError, type CommonErrorCode } from '../../shared/errors/app-error.js';
import type { DiskErrorCode } from '../../shared/disk/disk-guard.js';
import type { HfCacheErrorCode } from '../../shared/hf-cache/cache-paths.js';
import type { HubErrorCode } from '../../shared/hub/hub-error.js';
import type { MlflowErrorCode } from '../../shared/mlflow/mlflow-error.js';
import type { ModelErrorCode } from '../../shared/model/read-mlmodel.js';

/** The codes fetch itself throws (besides its adapters'). */
export type FetchErrorCode = 'INVALID_MODEL_URI' | 'MODEL_TOO_LARGE' | 'NOT_AN_MLFLOW_MODEL' | 'MODEL_ENV_FAILED';

declare module '../../shared/errors/app-error.js' {
  interface ErrorCodes {
    fetch: FetchErrorCode;
  }
}

/** Every code a fetch can fail with: its own and those of the adapters it calls. */
type FetchFailureCode =
  CommonErrorCode | FetchErrorCode | MlflowErrorCode | HubErrorCode | HfCacheErrorCode | DiskErrorCode | ModelErrorCode;

/**
 * `modelctl fetch` exit codes (documented in `modelctl fetch --help`):
 * 0 the model is at OUTPUT_PATH/model; 1 bad configuration or URI; 2 permanent failure (not found, refused
 * credentials, unsupported or refused artifact store, not an MLflow model, a server answer that breaks the API
 * or a bound: unsafe names, more bytes than listed, a tree too large, over FETCH_MAX_MODEL_GB); 3 the server stayed unavailable through
 * MAX_RETRIES retries; 4 not enough disk space; 5 anything else (I/O error, lost cache lock, bug).
 */
export const EXIT = { ok: 0, config: 1, permanent: 2, retriesExhausted: 3, noSpace: 4, other: 5 } as const;
type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Total over {@link FetchFailureCode}: a code added to fetch or an adapter it calls does not compile until it is here. */
const BY_CODE: Record<FetchFailureCode, ExitCode> = {
  INVALID_CONFIG: EXIT.config,
  INVALID_MODEL_URI: EXIT.config,
  INVALID_REPO_ID: EXIT.config,
  INVALID_REVISION: EXIT.config,
  MODEL_NOT_FOUND: EXIT.permanent,
  MLFLOW_AUTH: EXIT.permanent,
  MLFLOW_BAD_REQUEST: EXIT.permanent,
  ARTIFACT_STORE_UNSUPPORTED: EXIT.permanent,
  NOT_AN_MLFLOW_MODEL: EXIT.permanent,
  MODEL_INVALID: EXIT.permanent,
  FLAVOR_UNSUPPORTED: EXIT.permanent,
  MODEL_ENV_FAILED: EXIT.permanent,
  UNSAFE_REPO_PATH: EXIT.permanent,
  MLFLOW_UNAVAILABLE: EXIT.retriesExhausted,
  // a 2xx that is not the API (lies about sizes, endless trees, unsafe names): asking again gets the same
  MLFLOW_BAD_RESPONSE: EXIT.permanent,
  HUB_BAD_RESPONSE: EXIT.permanent,
  MODEL_TOO_LARGE: EXIT.permanent,
  // the Hub's answers; a HubError says itself whether it is permanent (a 408 is not), see exitCodeFor
  HUB_GATED_REPO: EXIT.permanent,
  HUB_REPO_NOT_FOUND: EXIT.permanent,
  HUB_REVISION_NOT_FOUND: EXIT.permanent,
  HUB_ENTRY_NOT_FOUND: EXIT.permanent,
  HUB_DISABLED_REPO: EXIT.permanent,
  HUB_UNAUTHORIZED: EXIT.permanent,
  HUB_NOT_FOUND: EXIT.permanent,
  NO_FILES_MATCH: EXIT.permanent,
  HUB_RATE_LIMITED: EXIT.retriesExhausted,
  HUB_UNAVAILABLE: EXIT.retriesExhausted,
  // thrown once the retries of a body that broke off or failed its hash are used up
  DOWNLOAD_INCOMPLETE: EXIT.retriesExhausted,
  DOWNLOAD_INTEGRITY: EXIT.retriesExhausted,
  NO_SPACE: EXIT.noSpace,
  INTERNAL_ERROR: EXIT.other,
};

/** The exit code for a failure of the fetch role. */
export function exitCodeFor(err: unknown): ExitCode {
  const permanent = (err as { permanent?: unknown } | null)?.permanent;
  if (isAppError(err) && typeof permanent === 'boolean') return permanent ? EXIT.permanent : EXIT.retriesExhausted;
  if (isAppError(err) && err.code in BY_CODE) return BY_CODE[err.code as FetchFailureCode];
  if ((err as NodeJS.ErrnoException | null)?.code === 'ENOSPC') return EXIT.noSpace;
  return EXIT.other;
}
