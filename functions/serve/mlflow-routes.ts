import type { Request, Response, Router } from 'express';
import express from 'express';
import { contentTypeVerdict } from './mlflow-content-type.js';
import type { ServeContext } from './serve-context.js';

/** The MLflow scoring protocol, as `mlflow models serve` answers it: /ping, /health, /version, /invocations. */
export function mlflowRoutes(ctx: ServeContext): Router {
  const router = express.Router();
  const ping = (_req: Request, res: Response): void => {
    res
      .status(ctx.model() ? 200 : 503)
      .type('application/json')
      .send('\n');
  };
  router.get('/ping', ping);
  router.get('/health', ping);
  router.get('/version', (_req, res) => {
    res.type('application/json').send(ctx.version);
  });
  router.post('/invocations', ctx.readBody, async (req: Request, res: Response) => {
    const model = ctx.requireModel();
    const { format, refusal } = contentTypeVerdict(req.headers['content-type']);
    if (refusal !== null) {
      res.status(415).type('text/plain').send(refusal);
      return;
    }
    // parsed, run and answered in an inference thread (mlflow-scoring.ts)
    ctx.sendJson(
      res,
      await ctx.withTimeout(
        (signal) => model.score({ protocol: 'mlflow', format, body: ctx.bodyOf(req) }, { signal }),
        res,
      ),
    );
  });
  return router;
}
