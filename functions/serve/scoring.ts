// What an inference thread does with one request, end to end: parse the body (for large inputs, parsing JSON
// costs more than the model), check it against the model, run the session, and serialise the answer. The main
// thread only moves bytes: the body in, the answer out, both transferred, never copied or parsed there.
import { checkRequestValues } from './count-request-values.js';
import { scoreInvocation } from './mlflow-scoring.js';
import type { ModelIo, WireTensor } from './model-io.js';

/** One request for an inference thread: the protocol and the raw body (its buffer is transferred). */
export type ScoringTask =
  | { protocol: 'mlflow'; format: 'json' | 'csv'; body: Uint8Array }
  /** `headerLength`: the OIP binary extension's Inference-Header-Content-Length (binary tensors follow it) */
  | { protocol: 'oip-v2'; body: Uint8Array; headerLength?: number | undefined }
  | { protocol: 'kserve-v1'; body: Uint8Array };

/** The model as the scoring code sees it: its name, inputs/outputs, and a run of the session. */
export interface ScoringModel {
  name: string;
  io: ModelIo;
  /** @throws AppError BAD_REQUEST when onnxruntime refuses the feeds */
  run: (feeds: Record<string, WireTensor>, outputs: string[]) => Promise<Record<string, WireTensor>>;
}

/** A protocol's answer before serialising: the JSON document, and raw tensors to send after it (OIP binary). */
export interface ScoredDocument {
  doc: unknown;
  binary?: Uint8Array[];
}

/** A response body: JSON as UTF-8, or (OIP binary extension) a JSON header of `headerLength` bytes + raw data. */
export interface ScoringAnswer {
  body: Uint8Array;
  headerLength?: number;
}

const encoder = new TextEncoder();

/** What one request may cost, checked before its body is parsed. */
export interface ScoringLimits {
  /** SERVE_MAX_REQUEST_VALUES: the most JSON values (or CSV fields) a body may hold */
  maxValues: number;
}

/**
 * Answers one task: the response body in a buffer of its own (so it can be transferred).
 * @throws AppError for a request the model cannot score (the route turns it into the protocol's error body);
 *   REQUEST_LIMIT_EXCEEDED (413) for a body with more values than `limits` allow, before it is parsed
 */
export async function score(task: ScoringTask, model: ScoringModel, limits: ScoringLimits): Promise<ScoringAnswer> {
  const { doc, binary } = await answer(task, model, limits);
  const json = encoder.encode(JSON.stringify(doc));
  if (!binary) return { body: json };
  const body = new Uint8Array(binary.reduce((n, b) => n + b.byteLength, json.byteLength));
  body.set(json, 0);
  let offset = json.byteLength;
  for (const b of binary) {
    body.set(b, offset);
    offset += b.byteLength;
  }
  return { body, headerLength: json.byteLength };
}

/** The bytes the scorer parses as JSON or CSV: with the OIP binary extension, the JSON header only. */
function parsedPart(task: ScoringTask): Uint8Array {
  if (task.protocol !== 'oip-v2' || task.headerLength === undefined) return task.body;
  return task.body.subarray(0, task.headerLength); // a header length past the body is refused while splitting it
}

// The v2 (zod) and v1 scorers load on their first request: a thread's start-up (cold start) needs neither.
// Each import() is made once: another import() of a loaded module still goes through the module loader, ~5 us
// of the thread's time per request.
let v2Scoring: Promise<typeof import('./oip-v2-scoring.js')> | undefined;
let v1Scoring: Promise<typeof import('./kserve-v1-scoring.js')> | undefined;

async function answer(task: ScoringTask, model: ScoringModel, limits: ScoringLimits): Promise<ScoredDocument> {
  switch (task.protocol) {
    case 'mlflow':
      // counts the values itself: its fast path reads a large numeric body in one pass, counting as it goes
      return { doc: await scoreInvocation(model, task.format, task.body, limits.maxValues) };
    case 'oip-v2':
      checkRequestValues(parsedPart(task), 'json', limits.maxValues);
      return (await (v2Scoring ??= import('./oip-v2-scoring.js'))).scoreV2Infer(model, task.body, task.headerLength);
    case 'kserve-v1':
      checkRequestValues(task.body, 'json', limits.maxValues);
      return { doc: await (await (v1Scoring ??= import('./kserve-v1-scoring.js'))).scoreV1Predict(model, task.body) };
  }
}
