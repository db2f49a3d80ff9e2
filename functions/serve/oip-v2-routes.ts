import type { Request, Response, Router } from 'express';
import express from 'express';
import type { TensorMeta } from './model-io.js';
import { V2_TYPES, v2Error } from './oip-v2-types.js';
import { inferenceHeaderLength } from './inference-header-length.js';
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

function modelNamed(ctx: ServeContext, req: Request): NonNullable<ReturnType<ServeContext['model']>> {
  const model = ctx.requireModel();
  if (req.params['name'] !== model.name) throw v2Error(404, `Model ${String(req.params['name'])} not found`);
  return model;
}

function describeTensor(t: TensorMeta): { name: string; datatype: string; shape: number[] } {
  return { name: t.name, datatype: V2_TYPES[t.type], shape: t.shape };
}
