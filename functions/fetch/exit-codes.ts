import { isAppError } from '../../shared/errors/app-error.js';

/**
 * `modelctl fetch` exit codes (documented in `modelctl fetch --help`):
 * 0 the model is at OUTPUT_PATH/model; 1 bad configuration or URI; 2 permanent failure (not found, refused
 * credentials, unsupported or refused artifact store, not an MLflow model, a server answer that breaks the API
 * or a bound: unsafe names, more bytes than listed, a tree too large, over FETCH_MAX_MODEL_GB); 3 the server stayed unavailable through
 * MAX_RETRIES retries; 4 not enough disk space; 5 anything else (I/O error, lost cache lock, bug).
 */
export const EXIT = { ok: 0, config: 1, permanent: 2, retriesExhausted: 3, noSpace: 4, other: 5 } as const;

const BY_CODE: Record<string, number> = {
  INVALID_CONFIG: EXIT.config,
  INVALID_MODEL_URI: EXIT.config,
  INVALID_REPO_ID: EXIT.config,
  INVALID_REVISION: EXIT.config,
  MODEL_NOT_FOUND: EXIT.permanent,
  MLFLOW_AUTH: EXIT.permanent,
  MLFLOW_BAD_REQUEST: EXIT.permanent,
  ARTIFACT_STORE_UNSUPPORTED: EXIT.permanent,
  NOT_AN_MLFLOW_MODEL: EXIT.permanent,
  MODEL_ENV_FAILED: EXIT.permanent,
  HF_NOT_CACHED: EXIT.permanent,
  UNSAFE_REPO_PATH: EXIT.permanent,
  MLFLOW_UNAVAILABLE: EXIT.retriesExhausted,
  // a 2xx that is not MLflow's API (lies about sizes, endless trees, unsafe names): asking again gets the same
  MLFLOW_BAD_RESPONSE: EXIT.permanent,
  MODEL_TOO_LARGE: EXIT.permanent,
  NO_SPACE: EXIT.noSpace,
};

/** The exit code for a failure of the fetch role. */
export function exitCodeFor(err: unknown): number {
  if (isAppError(err)) return BY_CODE[err.code] ?? hubExitCode(err);
  if ((err as NodeJS.ErrnoException | null)?.code === 'ENOSPC') return EXIT.noSpace;
  return EXIT.other;
}

/** Hub failures (shared/hub HubError) say themselves whether they are permanent. */
function hubExitCode(err: unknown): number {
  const permanent = (err as { permanent?: unknown }).permanent;
  if (typeof permanent !== 'boolean') return EXIT.other;
  return permanent ? EXIT.permanent : EXIT.retriesExhausted;
}
