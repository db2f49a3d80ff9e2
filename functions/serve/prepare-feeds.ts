import type { TensorSpec } from '../../shared/model/signature.js';
import type { ModelIo, TensorMeta, WireTensor } from './model-io.js';
import { formatShape, toNdArray, type NdArray } from './nd-array.js';
import type { FrameInput, ModelInput, TensorInput } from './parse-scoring-request.js';
import { badRequest, schemaMismatch } from './scoring-error.js';
import { toTypedData } from './typed-values.js';

/**
 * Turns a parsed request into onnxruntime feeds, enforcing the model's signature the way MLflow's pyfunc does:
 * inputs matched by name (or the single input), rank and fixed dimensions checked, values converted to the
 * graph's element types.
 * @throws BAD_REQUEST for input that cannot map to the model; INVALID_PARAMETER_VALUE for schema mismatches
 */
export function prepareFeeds(input: ModelInput, io: ModelIo): Record<string, WireTensor> {
  const arrays = input.kind === 'tensor' ? tensorArrays(input, io) : frameArrays(input, io);
  const feeds: Record<string, WireTensor> = {};
  for (const meta of io.inputs) {
    const array = arrays.get(meta.name);
    if (!array) throw schemaMismatch(`Model is missing inputs ['${meta.name}']. Note that there were extra inputs: [${[...arrays.keys()].filter((k) => !io.inputs.some((m) => m.name === k)).map((k) => `'${k}'`).join(', ')}]`);
    const shaped = fitRank(array, meta);
    // values convert before the shape is checked, as MLflow does: "x" is a BAD_REQUEST whatever its shape
    const data = toTypedData(shaped.values, meta.type, meta.name);
    checkShape(shaped, expectedShape(meta, io));
    feeds[meta.name] = { type: meta.type, data, dims: shaped.shape };
  }
  return feeds;
}

function tensorArrays(input: TensorInput, io: ModelIo): Map<string, NdArray> {
  const first = input.tensors[0];
  if (input.tensors.length === 1 && first && first.name === null) {
    if (io.inputs.length !== 1) {
      throw badRequest(
        `Unable to map numpy array input to the expected model input. Numpy arrays can only be used as input for MLflow ONNX models that have a single input. This model requires ${io.inputs.length} inputs. Please pass in data as either a dictionary or a DataFrame with the following tensors: [${io.inputs.map((i) => `'${i.name}'`).join(', ')}].`,
      );
    }
    return new Map([[io.inputs[0]!.name, toNdArray(first.value)]]);
  }
  if (hasUnnamedTensorSignature(io) && input.origin === 'instances') {
    throw schemaMismatch(
      'This model contains a tensor-based model signature with no input names, which suggests a numpy array input or a pandas dataframe input, but an input of type dict was found.',
    );
  }
  if (hasUnnamedTensorSignature(io)) {
    throw badRequest(
      "Invalid input. Failed to parse input data. This model contains an un-named model signature which expects a single n-dimensional array or a single value as input, however, an input of type <class 'dict'> was found.",
    );
  }
  return new Map(input.tensors.map((t) => [t.name ?? '', toNdArray(t.value)]));
}

function frameArrays(frame: FrameInput, io: ModelIo): Map<string, NdArray> {
  const columnSpecs = io.signature?.inputs?.kind === 'column' ? io.signature.inputs.specs : null;
  const ordered = columnSpecs ? selectColumns(frame, columnSpecs.map((c) => ({ name: c.name, required: c.required }))) : frame;
  if (io.inputs.length === 1 && !frameNamesInput(ordered, io)) {
    // the whole table is the model's one input: rows x columns
    const rows = ordered.rows;
    return new Map([[io.inputs[0]!.name, { shape: [rows.length, ordered.columns.length], values: rows.flat() }]]);
  }
  const byName = new Map<string, NdArray>();
  for (const meta of io.inputs) {
    const col = ordered.columns.indexOf(meta.name);
    if (col < 0) continue;
    const cells = ordered.rows.map((r) => r[col]);
    const stacked = toNdArray(cells);
    byName.set(meta.name, stacked);
  }
  return byName;
}

/** A frame with a column named like the single input feeds that column, not the whole table. */
function frameNamesInput(frame: FrameInput, io: ModelIo): boolean {
  return frame.columns.length === 1 && frame.columns[0] === io.inputs[0]!.name && io.inputs[0]!.shape.length !== 2;
}

/** Orders the frame's columns as the column signature lists them; missing required ones are refused. */
function selectColumns(frame: FrameInput, specs: { name: string | undefined; required: boolean }[]): FrameInput {
  const named = specs.filter((s): s is { name: string; required: boolean } => s.name !== undefined);
  if (named.length !== specs.length) return frame;
  const missing = named.filter((s) => s.required && !frame.columns.includes(s.name)).map((s) => `'${s.name}'`);
  if (missing.length > 0) throw schemaMismatch(`Model is missing inputs [${missing.join(', ')}].`);
  const present = named.filter((s) => frame.columns.includes(s.name));
  const indexes = present.map((s) => frame.columns.indexOf(s.name));
  return { kind: 'frame', columns: present.map((s) => s.name), rows: frame.rows.map((r) => indexes.map((i) => r[i])) };
}

function hasUnnamedTensorSignature(io: ModelIo): boolean {
  const inputs = io.signature?.inputs;
  return inputs?.kind === 'tensor' && inputs.specs.length === 1 && inputs.specs[0]!.name === undefined;
}

/** The shape to enforce: the signature's tensor spec when it has one for this input, else the graph's. */
function expectedShape(meta: TensorMeta, io: ModelIo): number[] {
  const inputs = io.signature?.inputs;
  if (inputs?.kind !== 'tensor') return meta.shape;
  const spec: TensorSpec | undefined =
    inputs.specs.length === 1 && inputs.specs[0]!.name === undefined ? inputs.specs[0] : inputs.specs.find((s) => s.name === meta.name);
  return spec ? spec.shape : meta.shape;
}

/** A column of scalars feeding an `[N, 1]` input becomes `[N, 1]` (pandas would pass `[N]` and fail). */
function fitRank(array: NdArray, meta: TensorMeta): NdArray {
  if (array.shape.length === meta.shape.length - 1 && meta.shape[meta.shape.length - 1] === 1) {
    return { shape: [...array.shape, 1], values: array.values };
  }
  return array;
}

function checkShape(array: NdArray, expected: number[]): void {
  const matches = array.shape.length === expected.length && expected.every((d, i) => d === -1 || d === array.shape[i]);
  if (!matches) {
    throw schemaMismatch(`Shape of input ${formatShape(array.shape)} does not match expected shape ${formatShape(expected)}.`);
  }
}
