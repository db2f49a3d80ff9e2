/**
 * The error codes of modelctl, one member per adapter or role, each the union of the codes it throws. Each
 * adapter declares its own (`declare module '…/errors/app-error.js' { interface ErrorCodes { hub: HubErrorCode } }`
 * beside its error type), so `shared/errors` imports nobody, and a code nobody declared does not compile.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging
export interface ErrorCodes {}

/** The codes shared/errors itself throws: a bad setting, and the catch-all of an HTTP boundary. */
export type CommonErrorCode = 'INVALID_CONFIG' | 'INTERNAL_ERROR';

/** Every stable error code ({@link ErrorCodes}). */
export type ErrorCode = CommonErrorCode | ErrorCodes[keyof ErrorCodes];

/**
 * A peer's own code relayed to our client as is (the error_code of MLflow's scoring server, which serve must
 * answer unchanged): typed as an {@link ErrorCode} though no adapter declares it, since nothing branches on it.
 */
export function relayedErrorCode(code: string): ErrorCode {
  return code as ErrorCode;
}

/**
 * The one error type of modelctl. `code` is stable and machine-readable (e.g. `MODEL_NOT_FOUND`);
 * `statusCode` is what an HTTP boundary answers with. Always chain the cause.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;

  constructor(params: { code: ErrorCode; message: string; statusCode?: number; cause?: unknown }) {
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
