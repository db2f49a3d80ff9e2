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
  const family = createRequestFamily({
    registry: params.registry,
    prefix: `modelctl_${params.role}_http`,
    noun: 'HTTP requests',
    labelNames: ['route', 'method', 'status'],
  });
  return {
    started: family.started,
    ended: (route, method, status, seconds) =>
      family.ended(`${status} ${method} ${route}`, () => ({ route, method, status: String(status) }), seconds),
  };
}

/** The latency buckets of every request family (HTTP and gRPC alike, so their histograms compare). */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** One protocol's request metrics: `<prefix>_requests_total`, `_request_duration_seconds`, `_requests_in_flight`. */
export interface RequestFamily<L extends string> {
  /** a request began */
  started: () => void;
  /**
   * a request ended: counted and timed under the labels `key` stands for (`labels` is asked only the first time a
   * key is seen: one labels object per label set, not one per request)
   */
  ended: (key: string, labels: () => Record<L, string>, seconds: number) => void;
}

/**
 * The counter, histogram and in-flight gauge of one protocol's requests (`prefix` e.g. `modelctl_serve_http`), so
 * that HTTP and gRPC are counted by the same code under the same scheme.
 */
export function createRequestFamily<L extends string>(params: {
  registry: Registry;
  prefix: string;
  /** what is counted, for the help texts ("HTTP requests") */
  noun: string;
  labelNames: readonly L[];
}): RequestFamily<L> {
  const { registry, prefix, noun, labelNames } = params;
  const by = labelNames.length > 1 ? `${labelNames.slice(0, -1).join(', ')} and ${labelNames.at(-1)!}` : labelNames[0];
  const requests = new Counter<L>({
    name: `${prefix}_requests_total`,
    help: `${noun} answered, by ${by}`,
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram<L>({
    name: `${prefix}_request_duration_seconds`,
    help: `${noun.replace(/s$/, '')} latency, by ${by}`,
    labelNames,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: `${prefix}_requests_in_flight`,
    help: `${noun} being handled`,
    registers: [registry],
  });
  const labelSets = new Map<string, Record<L, string>>();
  return {
    started: () => inFlight.inc(),
    ended: (key, labels, seconds) => {
      inFlight.dec();
      let set = labelSets.get(key);
      if (set === undefined) {
        set = labels();
        labelSets.set(key, set);
      }
      requests.inc(set);
      duration.observe(set, seconds);
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
  // 'on', not 'once': a response closes once, and once()'s wrapper and its removal cost a request's main thread more
  res.on('close', () => {
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    // closed before its answer went out: the client left (nginx's 499), whatever status the answer would have had
    const status = res.writableFinished ? res.statusCode : CLIENT_CLOSED_REQUEST;
    metrics.ended(params.route(), req.method!, status, seconds);
    if (log.isLevelEnabled(level))
      log[level]({ method: req.method, path: params.path, status, ms: Math.round(seconds * 1e4) / 10 }, 'request');
  });
}
