import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../log/create-logger.js';

/**
 * The request metrics of a role's HTTP server: answered requests and their latency by route, method and status,
 * and the requests being handled. Shared by the express app and serve's predict fast path, so both count alike.
 */
export interface RequestMetrics {
  /** a request began */
  started: () => void;
  /** a request ended (its response finished or its connection closed) */
  ended: (route: string, method: string, status: number, seconds: number) => void;
}

export function createRequestMetrics(params: { registry: Registry; role: string }): RequestMetrics {
  const { registry, role } = params;
  const requests = new Counter({
    name: `modelctl_${role}_http_requests_total`,
    help: 'HTTP requests answered, by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: `modelctl_${role}_http_request_duration_seconds`,
    help: 'HTTP request latency, by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: `modelctl_${role}_http_requests_in_flight`,
    help: 'HTTP requests being handled',
    registers: [registry],
  });
  // one labels object per route, method and status (few: routes are patterns), not one per request
  const labelSets = new Map<string, { route: string; method: string; status: string }>();
  return {
    started: () => inFlight.inc(),
    ended: (route, method, status, seconds) => {
      inFlight.dec();
      const key = `${status} ${method} ${route}`;
      let labels = labelSets.get(key);
      if (labels === undefined) {
        labels = { route, method, status: String(status) };
        labelSets.set(key, labels);
      }
      requests.inc(labels);
      duration.observe(labels, seconds);
    },
  };
}

/** The status label of a request whose connection closed before its answer was written (nginx's). */
const CLIENT_CLOSED_REQUEST = 499;

/**
 * One request's accounting, alike for the express app and serve's predict fast path: in flight from now,
 * `Connection: close` while draining, and once its response closes, counted by route, method and status with an
 * access log line at `level` (status 499 when it closed before its answer was written: the client left).
 * @param route the route's label, asked when the response closes (express knows the route only after routing)
 */
export function trackRequest(
  req: IncomingMessage,
  res: ServerResponse,
  params: {
    metrics: RequestMetrics;
    log: Logger;
    level: 'info' | 'debug';
    draining: boolean;
    /** the path the access log shows */
    path: string;
    route: () => string;
  },
): void {
  const { metrics, log, level } = params;
  const start = process.hrtime.bigint();
  metrics.started();
  if (params.draining) res.setHeader('Connection', 'close');
  res.once('close', () => {
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    // closed before its answer went out: the client left (nginx's 499), whatever status the answer would have had
    const status = res.writableFinished ? res.statusCode : CLIENT_CLOSED_REQUEST;
    metrics.ended(params.route(), req.method!, status, seconds);
    if (log.isLevelEnabled(level))
      log[level]({ method: req.method, path: params.path, status, ms: Math.round(seconds * 1e4) / 10 }, 'request');
  });
}
