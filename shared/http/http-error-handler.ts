import type { NextFunction, Request, Response } from 'express';
import { isAppError } from '../errors/app-error.js';
import { redactSecrets, type Logger } from '../log/create-logger.js';

/** What an error answers: its status, stable code and message (before the body shape is applied). */
export interface HttpErrorAnswer {
  status: number;
  code: string;
  message: string;
}

/**
 * The one mapper from a thrown error to an HTTP answer (serve's routes and the CloudEvents functions), and the
 * one place such errors are logged. Parameterised by what differs between them:
 * - a refusal (4xx, and the `relayed` 5xx that are not the server's fault) answers its code and message in the
 *   body shape `bodyOf` picks for the request, and is logged at `refusedLevel`;
 * - any other failure is logged at error and answers `internal.status` (default: the thrown status) with
 *   `INTERNAL_ERROR` and `internal.message`: its body says nothing internal.
 * A body-parser error keeps its 4xx status (413 becomes `REQUEST_LIMIT_EXCEEDED`, with `tooLargeHint`).
 */
export function httpErrorHandler(params: {
  log: Logger;
  /** the body of an answer on this request's path (`{error_code, message}`, or KServe's `{error}`) */
  bodyOf: (req: Request, answer: HttpErrorAnswer) => unknown;
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
}) {
  const { log } = params;
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const described = describeHttpError(err, params.tooLargeHint ?? '');
    const refused = described.status < 500 || (params.relayed ?? []).includes(described.status);
    const answer: HttpErrorAnswer = refused
      ? { ...described, message: params.redact ? redactSecrets(described.message) : described.message }
      : {
          status: params.internal.status ?? described.status,
          code: 'INTERNAL_ERROR',
          message: params.internal.message,
        };
    if (refused) log[params.refusedLevel]({ path: req.path, ...answer }, `${params.noun} refused`);
    else log.error({ err, path: req.path }, `${params.noun} failed`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(answer.status).json(params.bodyOf(req, answer));
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
