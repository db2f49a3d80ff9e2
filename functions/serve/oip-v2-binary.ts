// The Open Inference Protocol's binary tensor data extension, as Triton defines it and tritonclient / KServe's
// client send it: the body is a JSON inference header of `Inference-Header-Content-Length` bytes followed by
// the raw tensors, each input's bytes in the order the header lists them (`parameters.binary_data_size`), and
// outputs come back the same way when asked for (`binary_data`, `binary_data_output`). Raw data is row-major and
// little-endian; BOOL is one byte per element; BYTES is each element as a 4-byte little-endian length + bytes.
// https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_binary_data.md
import type { WireTensor } from './model-io.js';
import { v2Error } from './oip-v2-types.js';
import type { ElementType } from './typed-values.js';

/** Bytes per element of each fixed-size element type. */
const ELEMENT_BYTES: Partial<Record<ElementType, number>> = {
  bool: 1,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  float32: 4,
  int64: 8,
  uint64: 8,
  float64: 8,
};

type TypedCtor = new (buffer: ArrayBuffer, byteOffset?: number, length?: number) => ArrayBufferView;
const VIEWS: Partial<Record<ElementType, TypedCtor>> = {
  bool: Uint8Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float64: Float64Array,
};

/**
 * Splits a body at `Inference-Header-Content-Length`.
 * @throws AppError 400 when the header is not a length within the body
 */
export function splitInferenceBody(body: Uint8Array, headerLength: number): { header: Uint8Array; binary: Uint8Array } {
  if (!Number.isSafeInteger(headerLength) || headerLength < 0 || headerLength > body.byteLength) {
    throw v2Error(
      400,
      `Inference-Header-Content-Length ${headerLength} does not fit the ${body.byteLength}-byte request body`,
    );
  }
  return { header: body.subarray(0, headerLength), binary: body.subarray(headerLength) };
}

/**
 * The binary section cut into each input's bytes, by the `binary_data_size` the header gives each input (null
 * for an input sent as JSON `data`).
 * @throws AppError 400 for sizes that are not byte counts, an input with both, or sizes that do not add up to
 * the binary section exactly
 */
export function binaryInputSlices(
  inputs: { name: string; data?: unknown; parameters?: Record<string, unknown> | undefined }[],
  binary: Uint8Array,
): (Uint8Array | null)[] {
  let offset = 0;
  const slices = inputs.map((input) => {
    const size = input.parameters?.['binary_data_size'];
    if (size === undefined) return null;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
      throw v2Error(400, `input ${input.name}: binary_data_size must be a byte count, got ${JSON.stringify(size)}`);
    if (input.data !== undefined) throw v2Error(400, `input ${input.name} has both data and binary_data_size`);
    if (offset + size > binary.byteLength)
      throw v2Error(
        400,
        `input ${input.name}: binary_data_size ${size} runs past the end of the ${binary.byteLength} bytes of binary data`,
      );
    const slice = binary.subarray(offset, offset + size);
    offset += size;
    return slice;
  });
  if (offset !== binary.byteLength)
    throw v2Error(
      400,
      `the request carries ${binary.byteLength} bytes of binary data but its inputs' binary_data_size add up to ${offset}`,
    );
  return slices;
}

/**
 * One input's raw bytes as the typed data of `type`: a view of them where they start at a multiple of the element
 * size (gRPC requests, whose header ModelInfer pads to 8 bytes; the body's buffer is the inference thread's own,
 * moved to it), else copied into an aligned buffer of their own (typed arrays cannot start mid-element).
 * @throws AppError 400 when the byte count does not match the shape
 */
export function decodeBinaryTensor(
  bytes: Uint8Array,
  type: ElementType,
  shape: number[],
  name: string,
): WireTensor['data'] & { length: number } {
  const count = shape.reduce((a, b) => a * b, 1);
  if (type === 'string') return decodeBytesElements(bytes, count, name);
  const size = ELEMENT_BYTES[type]!;
  if (bytes.byteLength !== count * size)
    throw v2Error(
      400,
      `input ${name}: binary_data_size is ${bytes.byteLength} bytes; shape [${shape.join(', ')}] of ${type} needs ${count * size}`,
    );
  const data = (
    bytes.byteOffset % size === 0
      ? new VIEWS[type]!(bytes.buffer as ArrayBuffer, bytes.byteOffset, count)
      : new VIEWS[type]!(bytes.slice().buffer, 0, count)
  ) as ArrayBufferView & { length: number };
  if (type === 'bool' && (data as Uint8Array).some((v) => v > 1))
    throw v2Error(400, `input ${name}: BOOL elements must be the bytes 0 or 1`);
  return data;
}

function decodeBytesElements(bytes: Uint8Array, count: number, name: string): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const out: string[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    if (offset + 4 > bytes.byteLength) throw v2Error(400, `input ${name}: BYTES element length cut short`);
    const length = view.getUint32(offset, true);
    offset += 4;
    if (offset + length > bytes.byteLength)
      throw v2Error(400, `input ${name}: a BYTES element of ${length} bytes runs past the input's binary data`);
    try {
      out.push(decoder.decode(bytes.subarray(offset, offset + length)));
    } catch (cause) {
      throw v2Error(400, `input ${name}: a BYTES element is not UTF-8 (${(cause as Error).message})`);
    }
    offset += length;
  }
  if (out.length !== count)
    throw v2Error(400, `input ${name} has ${out.length} BYTES elements; its shape needs ${count}`);
  return out;
}

/** An output tensor's raw bytes (little-endian; BYTES length-prefixed). */
export function encodeBinaryTensor(tensor: WireTensor): Uint8Array {
  const data = tensor.data;
  if (Array.isArray(data)) {
    const encoder = new TextEncoder();
    const parts = data.map((s) => encoder.encode(s));
    const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.byteLength, 0));
    const view = new DataView(out.buffer);
    let offset = 0;
    for (const p of parts) {
      view.setUint32(offset, p.byteLength, true);
      out.set(p, offset + 4);
      offset += 4 + p.byteLength;
    }
    return out;
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
