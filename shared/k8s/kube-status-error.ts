import type { AppError } from '../errors/app-error.js';
import { kubeAppError, serverMessage } from './kube-error.js';

/** The API server answered with an error status; `body` is its (JSON) Status as text. */
export class KubeStatusError extends Error {
  readonly code: number;
  readonly body: string;

  constructor(code: number, body: string, what: string) {
    super(`${what}: HTTP ${code}: ${serverMessage(body) ?? ''}`.trimEnd());
    this.name = 'KubeStatusError';
    this.code = code;
    this.body = body;
  }
}

/** REST errors as AppErrors with the same stable codes as client-node's (see kubeAppError). */
export function kubeRestError(err: unknown, action: string): AppError {
  return kubeAppError(err, action, err instanceof KubeStatusError ? { status: err.code, body: err.body } : null);
}

/** True when `err` is the API server's answer `status` (e.g. 404, 409). */
export function isKubeStatus(err: unknown, status: number): boolean {
  return err instanceof KubeStatusError && err.code === status;
}
