import { isUtf8 } from 'node:buffer';
import { predictionsByOutput, predictionsByRow } from './format-predictions.js';
import type { ModelIo } from './model-io.js';
import { parseCsvScoringRequest, parseJsonScoringRequest, type ScoringRequest } from './parse-scoring-request.js';
import { prepareFeeds } from './prepare-feeds.js';
import { badRequest } from './scoring-error.js';
import type { ScoringModel } from './scoring.js';

/**
 * `POST /invocations` once the route has accepted the content type: the body parsed as JSON or CSV, checked
 * against the model's signature, run, and answered `{"predictions": …}` as `mlflow models serve` does.
 * @throws AppError BAD_REQUEST / INVALID_PARAMETER_VALUE with MLflow's wording
 */
export async function scoreInvocation(
  model: ScoringModel,
  format: 'json' | 'csv',
  body: Uint8Array,
): Promise<{ predictions: unknown }> {
  const text = decodeUtf8(body);
  const request = format === 'csv' ? await parseCsvScoringRequest(text) : parseJsonScoringRequest(text);
  const outputs = await model.run(prepareFeeds(request.input, model.io), allOutputs(model.io));
  return { predictions: shapePredictions(request, model.io, outputs) };
}

function allOutputs(io: ModelIo): string[] {
  return io.outputs.map((o) => o.name);
}

function decodeUtf8(body: Uint8Array): string {
  if (body.length === 0) return '';
  // isUtf8 validates with simdutf; the decoder only runs on invalid input, for its error message
  if (isUtf8(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch (cause) {
    throw badRequest(`Ensure that input is a valid UTF-8 encoded string. Error: '${(cause as Error).message}'`, cause);
  }
}

/**
 * MLflow answers DataFrame input with one record per row, unless the model has a tensor signature (the frame is
 * then turned into a tensor first, and the answer is a dict of outputs, as for tensor input).
 */
function shapePredictions(
  parsed: ScoringRequest,
  io: ModelIo,
  outputs: Parameters<typeof predictionsByOutput>[0],
): unknown {
  const tensorSignature = io.signature?.inputs?.kind === 'tensor';
  if (parsed.input.kind === 'frame' && !tensorSignature) return predictionsByRow(outputs);
  return predictionsByOutput(outputs);
}
