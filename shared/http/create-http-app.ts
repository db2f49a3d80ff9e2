import express, { type Express, type Request, type Response, type NextFunction } from 'express';
import type { Registry } from 'prom-client';
import type { Logger } from '../log/create-logger.js';
import { createRequestMetrics, trackRequest, type RequestMetrics } from './request-metrics.js';

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
  /** the request metrics, when another handler beside the app counts into them too @default created here */
  metrics?: RequestMetrics;
}): Express {
  const { log, registry, state } = params;
  const accessLogLevel = params.accessLogLevel ?? 'info';
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const metrics = params.metrics ?? createRequestMetrics({ registry, role: params.role });

  app.use((req: Request, res: Response, next: NextFunction) => {
    if (QUIET_PATHS.has(req.path)) return next();
    trackRequest(req, res, {
      metrics,
      log,
      level: accessLogLevel,
      draining: state.isDraining(),
      path: req.path,
      route: () => routeLabel(req),
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
