import express, { type Express } from 'express';
import type { RequestListener } from 'node:http';
import { AppError } from '../../shared/errors/app-error.js';
import { createHttpApp, type HttpAppState } from '../../shared/http/create-http-app.js';
import { httpErrorHandler } from '../../shared/http/http-error-handler.js';
import { kserveV1Routes } from './kserve-v1-routes.js';
import type { ServedModel } from './load-served-model.js';
import { mlflowRoutes } from './mlflow-routes.js';
import { oipV2Routes } from './oip-v2-routes.js';
import { createServeFront, type ServeAppParams, type ServeAppParts } from './create-serve-front.js';
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
 * The predict fast path (create-serve-front.ts) and the express app built at once; `modelctl serve` builds the
 * express app only when first needed (index.ts).
 */
export function createServeApp(params: ServeAppParams): ServeAppHandle {
  const built: { app?: Express } = {};
  const front = createServeFront({ ...params, fallback: (req, res) => built.app!(req, res) });
  const app = createServeExpressApp(params, front.parts);
  built.app = app;
  return { handler: front.handler, app, setModel: front.setModel, state: front.state };
}

/**
 * The express app of every route (the front's predict fast path answers its requests alike): health, metrics,
 * MLflow scoring protocol, Open Inference Protocol v2, KServe v1, errors by serve's policy.
 */
export function createServeExpressApp(params: ServeAppParams, parts: ServeAppParts): Express {
  const app = createHttpApp({
    log: params.log,
    registry: params.registry,
    role: 'serve',
    state: parts.state,
    accessLogLevel: 'debug',
    metrics: parts.metrics,
  });
  const ctx: ServeContext = {
    ...parts.ctx,
    readBody: express.raw({ type: () => true, limit: params.maxBodyBytes }),
    bodyOf: (req) => (Buffer.isBuffer(req.body) ? req.body : new Uint8Array(0)),
    sendJson: (res, { body, headerLength }) => {
      if (headerLength !== undefined) res.setHeader('Inference-Header-Content-Length', String(headerLength));
      res
        .status(200)
        .type(headerLength === undefined ? 'application/json' : 'application/octet-stream')
        .send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    },
  };
  app.use(mlflowRoutes(ctx));
  app.use(oipV2Routes(ctx));
  app.use(kserveV1Routes(ctx));
  app.use((req, _res, next) =>
    next(
      new AppError({ code: 'ENDPOINT_NOT_FOUND', statusCode: 404, message: `No route for ${req.method} ${req.path}` }),
    ),
  );
  app.use(httpErrorHandler(parts.errors));
  return app;
}
