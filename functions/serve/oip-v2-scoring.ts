import { z } from 'zod';
import { describeFirstIssue } from '../../shared/config/describe-issues.js';
import { jsonScalars } from './format-predictions.js';
import type { TensorMeta, WireTensor } from './model-io.js';
import { formatShape, toFloatTensor, toNdArray } from './nd-array.js';
import { DENSE_DATA_MIN_BYTES, parseWithDenseData } from './oip-v2-dense-data.js';
import { DenseArray } from './parse-dense-json.js';
import { binaryInputSlices, decodeBinaryTensor, encodeBinaryTensor, splitInferenceBody } from './oip-v2-binary.js';
import { V2_TYPES, v2Error } from './oip-v2-types.js';
import type { ScoredDocument, ScoringModel } from './scoring.js';
import { toTypedData, type ElementType } from './typed-values.js';

const InferRequest = z.object({
  id: z.string().optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  inputs: z
    .array(
      z.object({
        name: z.string(),
        shape: z.array(z.number().int().min(0)),
        datatype: z.string(),
        data: z.unknown().optional(),
        parameters: z.record(z.string(), z.unknown()).optional(),
      }),
    )
    .min(1),
  outputs: z.array(z.object({ name: z.string(), parameters: z.record(z.string(), z.unknown()).optional() })).optional(),
});
type InferRequest = z.infer<typeof InferRequest>;

/**
 * `POST /v2/models/{name}/infer` once the route has matched the model: the inference request parsed and
 * checked against the graph's inputs, run, and answered as the Open Inference Protocol specifies. With
 * `headerLength` (the request's `Inference-Header-Content-Length`) the body is a JSON header followed by binary
 * tensor data, and outputs asked for as binary data are answered after the JSON header the same way.
 * @throws AppError (v2Error) with the protocol's `{"error"}` message
 */
export async function scoreV2Infer(
  model: ScoringModel,
  body: Uint8Array,
  headerLength?: number,
): Promise<ScoredDocument> {
  const { header, binary } =
    headerLength === undefined ? { header: body, binary: new Uint8Array(0) } : splitInferenceBody(body, headerLength);
  const request = parseInferRequest(header);
  const raw = binaryInputSlices(request.inputs, binary);
  const feeds = toFeeds(request, model.io.inputs, raw);
  const wanted = request.outputs?.map((o) => o.name);
  const unknown = wanted?.filter((n) => !model.io.outputs.some((o) => o.name === n)) ?? [];
  if (unknown.length > 0) throw v2Error(400, `unknown output(s): ${unknown.join(', ')}`);
  const outputs = await model.run(feeds, wanted ?? model.io.outputs.map((o) => o.name));
  const binaryOut: Uint8Array[] = [];
  const doc = {
    model_name: model.name,
    ...(request.id === undefined ? {} : { id: request.id }),
    outputs: Object.entries(outputs).map(([name, t]) => {
      const described = { name, datatype: V2_TYPES[t.type as ElementType] ?? t.type.toUpperCase(), shape: t.dims };
      if (!wantsBinary(request, name)) return { ...described, data: jsonScalars(t) };
      const bytes = encodeBinaryTensor(t);
      binaryOut.push(bytes);
      return { ...described, parameters: { binary_data_size: bytes.byteLength } };
    }),
  };
  return binaryOut.length > 0 ? { doc, binary: binaryOut } : { doc };
}

/** An output's own `binary_data` parameter wins; else the request's `binary_data_output` (default false). */
function wantsBinary(request: InferRequest, output: string): boolean {
  const own = request.outputs?.find((o) => o.name === output)?.parameters?.['binary_data'];
  if (typeof own === 'boolean') return own;
  return request.parameters?.['binary_data_output'] === true;
}

function parseInferRequest(body: Uint8Array): InferRequest {
  let doc: unknown;
  try {
    // large tensors' `data` read from the bytes into typed arrays, the rest by JSON.parse (oip-v2-dense-data.ts)
    doc =
      (body.byteLength >= DENSE_DATA_MIN_BYTES ? parseWithDenseData(body) : null) ??
      JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    throw v2Error(400, 'request body is not valid JSON');
  }
  const parsed = InferRequest.safeParse(doc);
  if (!parsed.success) {
    throw v2Error(400, `invalid inference request: ${describeFirstIssue(parsed.error, 'body')}`);
  }
  return parsed.data;
}

function toFeeds(request: InferRequest, inputs: TensorMeta[], raw: (Uint8Array | null)[]): Record<string, WireTensor> {
  const feeds: Record<string, WireTensor> = {};
  for (const meta of inputs) {
    const at = request.inputs.findIndex((i) => i.name === meta.name);
    const given = request.inputs[at];
    if (!given) throw v2Error(400, `missing input ${meta.name}`);
    if (given.datatype !== V2_TYPES[meta.type])
      throw v2Error(400, `input ${meta.name} has datatype ${given.datatype}; the model expects ${V2_TYPES[meta.type]}`);
    const bytes = raw[at];
    if (!bytes && given.data === undefined)
      throw v2Error(400, `input ${meta.name} has neither data nor binary_data_size`);
    const data = bytes ? decodeBinaryTensor(bytes, meta.type, given.shape, meta.name) : flatTypedData(given.data, meta);
    checkInputShape(meta, given.shape, data.length);
    feeds[meta.name] = { type: meta.type, data, dims: given.shape };
  }
  const extra = request.inputs.filter((i) => !inputs.some((m) => m.name === i.name)).map((i) => i.name);
  if (extra.length > 0) throw v2Error(400, `unknown input(s): ${extra.join(', ')}`);
  return feeds;
}

/** Refuses an input whose value count does not fill its shape, or whose shape the model does not take. */
function checkInputShape(meta: TensorMeta, shape: number[], valueCount: number): void {
  const count = shape.reduce((a, b) => a * b, 1);
  if (valueCount !== count)
    throw v2Error(400, `input ${meta.name} has ${valueCount} values; shape ${formatShape(shape)} needs ${count}`);
  const fits = shape.length === meta.shape.length && meta.shape.every((d, i) => d === -1 || d === shape[i]);
  if (!fits)
    throw v2Error(
      400,
      `input ${meta.name} has shape ${formatShape(shape)}; the model expects ${formatShape(meta.shape)}`,
    );
}

/** The row-major values of `data` (flat or nested) as the input's typed array; plain floats take the fast path. */
function flatTypedData(data: unknown, meta: TensorMeta): WireTensor['data'] & { length: number } {
  if (data instanceof DenseArray) {
    // the doubles JSON.parse would have made (or, for an FP32 input only, their float32 roundings: putBack),
    // copied out of the reused buffer they were read into, into the input's type as the nested numbers would be
    if (meta.type === 'float64') return data.data.slice();
    if (meta.type === 'float32') return new Float32Array(data.data);
    return toTypedData(Array.from(data.data), meta.type, meta.name);
  }
  if (meta.type === 'float32' || meta.type === 'float64') {
    const fast = toFloatTensor(data, meta.type);
    if (fast) return fast.data;
  }
  return toTypedData(toNdArray(data).values, meta.type, meta.name);
}
