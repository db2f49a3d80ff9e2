import type { Request, Response, Router } from 'express';
import express from 'express';
import { v2Error } from './oip-v2-types.js';
import type { ServeContext } from './serve-context.js';

/**
 * KServe v1 data plane: `GET /v1/models/{name}` and `POST /v1/models/{name}:predict` with `{"instances": [...]}`
 * (scored in an inference thread: kserve-v1-scoring.ts).
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
    ctx.sendJson(
      res,
      await ctx.withTimeout((signal) => model.score({ protocol: 'kserve-v1', body: ctx.bodyOf(req) }, { signal }), res),
    );
  });
  return router;
}
