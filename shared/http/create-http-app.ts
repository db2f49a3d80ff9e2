import express, { type Express, type Request, type Response, type NextFunction } from 'express';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../log/create-logger.js';

/** Paths that probes and scrapers hit: kept out of access logs and request metrics. */
const QUIET_PATHS = new Set(['/health/liveness', '/health/readiness', '/metrics']);

export interface HttpAppState {
  /** false until the role is ready to serve, and again once draining starts */
  isReady: () => boolean;
  /** true once shutdown has begun: responses then close their connection */
  isDraining: () => boolean;
}

/**
 * The express app every role's HTTP server starts from: `/health/liveness`, `/health/readiness`,
 * `/metrics`, request metrics by route and status, in-flight gauge, access logs off the quiet paths.
 * Routes are added by the caller; finish with {@link addErrorHandling}.
 */
export function createHttpApp(params: {
  log: Logger;
  registry: Registry;
  role: string;
  state: HttpAppState;
  /**
   * level of the one-line-per-request access log (default info). Serving puts it at debug: a line per
   * prediction costs the event loop a synchronous write, and Knative's queue-proxy logs requests already.
   */
  accessLogLevel?: 'info' | 'debug';
}): Express {
  const { log, registry, state } = params;
  const accessLogLevel = params.accessLogLevel ?? 'info';
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const requests = new Counter({
    name: `modelctl_${params.role}_http_requests_total`,
    help: 'HTTP requests answered, by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: `modelctl_${params.role}_http_request_duration_seconds`,
    help: 'HTTP request latency, by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: `modelctl_${params.role}_http_requests_in_flight`,
    help: 'HTTP requests being handled',
    registers: [registry],
  });

  app.use((req: Request, res: Response, next: NextFunction) => {
    if (QUIET_PATHS.has(req.path)) return next();
    const start = process.hrtime.bigint();
    inFlight.inc();
    if (state.isDraining()) res.setHeader('Connection', 'close');
    res.once('close', () => {
      inFlight.dec();
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const labels = { route: routeLabel(req), method: req.method, status: String(res.statusCode) };
      requests.inc(labels);
      duration.observe(labels, seconds);
      if (log.isLevelEnabled(accessLogLevel))
        log[accessLogLevel](
          { method: req.method, path: req.path, status: res.statusCode, ms: Math.round(seconds * 1e4) / 10 },
          'request',
        );
    });
    next();
  });

  app.get('/health/liveness', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });
  app.get('/health/readiness', (_req, res) => {
    const ready = state.isReady();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready' });
  });
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', registry.contentType);
    res.send(await registry.metrics());
  });
  return app;
}

/** The matched route's pattern (bounded cardinality), or `unmatched`. */
function routeLabel(req: Request): string {
  const route = req.route as { path?: unknown } | undefined;
  if (route && typeof route.path === 'string') return req.baseUrl + route.path;
  return 'unmatched';
}
