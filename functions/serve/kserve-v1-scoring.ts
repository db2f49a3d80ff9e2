import { predictionsByRow } from './format-predictions.js';
import { v2Error } from './oip-v2-types.js';
import { scoringRequestOf } from './parse-scoring-request.js';
import { prepareFeeds } from './prepare-feeds.js';
import type { ScoringModel } from './scoring.js';

/**
 * `POST /v1/models/{name}:predict` with `{"instances": [...]}` once the route has matched the model.
 * Predictions are one per instance: the output's row for a single-output model, else `{output: row}`.
 * @throws AppError with the protocol's `{"error"}` message, or MLflow's wording for instances that do not fit
 */
export async function scoreV1Predict(model: ScoringModel, body: Uint8Array): Promise<{ predictions: unknown[] }> {
  let instances: unknown;
  try {
    const doc = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) as unknown;
    instances = (doc as { instances?: unknown } | null)?.instances;
  } catch {
    throw v2Error(400, 'request body is not valid JSON');
  }
  if (!Array.isArray(instances)) throw v2Error(400, 'the request must be {"instances": [...]}');
  const { input } = scoringRequestOf({ instances });
  const outputs = await model.run(
    prepareFeeds(input, model.io),
    model.io.outputs.map((o) => o.name),
  );
  const rows = predictionsByRow(outputs);
  const single = model.io.outputs.length === 1 ? model.io.outputs[0]!.name : null;
  return { predictions: single ? rows.map((r) => r[single]) : rows };
}
