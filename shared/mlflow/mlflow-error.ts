import { AppError } from '../errors/app-error.js';
import { isConnectionError, isRetryableStatus } from '../retry/with-retry.js';

/**
 * Stable codes of MLflow failures:
 * - `MODEL_NOT_FOUND`: the model, version, alias, stage, run or artifact does not exist (permanent)
 * - `MLFLOW_AUTH`: 401/403 from the tracking server (permanent)
 * - `MLFLOW_BAD_REQUEST`: any other 4xx, or a URI MLflow cannot resolve (permanent)
 * - `ARTIFACT_STORE_UNSUPPORTED`: artifacts live where the tracking server does not proxy them (permanent)
 * - `MLFLOW_UNAVAILABLE`: 408/429/5xx or connection errors (retryable; after the last retry, exhausted)
 * - `MLFLOW_BAD_RESPONSE`: a 2xx whose body is not what the REST API documents
 */
export type MlflowErrorCode =
  | 'MODEL_NOT_FOUND'
  | 'MLFLOW_AUTH'
  | 'MLFLOW_BAD_REQUEST'
  | 'ARTIFACT_STORE_UNSUPPORTED'
  | 'MLFLOW_UNAVAILABLE'
  | 'MLFLOW_BAD_RESPONSE';

declare module '../errors/app-error.js' {
  interface ErrorCodes {
    mlflow: MlflowErrorCode;
  }
}

/** An MLflow failure. Messages carry the server origin without credentials, never a password or token. */
export class MlflowError extends AppError {
  /** the tracking server's HTTP status, when there was a response */
  readonly upstreamStatus: number | undefined;
  /** from `Retry-After`, for {@link withRetry} */
  readonly retryAfterMs: number | undefined;

  constructor(params: {
    code: MlflowErrorCode;
    message: string;
    upstreamStatus?: number | undefined;
    retryAfterMs?: number | undefined;
    cause?: unknown;
  }) {
    super({ code: params.code, message: params.message, statusCode: statusFor(params.code), cause: params.cause });
    this.name = 'AppError';
    this.upstreamStatus = params.upstreamStatus;
    this.retryAfterMs = params.retryAfterMs;
  }
}

function statusFor(code: MlflowErrorCode): number {
  if (code === 'MODEL_NOT_FOUND') return 404;
  if (code === 'MLFLOW_AUTH') return 403;
  if (code === 'MLFLOW_UNAVAILABLE' || code === 'MLFLOW_BAD_RESPONSE') return 502;
  return 400;
}

/** The server refused the request itself (not found, or another client error but auth): permanent, and for an optional endpoint an answer. */
export function isRefusal(err: MlflowError): boolean {
  return err.code === 'MODEL_NOT_FOUND' || err.code === 'MLFLOW_BAD_REQUEST';
}

/** Retry on 408/429/5xx answers and dropped/refused connections; never on 401/403/404 or bad input. */
export function isRetryableMlflowError(err: unknown): boolean {
  if (err instanceof MlflowError) {
    return (
      err.code === 'MLFLOW_UNAVAILABLE' && (err.upstreamStatus === undefined || isRetryableStatus(err.upstreamStatus))
    );
  }
  return isConnectionError(err);
}
