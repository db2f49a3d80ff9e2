import { AppError } from '../errors/app-error.js';

/** The codes shared/k8s throws: the API server's answers, or none (unreachable, no credentials). */
export type KubeErrorCode =
  | 'KUBE_UNAVAILABLE'
  | 'KUBE_UNREACHABLE'
  | 'KUBE_ERROR'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'FORBIDDEN'
  | 'UNAUTHORIZED'
  | 'CRD_MISSING'
  | 'FEATURE_DISABLED'
  | 'FIELD_CONFLICT'
  | 'INVALID_OBJECT'
  | 'REVISION_NAME_UNCHANGED';

declare module '../errors/app-error.js' {
  interface ErrorCodes {
    kube: KubeErrorCode;
  }
}

/** What the API server answered: its HTTP status and body (a metav1.Status, as JSON text or parsed). */
export interface KubeAnswer {
  status: number;
  body: unknown;
}

/**
 * API errors as AppErrors with a stable code (NOT_FOUND, CONFLICT, FORBIDDEN, KUBE_ERROR; KUBE_UNAVAILABLE when
 * the server did not answer); the message keeps the server's reason, never credentials. For client-node's
 * ApiException and the agent's REST client alike.
 */
export function kubeAppError(err: unknown, action: string, answer: KubeAnswer | null): AppError {
  if (!answer) {
    return new AppError({
      code: 'KUBE_UNAVAILABLE',
      message: `${action}: ${(err as Error).message}`,
      statusCode: 503,
      cause: err,
    });
  }
  const { status } = answer;
  const reason = serverMessage(answer.body) ?? `HTTP ${status}`;
  const code: KubeErrorCode =
    status === 404
      ? 'NOT_FOUND'
      : status === 409
        ? 'CONFLICT'
        : status === 403 || status === 401
          ? 'FORBIDDEN'
          : 'KUBE_ERROR';
  return new AppError({ code, message: `${action}: ${reason}`, statusCode: status, cause: err });
}

/** The `message` of a metav1.Status body (JSON text or parsed); else the start of the text. */
export function serverMessage(body: unknown): string | undefined {
  if (typeof body === 'string') {
    try {
      return serverMessage(JSON.parse(body));
    } catch {
      return body.slice(0, 300) || undefined;
    }
  }
  if (body && typeof body === 'object' && 'message' in body && typeof body.message === 'string') return body.message;
  return undefined;
}
