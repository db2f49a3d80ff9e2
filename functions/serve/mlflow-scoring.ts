import { isUtf8 } from 'node:buffer';
import { checkRequestValues } from './count-request-values.js';
import { predictionsByOutput, predictionsByRow } from './format-predictions.js';
import type { ModelIo } from './model-io.js';
import { denseTensorInput, parseDenseJsonRequest } from './parse-dense-json.js';
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
  /** SERVE_MAX_REQUEST_VALUES: a body holding more values is refused (413) before it is parsed */
  maxValues: number,
): Promise<{ predictions: unknown }> {
  const request =
    (format === 'json' ? denseRequest(body, model.io, maxValues) : null) ??
    (await parseRequest(body, format, maxValues));
  const outputs = await model.run(prepareFeeds(request.input, model.io), allOutputs(model.io));
  return { predictions: shapePredictions(request, model.io, outputs) };
}

/**
 * The body parsed as JSON or CSV (the general path).
 * @throws AppError REQUEST_LIMIT_EXCEEDED (413) for more values than `maxValues`, before anything is parsed
 */
async function parseRequest(body: Uint8Array, format: 'json' | 'csv', maxValues: number): Promise<ScoringRequest> {
  checkRequestValues(body, format, maxValues);
  const text = decodeUtf8(body);
  return format === 'csv' ? parseCsvScoringRequest(text) : parseJsonScoringRequest(text);
}

/** A large numeric body read straight into the model's typed array (parse-dense-json.ts), or null. */
function denseRequest(body: Uint8Array, io: ModelIo, maxValues: number): ScoringRequest | null {
  const dense = parseDenseJsonRequest(body, io, maxValues);
  if (!dense) return null;
  return { input: denseTensorInput(dense), params: undefined };
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
