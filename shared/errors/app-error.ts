/**
 * The one error type of modelctl. `code` is stable and machine-readable (e.g. `MODEL_NOT_FOUND`);
 * `statusCode` is what an HTTP boundary answers with. Always chain the cause.
 */
export class AppError extends Error {
  readonly code: string;
  readonly statusCode: number;

  constructor(params: { code: string; message: string; statusCode?: number; cause?: unknown }) {
    super(params.message, params.cause === undefined ? undefined : { cause: params.cause });
    this.name = 'AppError';
    this.code = params.code;
    this.statusCode = params.statusCode ?? 500;
  }
}

/** True when `err` is an {@link AppError}, also across module copies (no `instanceof`). */
export function isAppError(err: unknown): err is AppError {
  return err instanceof Error && err.name === 'AppError' && typeof (err as AppError).code === 'string';
}

/** A configuration value that stops start-up. Its message is one line per bad setting. */
export class ConfigError extends AppError {
  constructor(message: string, cause?: unknown) {
    super({ code: 'INVALID_CONFIG', message, statusCode: 400, cause });
    this.name = 'AppError';
  }
}
