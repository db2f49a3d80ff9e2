import { AppError } from '../../shared/errors/app-error.js';

/** The codes serve answers with (besides the adapters'), each with its HTTP status at the throw. */
export type ServeErrorCode =
  | 'BAD_REQUEST'
  | 'CLIENT_CLOSED_REQUEST'
  | 'INVALID_PARAMETER_VALUE'
  | 'DEADLINE_EXCEEDED'
  | 'ENDPOINT_NOT_FOUND'
  | 'INFERENCE_FAILED'
  | 'MODEL_ENV_MISSING'
  | 'MODEL_EXAMPLE_FAILED'
  | 'MODEL_LOAD_FAILED'
  | 'MODEL_NOT_READY'
  | 'MODEL_UNSUPPORTED'
  | 'OIP_ERROR'
  | 'REQUEST_LIMIT_EXCEEDED'
  | 'SERVER_BUSY'
  | 'SERVER_SHUTTING_DOWN'
  | 'WORKER_FAILED';

declare module '../../shared/errors/app-error.js' {
  interface ErrorCodes {
    serve: ServeErrorCode;
  }
}

/** A request the model cannot score: answered 400 with `{error_code, message}`. */
export function badRequest(message: string, cause?: unknown): AppError {
  return new AppError({ code: 'BAD_REQUEST', statusCode: 400, message, cause });
}

/** Input that parses but does not match the model's signature (rank, fixed dims, dtype, columns). */
export function schemaMismatch(message: string, cause?: unknown): AppError {
  return new AppError({ code: 'INVALID_PARAMETER_VALUE', statusCode: 400, message, cause });
}
