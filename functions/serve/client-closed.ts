import type { ServerResponse } from 'node:http';
import { AppError } from '../../shared/errors/app-error.js';

/**
 * Why a request stopped waiting for inference: its client went away first (HTTP connection closed, gRPC call
 * cancelled). 499, as nginx counts a client that closed the connection before the answer; nobody reads the answer.
 */
export function clientClosedRequest(): AppError {
  return new AppError({
    code: 'CLIENT_CLOSED_REQUEST',
    statusCode: 499,
    message: 'The client closed the request before its answer',
  });
}

/**
 * Aborts `controller` with {@link clientClosedRequest} when `res` closes before its answer was written (the client
 * went away): a request still queued for inference then leaves the queue instead of being computed for nobody.
 */
export function abortWhenClientCloses(res: ServerResponse, controller: AbortController): void {
  res.on('close', () => {
    if (!res.writableFinished) controller.abort(clientClosedRequest());
  });
}
