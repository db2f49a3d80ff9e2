import express, { type Express } from 'express';
import type { RequestListener } from 'node:http';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { AppError, isAppError } from '../../shared/errors/app-error.js';
import { createHttpApp, type HttpAppState } from '../../shared/http/create-http-app.js';
import { httpErrorHandler, type HttpErrorPolicy } from '../../shared/http/http-error-handler.js';
import { createRequestMetrics } from '../../shared/http/request-metrics.js';
import type { Logger } from '../../shared/log/create-logger.js';
import { kserveV1Routes } from './kserve-v1-routes.js';
import type { ServedModel } from './load-served-model.js';
import { mlflowRoutes } from './mlflow-routes.js';
import { oipV2Routes } from './oip-v2-routes.js';
import { createPredictFastPath } from './predict-fast-path.js';
import { abortWhenClientCloses } from './client-closed.js';
import { createRequestDeadlines } from './request-deadlines.js';
import type { ServeContext } from './serve-context.js';

export interface ServeAppHandle {
  /** the server's request listener: the predict fast path in front of `app` */
  handler: RequestListener;
  /** the express app alone (every route; the fast path answers its predict requests alike) */
  app: Express;
  /** installs the model once loaded: the server turns ready */
  setModel: (model: ServedModel, loadSeconds: number) => void;
  state: HttpAppState & { startDraining: () => void };
}

/**
 * The serving HTTP app: MLflow scoring protocol, Open Inference Protocol v2, KServe v1, health and metrics.
 * It listens before the model is loaded (liveness answers, readiness and /ping say 503 until `setModel`).
 */
export function createServeApp(params: {
  log: Logger;
  registry: Registry;
  /** largest body accepted, in bytes; larger gets 413 */
  maxBodyBytes: number;
  /** MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT in ms; slower requests get 504 */
  requestTimeoutMs: number;
  version: string;
}): ServeAppHandle {
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
  const app = createHttpApp({
    log: params.log,
    registry: params.registry,
    role: 'serve',
    state,
    accessLogLevel: 'debug',
    metrics,
  });
  const loadTime = new Histogram({
    name: 'modelctl_serve_model_load_seconds',
    help: 'Time to load the model and run its input example',
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [params.registry],
  });
  new Gauge({
    name: 'modelctl_serve_inference_queue_length',
    help: 'Inference runs waiting for a thread',
    registers: [params.registry],
    collect() {
      this.set(model?.queued() ?? 0);
    },
  });

  const batchSize = new Histogram({
    name: 'modelctl_serve_batch_size',
    help: 'Requests merged into one inference-thread call by adaptive batching (1: alone)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [params.registry],
  });
  const queueWait = new Histogram({
    name: 'modelctl_serve_queue_wait_seconds',
    help: 'Time a request waited in the inference queue before its batch went to a thread',
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [params.registry],
  });

  const dropped = new Counter({
    name: 'modelctl_serve_queue_dropped_total',
    help: 'Requests taken out of the inference queue before they ran, by why: CLIENT_CLOSED_REQUEST (the client left), DEADLINE_EXCEEDED',
    labelNames: ['reason'] as const,
    registers: [params.registry],
  });

  const deadlines = createRequestDeadlines({ ms: params.requestTimeoutMs });
  const ctx: ServeContext = {
    model: () => model,
    requireModel: () => {
      if (!model)
        throw new AppError({ code: 'MODEL_NOT_READY', statusCode: 503, message: 'The model is still loading' });
      return model;
    },
    readBody: express.raw({ type: () => true, limit: params.maxBodyBytes }),
    bodyOf: (req) => (Buffer.isBuffer(req.body) ? req.body : new Uint8Array(0)),
    sendJson: (res, { body, headerLength }) => {
      if (headerLength !== undefined) res.setHeader('Inference-Header-Content-Length', String(headerLength));
      res
        .status(200)
        .type(headerLength === undefined ? 'application/json' : 'application/octet-stream')
        .send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    },
    withTimeout: (work, res) => {
      if (res === undefined) return deadlines.run(work);
      const controller = new AbortController();
      abortWhenClientCloses(res, controller);
      return deadlines.run(work, controller);
    },
    version: params.version,
  };
  app.use(mlflowRoutes(ctx));
  app.use(oipV2Routes(ctx));
  app.use(kserveV1Routes(ctx));
  app.use((req, _res, next) =>
    next(
      new AppError({ code: 'ENDPOINT_NOT_FOUND', statusCode: 404, message: `No route for ${req.method} ${req.path}` }),
    ),
  );
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
  app.use(httpErrorHandler(errors));
  const fastPath = createPredictFastPath({
    fallback: app,
    metrics,
    errors,
    log: params.log,
    accessLogLevel: 'debug',
    maxBodyBytes: params.maxBodyBytes,
    isDraining: state.isDraining,
    withTimeout: ctx.withTimeout,
  });

  return {
    handler: fastPath.handler,
    app,
    state,
    setModel: (loaded, seconds) => {
      model = loaded;
      fastPath.setModel(loaded);
      loadTime.observe(seconds);
      loaded.observeBatches({
        batch: (items, waits) => {
          batchSize.observe(items);
          for (const w of waits) queueWait.observe(w);
        },
        dropped: (reason) => dropped.inc({ reason: isAppError(reason) ? reason.code : 'ABORTED' }),
      });
    },
  };
}
