// An ONNX model whose weights sit inside model.onnx (raw_data of the graph's initializers) costs onnxruntime a
// parse of the whole protobuf message and a copy of every initializer out of it: at 1 GiB, ~2.7 s of CPU and 2 GiB
// of memory per inference thread (BENCHMARKS.md section 7). The same weights as ONNX external data are
// memory-mapped by onnxruntime on the CPU (include/onnxruntime/core/graph/model_saving_options.h), shared by every
// thread and read only where used. So the header built here is the model with each large initializer's raw_data
// replaced by an external-data reference to its own bytes inside model.onnx (location, offset, length): nothing is
// copied or written, and onnxruntime loads the header from memory with the model's folder as
// `session.model_external_initializers_file_folder_path`.
//
// Hand-written because it must skip the weights without reading them: a protobuf library decodes from a buffer
// holding the whole message, i.e. the 1 GiB read this avoids. The walk reads tags and lengths only
// (https://protobuf.dev/programming-guides/encoding/), and refuses a message whose lengths run past its end (a
// truncated or half-written file), so onnxruntime is never pointed at bytes that are not there.
import { closeSync, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';

/** The model as a header onnxruntime reads from memory, its large weights mapped from the model file. */
export interface MappedOnnxModel {
  /** the ModelProto, each large embedded initializer replaced by an external-data reference into the model file */
  header: Uint8Array;
  /** where the references resolve: the model file's real folder (a Hugging Face snapshot links into blobs/) */
  folder: string;
  /** initializers mapped, and their bytes */
  tensors: number;
  bytes: number;
}

/** Initializers smaller than this stay inside the header (a page: mapping less saves nothing). */
const MIN_MAPPED_BYTES = 4096;

// ONNX field numbers (onnx/onnx.proto3)
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_DATA_TYPE = 2;
const TENSOR_SEGMENT = 3;
const TENSOR_RAW_DATA = 9;
const TENSOR_EXTERNAL_DATA = 13;
const TENSOR_DATA_LOCATION = 14;
const DATA_TYPE_STRING = 8;
const DATA_LOCATION_EXTERNAL = 1;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/**
 * Builds the header of the ONNX model at `onnxPath` whose embedded initializers of `minBytes` or more onnxruntime
 * will memory-map from the file itself.
 * @returns null when there is nothing to map (small weights, or the model already keeps them as external data)
 * @throws Error when the file is not a well-formed protobuf message (truncated, half-written): load it as it is
 */
export function mapOnnxWeights(onnxPath: string, options: { minBytes?: number } = {}): MappedOnnxModel | null {
  const file = realpathSync(onnxPath);
  const fd = openSync(file, 'r');
  try {
    const reader = new FileReader(fd, fstatSync(fd).size);
    const mapping: Mapping = { location: path.basename(file), minBytes: options.minBytes ?? MIN_MAPPED_BYTES };
    if (!hasMappableTensor(reader, mapping)) return null;
    const result = rewriteModel(reader, mapping);
    if (result === null || result.tensors === 0) return null;
    return { header: result.bytes, folder: path.dirname(file), tensors: result.tensors, bytes: result.mappedBytes };
  } finally {
    closeSync(fd);
  }
}

/**
 * Where onnxruntime resolves the external data of a model it loads from memory (it has no path to go by): the
 * session options of a mapped header (the main thread's settings and an inference thread's early session alike).
 */
export function withWeightsFolder(
  options: InferenceSession.SessionOptions,
  folder: string,
): InferenceSession.SessionOptions {
  const session = { ...(options.extra?.session as Record<string, string> | undefined) };
  session.model_external_initializers_file_folder_path = folder;
  return { ...options, extra: { ...options.extra, session } };
}

interface Mapping {
  location: string;
  minBytes: number;
}

interface Rewritten {
  bytes: Uint8Array;
  tensors: number;
  mappedBytes: number;
}

interface Field {
  number: number;
  wire: number;
  /** where the field's tag starts, where its payload starts (after a LEN's length) and where it ends */
  start: number;
  payload: number;
  end: number;
}

/**
 * Whether rewriteModel would map an initializer, by a walk of tags and lengths alone: a model without large
 * raw_data (small, or weights in float_data) costs no copy of itself at start-up (a 3 MB model: 12 ms less).
 * @throws Error as rewriteModel does on a file that is not a whole ONNX model
 */
function hasMappableTensor(reader: FileReader, mapping: Mapping): boolean {
  let graphs = 0;
  for (const field of reader.fields(0, reader.size)) {
    if (field.number !== MODEL_GRAPH || field.wire !== WIRE_LEN) continue;
    graphs += 1;
    for (const init of reader.fields(field.payload, field.end)) {
      if (init.number !== GRAPH_INITIALIZER || init.wire !== WIRE_LEN) continue;
      const tensor = readTensor(reader, init);
      if (tensor.external) return false;
      if (isMappable(tensor, mapping)) return true;
    }
  }
  if (graphs === 0) throw new Error('not an ONNX model: no graph');
  return false;
}

/** ModelProto: every field copied but the graph, whose initializers are rewritten. */
function rewriteModel(reader: FileReader, mapping: Mapping): Rewritten | null {
  const parts: Uint8Array[] = [];
  let graph: Rewritten | null = null;
  for (const field of reader.fields(0, reader.size)) {
    if (field.number !== MODEL_GRAPH || field.wire !== WIRE_LEN) {
      parts.push(reader.bytes(field.start, field.end));
      continue;
    }
    graph = rewriteGraph(reader, field, mapping);
    if (graph === null) return null;
    parts.push(lenField(MODEL_GRAPH, graph.bytes));
  }
  if (graph === null) throw new Error('not an ONNX model: no graph');
  return { bytes: Buffer.concat(parts), tensors: graph.tensors, mappedBytes: graph.mappedBytes };
}

/** GraphProto: its initializers rewritten, every other field (nodes, inputs, subgraphs) copied as it is. */
function rewriteGraph(reader: FileReader, graph: Field, mapping: Mapping): Rewritten | null {
  const parts: Uint8Array[] = [];
  let tensors = 0;
  let mappedBytes = 0;
  for (const field of reader.fields(graph.payload, graph.end)) {
    if (field.number !== GRAPH_INITIALIZER || field.wire !== WIRE_LEN) {
      parts.push(reader.bytes(field.start, field.end));
      continue;
    }
    const tensor = rewriteTensor(reader, field, mapping);
    if (tensor === 'external') return null;
    parts.push(lenField(GRAPH_INITIALIZER, tensor.bytes));
    tensors += tensor.tensors;
    mappedBytes += tensor.mappedBytes;
  }
  return { bytes: Buffer.concat(parts), tensors, mappedBytes };
}

/** A TensorProto's fields as the rewrite needs them: raw_data aside, the others kept as they are. */
interface TensorFields {
  kept: Field[];
  raw: Field | null;
  dataType: number;
  /** segment (a tensor split over protos) or external data: left as it is */
  segmented: boolean;
  external: boolean;
}

function readTensor(reader: FileReader, tensor: Field): TensorFields {
  const out: TensorFields = { kept: [], raw: null, dataType: 0, segmented: false, external: false };
  for (const field of reader.fields(tensor.payload, tensor.end)) {
    if (field.number === TENSOR_EXTERNAL_DATA || field.number === TENSOR_DATA_LOCATION) out.external = true;
    if (field.number === TENSOR_SEGMENT) out.segmented = true;
    if (field.number === TENSOR_DATA_TYPE && field.wire === WIRE_VARINT) out.dataType = reader.varintAt(field.payload);
    if (field.number === TENSOR_RAW_DATA && field.wire === WIRE_LEN) out.raw = field;
    else out.kept.push(field);
  }
  return out;
}

function isMappable(tensor: TensorFields, mapping: Mapping): boolean {
  const { raw, segmented, dataType } = tensor;
  return raw !== null && raw.end - raw.payload >= mapping.minBytes && !segmented && dataType !== DATA_TYPE_STRING;
}

/**
 * TensorProto: raw_data of `minBytes` or more becomes external data at its own offset in the file.
 * @returns 'external' when the model already uses external data: its references resolve against the model's
 * own folder, which a header loaded from memory would change, so such a model is loaded as it is
 */
function rewriteTensor(reader: FileReader, tensor: Field, mapping: Mapping): Rewritten | 'external' {
  const fields = readTensor(reader, tensor);
  if (fields.external) return 'external';
  const { raw } = fields;
  if (raw === null || !isMappable(fields, mapping)) {
    return { bytes: reader.bytes(tensor.payload, tensor.end), tensors: 0, mappedBytes: 0 };
  }
  const length = raw.end - raw.payload;
  const kept = fields.kept.map((f) => reader.bytes(f.start, f.end));
  kept.push(
    lenField(TENSOR_EXTERNAL_DATA, entry('location', mapping.location)),
    lenField(TENSOR_EXTERNAL_DATA, entry('offset', String(raw.payload))),
    lenField(TENSOR_EXTERNAL_DATA, entry('length', String(length))),
    Buffer.concat([varint(TENSOR_DATA_LOCATION * 8 + WIRE_VARINT), varint(DATA_LOCATION_EXTERNAL)]),
  );
  return { bytes: Buffer.concat(kept), tensors: 1, mappedBytes: length };
}

/** A StringStringEntryProto (key = 1, value = 2). */
function entry(key: string, value: string): Uint8Array {
  return Buffer.concat([lenField(1, Buffer.from(key)), lenField(2, Buffer.from(value))]);
}

function lenField(number: number, payload: Uint8Array): Uint8Array {
  return Buffer.concat([varint(number * 8 + WIRE_LEN), varint(payload.length), payload]);
}

function varint(value: number): Uint8Array {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}

/** Positional reads of a file through a small window: a model's structure is many small fields in a row. */
class FileReader {
  private window = Buffer.alloc(0);
  private windowStart = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  /** The fields of the message in [start, end); throws when one runs past `end`. */
  *fields(start: number, end: number): Generator<Field> {
    let pos = start;
    while (pos < end) {
      const { value: tag, next } = this.readVarint(pos, end);
      const field = this.fieldAt(pos, next, tag, end);
      if (field.end > end)
        throw new Error(`truncated or malformed ONNX model: a field at byte ${pos} ends past ${end}`);
      yield field;
      pos = field.end;
    }
  }

  varintAt(pos: number): number {
    return this.readVarint(pos, this.size).value;
  }

  /** A copy of [start, end) (only small fields: the large raw_data is never read). */
  bytes(start: number, end: number): Uint8Array {
    const out = Buffer.alloc(end - start);
    let done = 0;
    while (done < out.length) {
      const n = readSync(this.fd, out, done, out.length - done, start + done);
      if (n === 0) throw new Error(`truncated ONNX model: byte ${start + done} is past its end`);
      done += n;
    }
    return out;
  }

  private fieldAt(start: number, afterTag: number, tag: number, end: number): Field {
    const number = Math.floor(tag / 8);
    const wire = tag % 8;
    if (number === 0) throw new Error(`malformed ONNX model: field number 0 at byte ${start}`);
    if (wire === WIRE_VARINT)
      return { number, wire, start, payload: afterTag, end: this.readVarint(afterTag, end).next };
    if (wire === WIRE_I64) return { number, wire, start, payload: afterTag, end: afterTag + 8 };
    if (wire === WIRE_I32) return { number, wire, start, payload: afterTag, end: afterTag + 4 };
    if (wire === WIRE_LEN) {
      const { value: length, next } = this.readVarint(afterTag, end);
      return { number, wire, start, payload: next, end: next + length };
    }
    throw new Error(`malformed ONNX model: wire type ${wire} at byte ${start}`);
  }

  private readVarint(pos: number, end: number): { value: number; next: number } {
    let value = 0;
    let scale = 1;
    for (let at = pos; at < end && at < pos + 10; at++) {
      const byte = this.byteAt(at);
      value += (byte & 0x7f) * scale;
      scale *= 0x80;
      if ((byte & 0x80) === 0) return { value, next: at + 1 };
    }
    throw new Error(`truncated or malformed ONNX model: varint at byte ${pos}`);
  }

  private byteAt(pos: number): number {
    if (pos < this.windowStart || pos >= this.windowStart + this.window.length) {
      if (pos >= this.size) throw new Error(`truncated ONNX model: byte ${pos} is past its end`);
      this.window = Buffer.from(this.bytes(pos, Math.min(this.size, pos + 65536)));
      this.windowStart = pos;
    }
    return this.window[pos - this.windowStart]!;
  }
}
