// ModelInfer over gRPC in terms of the HTTP binary extension: the request's tensors become the same JSON header +
// raw bytes that `/v2/models/{name}/infer` reads with Inference-Header-Content-Length (raw_input_contents are
// exactly those bytes), so gRPC requests take the same queue, batching and checks in the inference threads; the
// answer's JSON header and raw outputs become the response message.
import { v2Error } from '../oip-v2-types.js';

/** InferParameter as @grpc/proto-loader decodes it (oneofs: the set field's name in `parameter_choice`). */
export interface InferParameter {
  parameter_choice?: string;
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
  double_param?: number;
  uint64_param?: string;
}
interface InferTensorContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: string[];
  uint_contents?: number[];
  uint64_contents?: string[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Buffer[];
}
export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters?: Record<string, InferParameter>;
  inputs: {
    name: string;
    datatype: string;
    shape: string[];
    parameters?: Record<string, InferParameter>;
    contents?: InferTensorContents | null;
  }[];
  outputs: { name: string; parameters?: Record<string, InferParameter> }[];
  raw_input_contents: Buffer[];
}
export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: { name: string; datatype: string; shape: number[] }[];
  raw_output_contents: Uint8Array[];
}

/**
 * The binary-extension body for a ModelInfer request: every input as raw bytes (raw_input_contents as sent, typed
 * contents packed), every output asked for as binary data.
 * @throws AppError 400 for a request the protocol refuses (raw and typed contents mixed, counts that differ)
 */
export function inferRequestBody(request: ModelInferRequest): { body: Uint8Array; headerLength: number } {
  const raw = request.raw_input_contents;
  if (raw.length > 0 && raw.length !== request.inputs.length)
    throw v2Error(400, `raw_input_contents has ${raw.length} entries for ${request.inputs.length} inputs`);
  const parts: Uint8Array[] = [];
  const inputs = request.inputs.map((input, i) => {
    const hasContents = input.contents && Object.values(input.contents).some((v) => Array.isArray(v) && v.length > 0);
    if (raw.length > 0 && hasContents)
      throw v2Error(400, `input ${input.name} has contents while the request sends raw_input_contents`);
    const bytes = raw.length > 0 ? raw[i]! : packContents(input.datatype, input.contents ?? {}, input.name);
    parts.push(bytes);
    return {
      name: input.name,
      datatype: input.datatype,
      shape: input.shape.map(Number),
      parameters: { ...plainParameters(input.parameters), binary_data_size: bytes.byteLength },
    };
  });
  const header = alignedJson({
    ...(request.id ? { id: request.id } : {}),
    parameters: { ...plainParameters(request.parameters), binary_data_output: true },
    inputs,
    ...(request.outputs.length > 0
      ? { outputs: request.outputs.map((o) => ({ name: o.name, parameters: { binary_data: true } })) }
      : {}),
  });
  return { body: Buffer.concat([header, ...parts]), headerLength: header.byteLength };
}

/**
 * `doc` as JSON bytes padded with spaces (JSON's own whitespace) to a multiple of 8, so the raw tensors after it
 * start aligned and the inference thread reads them in place (decodeBinaryTensor) instead of copying them.
 */
function alignedJson(doc: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(doc));
  const padded = Buffer.alloc(Math.ceil(json.byteLength / 8) * 8, ' ');
  json.copy(padded);
  return padded;
}

/**
 * The ModelInferResponse for an answer of the inference thread (a JSON header whose outputs carry
 * `binary_data_size`, then their bytes).
 */
export function inferResponseMessage(
  answer: { body: Uint8Array; headerLength?: number },
  modelVersion: string,
): ModelInferResponse {
  const length = answer.headerLength ?? answer.body.byteLength;
  const header = JSON.parse(Buffer.from(answer.body.buffer, answer.body.byteOffset, length).toString('utf8')) as {
    model_name: string;
    id?: string;
    outputs: { name: string; datatype: string; shape: number[]; parameters?: { binary_data_size?: number } }[];
  };
  let offset = length;
  const raw: Uint8Array[] = [];
  for (const o of header.outputs) {
    const size = o.parameters?.binary_data_size ?? 0;
    raw.push(answer.body.subarray(offset, offset + size));
    offset += size;
  }
  return {
    model_name: header.model_name,
    model_version: modelVersion,
    id: header.id ?? '',
    outputs: header.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape })),
    raw_output_contents: raw,
  };
}

function plainParameters(parameters: Record<string, InferParameter> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, p] of Object.entries(parameters ?? {})) {
    const choice = p.parameter_choice as keyof InferParameter | undefined;
    if (!choice) continue;
    const value = p[choice];
    out[key] = choice === 'int64_param' || choice === 'uint64_param' ? Number(value) : value;
  }
  return out;
}

const asBytes = (view: ArrayBufferView): Uint8Array => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);

/** Each datatype's typed contents as the raw little-endian bytes the binary extension carries (BYTES length-prefixed). */
const CONTENTS_PACKERS = new Map<string, (contents: InferTensorContents) => Uint8Array>([
  ['FP32', (c) => asBytes(Float32Array.from(c.fp32_contents ?? []))],
  ['FP64', (c) => asBytes(Float64Array.from(c.fp64_contents ?? []))],
  ['INT8', (c) => asBytes(Int8Array.from(c.int_contents ?? []))],
  ['INT16', (c) => asBytes(Int16Array.from(c.int_contents ?? []))],
  ['INT32', (c) => asBytes(Int32Array.from(c.int_contents ?? []))],
  ['UINT8', (c) => asBytes(Uint8Array.from(c.uint_contents ?? []))],
  ['UINT16', (c) => asBytes(Uint16Array.from(c.uint_contents ?? []))],
  ['UINT32', (c) => asBytes(Uint32Array.from(c.uint_contents ?? []))],
  ['INT64', (c) => asBytes(BigInt64Array.from(c.int64_contents ?? [], (v) => BigInt(v)))],
  ['UINT64', (c) => asBytes(BigUint64Array.from(c.uint64_contents ?? [], (v) => BigInt(v)))],
  ['BOOL', (c) => Uint8Array.from(c.bool_contents ?? [], (v) => (v ? 1 : 0))],
  ['BYTES', (c) => lengthPrefixed(c.bytes_contents ?? [])],
]);

/** Typed contents as the raw little-endian bytes the binary extension carries (BYTES length-prefixed). */
function packContents(datatype: string, contents: InferTensorContents, name: string): Uint8Array {
  const pack = CONTENTS_PACKERS.get(datatype);
  if (!pack) throw v2Error(400, `input ${name} has datatype ${datatype}, which modelctl serve does not take`);
  return pack(contents);
}

function lengthPrefixed(elements: Uint8Array[]): Uint8Array {
  const out = Buffer.alloc(elements.reduce((n, e) => n + 4 + e.byteLength, 0));
  let offset = 0;
  for (const e of elements) {
    out.writeUInt32LE(e.byteLength, offset);
    out.set(e, offset + 4);
    offset += 4 + e.byteLength;
  }
  return out;
}
