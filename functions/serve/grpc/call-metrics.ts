import { status } from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import { createRequestFamily, type RequestFamily } from '../../../shared/http/request-metrics.js';
import type { Logger } from '../../../shared/log/create-logger.js';

/**
 * The gRPC calls' metrics: `modelctl_<role>_grpc_requests_total` and `_request_duration_seconds` by grpc_service,
 * grpc_method and grpc_code (the label names of go-grpc-prometheus / py-grpc-prometheus, which MLServer's gRPC
 * server exposes), and `_requests_in_flight`. A family of their own, counted by the same code as the HTTP one
 * (shared/http/request-metrics.ts): the HTTP family's `status` label holds HTTP statuses, which dashboards read as
 * such (`status=~"5.."`); gRPC codes there would be miscounted.
 */
export type GrpcCallMetrics = RequestFamily<'grpc_service' | 'grpc_method' | 'grpc_code'>;

export function createGrpcCallMetrics(params: { registry: Registry; role: string }): GrpcCallMetrics {
  return createRequestFamily({
    registry: params.registry,
    prefix: `modelctl_${params.role}_grpc`,
    noun: 'gRPC calls',
    labelNames: ['grpc_service', 'grpc_method', 'grpc_code'],
  });
}

/** A status code's name as gRPC spells it (`OK`, `CANCELLED`, `DEADLINE_EXCEEDED`...); an unknown code as its number. */
export function grpcCodeName(code: number): string {
  return (status as unknown as Record<number, string | undefined>)[code] ?? String(code);
}

/**
 * How close to its deadline a call the client's side ended counts as past it: a client whose deadline passes
 * cancels the call itself (RST_STREAM, as an explicit cancel), often before grpc-js's timer here fires, since the
 * server's deadline is the grpc-timeout left when the headers arrived (later than the client's by their transit).
 */
export const DEADLINE_SLACK_MS = 100;

/**
 * The code a call ended with when the client's side ended it first: DEADLINE_EXCEEDED when the deadline the client
 * set (grpc-timeout) has passed, or is less than DEADLINE_SLACK_MS away; else CANCELLED: the client cancelled or
 * left (HTTP's 499).
 * @param deadline the call's deadline as grpc-js gives it (Infinity: none), `now` in ms since the epoch
 */
export function codeWhenCancelled(deadline: Date | number, now: number): number {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return at - now <= DEADLINE_SLACK_MS ? status.DEADLINE_EXCEEDED : status.CANCELLED;
}

/** The part of a grpc-js server call that accounting needs. */
export interface TrackedCall {
  on: (event: 'cancelled', listener: () => void) => unknown;
  getDeadline: () => Date | number;
}

/**
 * One call's accounting, as trackRequest does it for HTTP: in flight from now, and when it ends (its handler
 * answers, or the client cancels, or the client's deadline passes: whichever comes first), counted and timed by
 * service, method and code with an access log line at `level`: the RPC's name and code, nothing of its messages.
 * @returns `ended(code)`, for the handler's answer (OK or its error's code); later ends are ignored
 */
export function trackCall(
  call: TrackedCall,
  params: { metrics: GrpcCallMetrics; log: Logger; level: 'info' | 'debug'; service: string; method: string },
): (code: number) => void {
  const { metrics, log, level, service, method } = params;
  const start = process.hrtime.bigint();
  let done = false;
  const ended = (code: number): void => {
    if (done) return;
    done = true;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const name = grpcCodeName(code);
    metrics.ended(
      `${code} ${service}/${method}`,
      () => ({ grpc_service: service, grpc_method: method, grpc_code: name }),
      seconds,
    );
    if (log.isLevelEnabled(level))
      log[level](
        { method, path: `/${service}/${method}`, status: name, ms: Math.round(seconds * 1e4) / 10 },
        'request',
      );
  };
  metrics.started();
  // grpc-js tells a call's handler 'cancelled' also after its answer went out: ignored then (done)
  call.on('cancelled', () => ended(codeWhenCancelled(call.getDeadline(), Date.now())));
  return ended;
}
