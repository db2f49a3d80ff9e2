import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { AppError, isAppError } from '../../shared/errors/app-error.js';
import type { HttpAppState } from '../../shared/http/create-http-app.js';
import type { HttpErrorPolicy } from '../../shared/http/http-error-handler.js';
import { createRequestMetrics, type RequestMetrics } from '../../shared/http/request-metrics.js';
import type { Logger } from '../../shared/log/create-logger.js';
import type { ServedModel } from './load-served-model.js';
import { createPredictFastPath, writeJson } from './predict-fast-path.js';
import { abortWhenClientCloses } from './client-closed.js';
import { createRequestDeadlines } from './request-deadlines.js';
import type { ServeContext } from './serve-context.js';

/** The serving app's settings (createServeApp's and createServeFront's). */
export interface ServeAppParams {
  log: Logger;
  registry: Registry;
  /** largest body accepted, in bytes; larger gets 413 */
  maxBodyBytes: number;
  /** MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT in ms; slower requests get 504 */
  requestTimeoutMs: number;
  version: string;
}

/** What the express app of every other route is built from: the front's state, metrics and error policy. */
export interface ServeAppParts {
  state: HttpAppState & { startDraining: () => void };
  metrics: RequestMetrics;
  errors: HttpErrorPolicy;
  ctx: Omit<ServeContext, 'readBody' | 'bodyOf' | 'sendJson'>;
}

export interface ServeFront {
  /** the server's request listener: the probes and the predict fast path, every other request to `fallback` */
  handler: RequestListener;
  /** installs the model once loaded: the server turns ready */
  setModel: (model: ServedModel, loadSeconds: number) => void;
  state: ServeAppParts['state'];
  parts: ServeAppParts;
}

/**
 * The serving app's front without express: state, serve's metrics, the health probes and the predict fast path
 * (plain node:http), which also answers `POST /invocations` while the model loads (the 503 express's route
 * gives). `fallback` (the express app: create-serve-app.ts) takes every other request. Why apart: serve listens
 * with this front and imports express (router, body-parser, mime-types: ~40 ms of the main thread) only when a
 * request needs it, so neither the cold start's first 200 nor a starting pod's probes wait for it (issue 16).
 */
export function createServeFront(params: ServeAppParams & { fallback: RequestListener }): ServeFront {
  let model: ServedModel | null = null;
  let draining = false;
  const state = {
    isReady: () => model !== null && !draining,
    isDraining: () => draining,
    startDraining: () => {
      draining = true;
    },
  };
  const metrics = createRequestMetrics({ registry: params.registry, role: 'serve' });
  const observers = serveMetrics(params.registry, () => model);
  const deadlines = createRequestDeadlines({ ms: params.requestTimeoutMs });
  const ctx: ServeAppParts['ctx'] = {
    model: () => model,
    requireModel: () => {
      if (!model)
        throw new AppError({ code: 'MODEL_NOT_READY', statusCode: 503, message: 'The model is still loading' });
      return model;
    },
    withTimeout: (work, res) => {
      if (res === undefined) return deadlines.run(work);
      const controller = new AbortController();
      abortWhenClientCloses(res, controller);
      return deadlines.run(work, controller);
    },
    version: params.version,
  };
  // 4xx: `{error_code, message}` on the MLflow routes, `{error}` on /v1 and /v2; 5xx bodies say nothing internal
  const errors: HttpErrorPolicy = {
    log: params.log,
    bodyOf: (path, a) => (/^\/v[12]\//.test(path) ? { error: a.message } : { error_code: a.code, message: a.message }),
    relayed: [503, 504],
    internal: { message: 'Internal error' },
    refusedLevel: 'debug',
    noun: 'request',
    tooLargeHint: '(SERVE_MAX_BODY_MB)',
  };
  const fastPath = createPredictFastPath({
    fallback: params.fallback,
    metrics,
    errors,
    log: params.log,
    accessLogLevel: 'debug',
    maxBodyBytes: params.maxBodyBytes,
    isDraining: state.isDraining,
    withTimeout: ctx.withTimeout,
    requireModel: ctx.requireModel,
  });
  const handler: RequestListener = (req, res) => {
    if (!answerProbe(req, res, state)) fastPath.handler(req, res);
  };
  return {
    handler,
    state,
    parts: { state, metrics, errors, ctx },
    setModel: (loaded, seconds) => {
      model = loaded;
      fastPath.setModel(loaded);
      observers.loadTime.observe(seconds);
      loaded.observeBatches({
        batch: (items, waits) => {
          observers.batchSize.observe(items);
          for (const w of waits) observers.queueWait.observe(w);
        },
        dropped: (reason) => observers.dropped.inc({ reason: isAppError(reason) ? reason.code : 'ABORTED' }),
      });
    },
  };
}

/**
 * `GET /health/liveness` and `/health/readiness` (the pod's probes) on the exact path, answered as the express
 * app's routes answer them (create-http-app.ts: res.status().json(), no ETag, out of the metrics and access log);
 * HEAD, a query, a trailing slash, other case or a conditional GET (express answers `If-None-Match: *` 304) stay
 * with express.
 * @returns whether it answered
 */
function answerProbe(req: IncomingMessage, res: ServerResponse, state: HttpAppState): boolean {
  if (req.method !== 'GET' || isConditional(req)) return false;
  if (req.url === '/health/liveness') {
    writeJson(res, 200, { status: 'ok' });
    return true;
  }
  if (req.url !== '/health/readiness') return false;
  const ready = state.isReady();
  writeJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
  return true;
}

function isConditional(req: IncomingMessage): boolean {
  return req.headers['if-none-match'] !== undefined || req.headers['if-modified-since'] !== undefined;
}

/** serve's own metrics: model load time, queue length, batch sizes, queue waits, requests dropped. */
function serveMetrics(registry: Registry, model: () => ServedModel | null) {
  const loadTime = new Histogram({
    name: 'modelctl_serve_model_load_seconds',
    help: 'Time to load the model and run its input example',
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  new Gauge({
    name: 'modelctl_serve_inference_queue_length',
    help: 'Inference runs waiting for a thread',
    registers: [registry],
    collect() {
      this.set(model()?.queued() ?? 0);
    },
  });

  const batchSize = new Histogram({
    name: 'modelctl_serve_batch_size',
    help: 'Requests merged into one inference-thread call by adaptive batching (1: alone)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [registry],
  });
  const queueWait = new Histogram({
    name: 'modelctl_serve_queue_wait_seconds',
    help: 'Time a request waited in the inference queue before its batch went to a thread',
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });

  const dropped = new Counter({
    name: 'modelctl_serve_queue_dropped_total',
    help: 'Requests taken out of the inference queue before they ran, by why: CLIENT_CLOSED_REQUEST (the client left), DEADLINE_EXCEEDED',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  return { loadTime, batchSize, queueWait, dropped };
}
