import type { NextFunction, Request, Response } from 'express';
import { isAppError } from '../errors/app-error.js';
import { redactSecrets, type Logger } from '../log/create-logger.js';

/** What an error answers: its status, stable code and message (before the body shape is applied). */
export interface HttpErrorAnswer {
  status: number;
  code: string;
  message: string;
}

/** How a role answers errors: the body shape, which 5xx are relayed, how failures and refusals are logged. */
export interface HttpErrorPolicy {
  log: Logger;
  /** the body of an answer on this request path (`{error_code, message}`, or KServe's `{error}`) */
  bodyOf: (path: string, answer: HttpErrorAnswer) => unknown;
  /** 5xx answered like refusals (serve: 503 busy, 504 past its deadline) @default none */
  relayed?: readonly number[];
  internal: { message: string; status?: number };
  refusedLevel: 'debug' | 'warn';
  /** what the log lines call the request: `request refused`, `event failed` */
  noun: 'request' | 'event';
  /** scrub registered secrets from refusal messages (a CloudEvent may echo them) @default false */
  redact?: boolean;
  /** names the limit in a 413's message, e.g. `(SERVE_MAX_BODY_MB)` @default '' */
  tooLargeHint?: string;
}

/**
 * The one mapper from a thrown error to an HTTP answer (serve's routes and the CloudEvents functions), and the
 * one place such errors are logged. Parameterised by what differs between them:
 * - a refusal (4xx, and the `relayed` 5xx that are not the server's fault) answers its code and message in the
 *   body shape `bodyOf` picks for the request, and is logged at `refusedLevel`;
 * - any other failure is logged at error and answers `internal.status` (default: the thrown status) with
 *   `INTERNAL_ERROR` and `internal.message`: its body says nothing internal.
 * A body-parser error keeps its 4xx status (413 becomes `REQUEST_LIMIT_EXCEEDED`, with `tooLargeHint`).
 * @returns the answer's status and body, for a request on `path`
 */
export function answerHttpError(
  policy: HttpErrorPolicy,
  err: unknown,
  path: string,
): { status: number; body: unknown } {
  const described = describeHttpError(err, policy.tooLargeHint ?? '');
  const refused = described.status < 500 || (policy.relayed ?? []).includes(described.status);
  const answer: HttpErrorAnswer = refused
    ? { ...described, message: policy.redact ? redactSecrets(described.message) : described.message }
    : {
        status: policy.internal.status ?? described.status,
        code: 'INTERNAL_ERROR',
        message: policy.internal.message,
      };
  if (refused) policy.log[policy.refusedLevel]({ path, ...answer }, `${policy.noun} refused`);
  else policy.log.error({ err, path }, `${policy.noun} failed`);
  return { status: answer.status, body: policy.bodyOf(path, answer) };
}

/** {@link answerHttpError} as express error middleware: answers JSON, or ends a response already under way. */
export function httpErrorHandler(policy: HttpErrorPolicy) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const { status, body } = answerHttpError(policy, err, req.path);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(status).json(body);
  };
}

function describeHttpError(err: unknown, tooLargeHint: string): HttpErrorAnswer {
  if (isAppError(err)) return { status: err.statusCode, code: err.code, message: err.message };
  const http = err as { status?: unknown; type?: unknown; message?: unknown } | null;
  if (http?.type === 'entity.too.large') {
    const message = `The request body is larger than the server accepts ${tooLargeHint}`.trimEnd();
    return { status: 413, code: 'REQUEST_LIMIT_EXCEEDED', message };
  }
  if (typeof http?.status === 'number' && http.status >= 400 && http.status < 500) {
    return { status: http.status, code: 'BAD_REQUEST', message: String(http.message ?? 'Bad request') };
  }
  return { status: 500, code: 'INTERNAL_ERROR', message: 'Internal error' };
}
