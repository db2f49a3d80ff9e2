import type { Request, Response, Router } from 'express';
import express from 'express';
import { z } from 'zod';
import { AppError } from '../../shared/errors/app-error.js';
import { jsonScalars } from './format-predictions.js';
import type { TensorMeta, WireTensor } from './model-io.js';
import { formatShape, toFloatTensor, toNdArray } from './nd-array.js';
import type { ServeContext } from './serve-context.js';
import { toTypedData, type ElementType } from './typed-values.js';

const V2_TYPES: Record<ElementType, string> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};

const InferRequest = z.object({
  id: z.string().optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  inputs: z
    .array(
      z.object({
        name: z.string(),
        shape: z.array(z.number().int().min(0)),
        datatype: z.string(),
        data: z.unknown(),
        parameters: z.record(z.string(), z.unknown()).optional(),
      }),
    )
    .min(1),
  outputs: z.array(z.object({ name: z.string(), parameters: z.record(z.string(), z.unknown()).optional() })).optional(),
});

/**
 * Open Inference Protocol v2 (KServe v2 / Triton): health, model metadata and `infer`.
 * Errors answer `{"error": "..."}` as the protocol specifies.
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
    res.json({ name: 'modelctl', version: ctx.version, extensions: [] });
  });
  router.get('/v2/models/:name', (req, res) => {
    const model = modelNamed(ctx, req);
    res.json({
      name: model.name,
      versions: [],
      platform: 'onnxruntime_onnx',
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
    const request = parseInferRequest(req.body as Buffer);
    const feeds = toFeeds(request, model.io.inputs);
    const wanted = request.outputs?.map((o) => o.name);
    const unknown = wanted?.filter((n) => !model.io.outputs.some((o) => o.name === n)) ?? [];
    if (unknown.length > 0) throw v2Error(400, `unknown output(s): ${unknown.join(', ')}`);
    const outputs = await ctx.withTimeout(model.runFeeds(feeds, wanted));
    res.json({
      model_name: model.name,
      ...(request.id === undefined ? {} : { id: request.id }),
      outputs: Object.entries(outputs).map(([name, t]) => ({
        name,
        datatype: V2_TYPES[t.type as ElementType] ?? t.type.toUpperCase(),
        shape: t.dims,
        data: jsonScalars(t),
      })),
    });
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

function parseInferRequest(body: Buffer | undefined): z.infer<typeof InferRequest> {
  let doc: unknown;
  try {
    doc = JSON.parse(body?.toString('utf8') ?? '');
  } catch {
    throw v2Error(400, 'request body is not valid JSON');
  }
  const parsed = InferRequest.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw v2Error(400, `invalid inference request: ${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

function toFeeds(request: z.infer<typeof InferRequest>, inputs: TensorMeta[]): Record<string, WireTensor> {
  const feeds: Record<string, WireTensor> = {};
  for (const meta of inputs) {
    const given = request.inputs.find((i) => i.name === meta.name);
    if (!given) throw v2Error(400, `missing input ${meta.name}`);
    if (given.datatype !== V2_TYPES[meta.type])
      throw v2Error(400, `input ${meta.name} has datatype ${given.datatype}; the model expects ${V2_TYPES[meta.type]}`);
    const data = flatTypedData(given.data, meta);
    const count = given.shape.reduce((a, b) => a * b, 1);
    if (data.length !== count)
      throw v2Error(
        400,
        `input ${meta.name} has ${data.length} values; shape ${formatShape(given.shape)} needs ${count}`,
      );
    const fits =
      given.shape.length === meta.shape.length && meta.shape.every((d, i) => d === -1 || d === given.shape[i]);
    if (!fits)
      throw v2Error(
        400,
        `input ${meta.name} has shape ${formatShape(given.shape)}; the model expects ${formatShape(meta.shape)}`,
      );
    feeds[meta.name] = { type: meta.type, data, dims: given.shape };
  }
  const extra = request.inputs.filter((i) => !inputs.some((m) => m.name === i.name)).map((i) => i.name);
  if (extra.length > 0) throw v2Error(400, `unknown input(s): ${extra.join(', ')}`);
  return feeds;
}

/** The row-major values of `data` (flat or nested) as the input's typed array; plain floats take the fast path. */
function flatTypedData(data: unknown, meta: TensorMeta): WireTensor['data'] & { length: number } {
  if (meta.type === 'float32' || meta.type === 'float64') {
    const fast = toFloatTensor(data, meta.type);
    if (fast) return fast.data;
  }
  return toTypedData(toNdArray(data).values, meta.type, meta.name);
}

/** Errors of the v2 and v1 protocols: `{"error": message}`. */
export function v2Error(status: number, message: string): AppError {
  return new AppError({ code: 'OIP_ERROR', statusCode: status, message });
}
