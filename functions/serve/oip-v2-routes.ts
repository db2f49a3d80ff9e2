import type { Request, Response, Router } from 'express';
import express from 'express';
import type { IncomingHttpHeaders } from 'node:http';
import type { TensorMeta } from './model-io.js';
import { V2_TYPES, v2Error } from './oip-v2-types.js';
import type { ServeContext } from './serve-context.js';

/**
 * Open Inference Protocol v2 (KServe v2 / Triton): health, model metadata and `infer`.
 * Errors answer `{"error": "..."}` as the protocol specifies. `infer` is scored in an inference thread
 * (oip-v2-scoring.ts).
 */
export function oipV2Routes(ctx: ServeContext): Router {
  const router = express.Router();
  router.get('/v2/health/live', (_req, res) => {
    res.json({ live: true });
  });
  router.get('/v2/health/ready', (_req, res) => {
    const ready = ctx.model() !== null;
    res.status(ready ? 200 : 503).json({ ready });
  });
  router.get('/v2', (_req, res) => {
    res.json({ name: 'modelctl', version: ctx.version, extensions: ['binary_tensor_data'] });
  });
  router.get('/v2/models/:name', (req, res) => {
    const model = modelNamed(ctx, req);
    res.json({
      name: model.name,
      versions: [],
      platform: model.runtime === 'pyfunc' ? 'mlflow' : 'onnxruntime_onnx',
      inputs: model.io.inputs.map(describeTensor),
      outputs: model.io.outputs.map(describeTensor),
    });
  });
  router.get('/v2/models/:name/ready', (req, res) => {
    const model = modelNamed(ctx, req);
    res.json({ name: model.name, ready: true });
  });
  router.post('/v2/models/:name/infer', ctx.readBody, async (req: Request, res: Response) => {
    const model = modelNamed(ctx, req);
    const headerLength = inferenceHeaderLength(req.headers);
    ctx.sendJson(
      res,
      await ctx.withTimeout(
        (signal) => model.score({ protocol: 'oip-v2', body: ctx.bodyOf(req), headerLength }, { signal }),
        res,
      ),
    );
  });
  return router;
}

/**
 * The binary extension's `Inference-Header-Content-Length`, or undefined without it.
 * @throws AppError 400 when it is not a byte count
 */
export function inferenceHeaderLength(headers: IncomingHttpHeaders): number | undefined {
  const header = headers['inference-header-content-length'];
  if (header === undefined) return undefined;
  const text = (Array.isArray(header) ? header.join(',') : header).trim();
  if (!/^\d{1,15}$/.test(text))
    throw v2Error(
      400,
      `Inference-Header-Content-Length must be a byte count, got ${JSON.stringify(text.slice(0, 40))}`,
    );
  return Number(text);
}

function modelNamed(ctx: ServeContext, req: Request): NonNullable<ReturnType<ServeContext['model']>> {
  const model = ctx.requireModel();
  if (req.params['name'] !== model.name) throw v2Error(404, `Model ${String(req.params['name'])} not found`);
  return model;
}

function describeTensor(t: TensorMeta): { name: string; datatype: string; shape: number[] } {
  return { name: t.name, datatype: V2_TYPES[t.type], shape: t.shape };
}
