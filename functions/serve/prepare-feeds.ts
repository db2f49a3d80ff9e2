import type { TensorSpec } from '../../shared/model/signature.js';
import type { ModelIo, TensorMeta, WireTensor } from './model-io.js';
import { formatShape, toFloatTensor, toNdArray } from './nd-array.js';
import { DenseArray } from './parse-dense-json.js';
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
    if (!arrays.has(meta.name))
      throw schemaMismatch(
        `Model is missing inputs ['${meta.name}']. Note that there were extra inputs: [${[...arrays.keys()]
          .filter((k) => !io.inputs.some((m) => m.name === k))
          .map((k) => `'${k}'`)
          .join(', ')}]`,
      );
    // values convert before the shape is checked, as MLflow does: "x" is a BAD_REQUEST whatever its shape
    const tensor = toTensor(arrays.get(meta.name), meta);
    const dims = fitRank(tensor.shape, meta);
    checkShape(dims, expectedShape(meta, io));
    feeds[meta.name] = { type: meta.type, data: tensor.data, dims };
  }
  return feeds;
}

const TYPED_FLOATS: Partial<Record<TensorMeta['type'], unknown>> = { float32: Float32Array, float64: Float64Array };

/**
 * Nested JSON values → typed data. Plain numbers for a float input (the common case) go straight into the
 * typed array in one walk; anything else takes the general conversion, which also words the errors.
 */
function toTensor(value: unknown, meta: TensorMeta): { shape: number[]; data: WireTensor['data'] } {
  // read from the body's bytes into the input's own typed array already (parse-dense-json.ts)
  if (value instanceof DenseArray && value.data.constructor === TYPED_FLOATS[meta.type]) return value;
  if (meta.type === 'float32' || meta.type === 'float64') {
    const fast = toFloatTensor(value, meta.type);
    if (fast) return fast;
  }
  const array = toNdArray(value);
  return { shape: array.shape, data: toTypedData(array.values, meta.type, meta.name) };
}

function tensorArrays(input: TensorInput, io: ModelIo): Map<string, unknown> {
  const first = input.tensors[0];
  if (input.tensors.length === 1 && first && first.name === null) {
    if (io.inputs.length !== 1) {
      throw badRequest(
        `Unable to map numpy array input to the expected model input. Numpy arrays can only be used as input for MLflow ONNX models that have a single input. This model requires ${io.inputs.length} inputs. Please pass in data as either a dictionary or a DataFrame with the following tensors: [${io.inputs.map((i) => `'${i.name}'`).join(', ')}].`,
      );
    }
    return new Map([[io.inputs[0]!.name, first.value]]);
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
  return new Map(input.tensors.map((t) => [t.name ?? '', t.value]));
}

function frameArrays(frame: FrameInput, io: ModelIo): Map<string, unknown> {
  const columnSpecs = io.signature?.inputs?.kind === 'column' ? io.signature.inputs.specs : null;
  const ordered = columnSpecs
    ? selectColumns(
        frame,
        columnSpecs.map((c) => ({ name: c.name, required: c.required })),
      )
    : frame;
  if (io.inputs.length === 1 && !frameNamesInput(ordered, io)) {
    // the whole table is the model's one input: rows x columns
    return new Map([[io.inputs[0]!.name, ordered.rows]]);
  }
  const byName = new Map<string, unknown>();
  for (const meta of io.inputs) {
    const col = ordered.columns.indexOf(meta.name);
    if (col < 0) continue;
    byName.set(
      meta.name,
      ordered.rows.map((r) => r[col]),
    );
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
    inputs.specs.length === 1 && inputs.specs[0]!.name === undefined
      ? inputs.specs[0]
      : inputs.specs.find((s) => s.name === meta.name);
  return spec ? spec.shape : meta.shape;
}

/** A column of scalars feeding an `[N, 1]` input becomes `[N, 1]` (pandas would pass `[N]` and fail). */
function fitRank(shape: number[], meta: TensorMeta): number[] {
  if (shape.length === meta.shape.length - 1 && meta.shape[meta.shape.length - 1] === 1) return [...shape, 1];
  return shape;
}

function checkShape(shape: number[], expected: number[]): void {
  const matches = shape.length === expected.length && expected.every((d, i) => d === -1 || d === shape[i]);
  if (!matches) {
    throw schemaMismatch(
      `Shape of input ${formatShape(shape)} does not match expected shape ${formatShape(expected)}.`,
    );
  }
}
