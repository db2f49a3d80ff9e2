import type { Request, Response, Router } from 'express';
import express from 'express';
import { predictionsByRow } from './format-predictions.js';
import { v2Error } from './oip-v2-routes.js';
import { parseJsonScoringRequest } from './parse-scoring-request.js';
import type { ServeContext } from './serve-context.js';

/**
 * KServe v1 data plane: `GET /v1/models/{name}` and `POST /v1/models/{name}:predict` with `{"instances": [...]}`.
 * Predictions are one per instance: the output's row for a single-output model, else `{output: row}`.
 */
export function kserveV1Routes(ctx: ServeContext): Router {
  const router = express.Router();
  router.get('/v1/models/:name', (req, res) => {
    const model = ctx.requireModel();
    if (req.params['name'] !== model.name) throw v2Error(404, `Model ${String(req.params['name'])} not found`);
    res.json({ name: model.name, ready: true });
  });
  // ":predict" is part of the last segment, which express would read as a parameter
  router.post('/v1/models/:target', ctx.readBody, async (req: Request, res: Response) => {
    const model = ctx.requireModel();
    const target = String(req.params['target']);
    const [name, verb] = target.split(':');
    if (verb !== 'predict') throw v2Error(404, `unknown verb in ${target}: use /v1/models/${model.name}:predict`);
    if (name !== model.name) throw v2Error(404, `Model ${name} not found`);
    const text = (req.body as Buffer | undefined)?.toString('utf8') ?? '';
    let instances: unknown;
    try {
      instances = (JSON.parse(text) as { instances?: unknown }).instances;
    } catch {
      throw v2Error(400, 'request body is not valid JSON');
    }
    if (!Array.isArray(instances)) throw v2Error(400, 'the request must be {"instances": [...]}');
    const { input } = parseJsonScoringRequest(JSON.stringify({ instances }));
    const outputs = await ctx.withTimeout(model.predict(input));
    const rows = predictionsByRow(outputs);
    const single = model.io.outputs.length === 1 ? model.io.outputs[0]!.name : null;
    res.json({ predictions: single ? rows.map((r) => r[single]) : rows });
  });
  return router;
}
