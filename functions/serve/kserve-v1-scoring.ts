import { predictionsByRow } from './format-predictions.js';
import type { ModelIo } from './model-io.js';
import { v2Error } from './oip-v2-types.js';
import { denseTensorInput, parseDenseJsonRequest } from './parse-dense-json.js';
import { scoringRequestOf, type ModelInput } from './parse-scoring-request.js';
import { prepareFeeds } from './prepare-feeds.js';
import type { ScoringModel } from './scoring.js';

/**
 * `POST /v1/models/{name}:predict` with `{"instances": [...]}` once the route has matched the model.
 * Predictions are one per instance: the output's row for a single-output model, else `{output: row}`.
 * @throws AppError with the protocol's `{"error"}` message, or MLflow's wording for instances that do not fit
 */
export async function scoreV1Predict(model: ScoringModel, body: Uint8Array): Promise<{ predictions: unknown[] }> {
  const input = denseInstances(body, model.io) ?? parseInstances(body);
  const outputs = await model.run(
    prepareFeeds(input, model.io),
    model.io.outputs.map((o) => o.name),
  );
  const rows = predictionsByRow(outputs);
  const single = model.io.outputs.length === 1 ? model.io.outputs[0]!.name : null;
  return { predictions: single ? rows.map((r) => r[single]) : rows };
}

/**
 * `{"instances": <nested numbers>}` for a model with one float input, read from the bytes into the input's typed
 * array as /invocations reads it (parse-dense-json.ts), or null: the general path parses the body.
 */
function denseInstances(body: Uint8Array, io: ModelIo): ModelInput | null {
  // the values were counted before the body came here (scoring.ts, checkRequestValues): no second limit
  const dense = parseDenseJsonRequest(body, io, Number.MAX_SAFE_INTEGER);
  return dense?.key === 'instances' ? denseTensorInput(dense) : null;
}

function parseInstances(body: Uint8Array): ModelInput {
  let instances: unknown;
  try {
    const doc = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) as unknown;
    instances = (doc as { instances?: unknown } | null)?.instances;
  } catch {
    throw v2Error(400, 'request body is not valid JSON');
  }
  if (!Array.isArray(instances)) throw v2Error(400, 'the request must be {"instances": [...]}');
  return scoringRequestOf({ instances }).input;
}
