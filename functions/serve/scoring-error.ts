import { AppError } from '../../shared/errors/app-error.js';

/** A request the model cannot score: answered 400 with `{error_code, message}`. */
export function badRequest(message: string, cause?: unknown): AppError {
  return new AppError({ code: 'BAD_REQUEST', statusCode: 400, message, cause });
}

/** Input that parses but does not match the model's signature (rank, fixed dims, dtype, columns). */
export function schemaMismatch(message: string, cause?: unknown): AppError {
  return new AppError({ code: 'INVALID_PARAMETER_VALUE', statusCode: 400, message, cause });
}
