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
  const header = Buffer.from(
    JSON.stringify({
      ...(request.id ? { id: request.id } : {}),
      parameters: { ...plainParameters(request.parameters), binary_data_output: true },
      inputs,
      ...(request.outputs.length > 0
        ? { outputs: request.outputs.map((o) => ({ name: o.name, parameters: { binary_data: true } })) }
        : {}),
    }),
  );
  return { body: Buffer.concat([header, ...parts]), headerLength: header.byteLength };
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

/** Typed contents as the raw little-endian bytes the binary extension carries (BYTES length-prefixed). */
function packContents(datatype: string, contents: InferTensorContents, name: string): Uint8Array {
  const bytes = (view: ArrayBufferView) => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  switch (datatype) {
    case 'FP32':
      return bytes(Float32Array.from(contents.fp32_contents ?? []));
    case 'FP64':
      return bytes(Float64Array.from(contents.fp64_contents ?? []));
    case 'INT8':
      return bytes(Int8Array.from(contents.int_contents ?? []));
    case 'INT16':
      return bytes(Int16Array.from(contents.int_contents ?? []));
    case 'INT32':
      return bytes(Int32Array.from(contents.int_contents ?? []));
    case 'UINT8':
      return bytes(Uint8Array.from(contents.uint_contents ?? []));
    case 'UINT16':
      return bytes(Uint16Array.from(contents.uint_contents ?? []));
    case 'UINT32':
      return bytes(Uint32Array.from(contents.uint_contents ?? []));
    case 'INT64':
      return bytes(BigInt64Array.from(contents.int64_contents ?? [], (v) => BigInt(v)));
    case 'UINT64':
      return bytes(BigUint64Array.from(contents.uint64_contents ?? [], (v) => BigInt(v)));
    case 'BOOL':
      return Uint8Array.from(contents.bool_contents ?? [], (v) => (v ? 1 : 0));
    case 'BYTES':
      return lengthPrefixed(contents.bytes_contents ?? []);
    default:
      throw v2Error(400, `input ${name} has datatype ${datatype}, which modelctl serve does not take`);
  }
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
