import { badRequest } from './scoring-error.js';

/** Deeper nesting is refused before it is walked (ONNX tensors have far fewer dimensions). */
const MAX_RANK = 32;

/** A JSON value flattened to row-major order with its shape. */
export interface NdArray {
  shape: number[];
  values: unknown[];
}

/**
 * Flattens nested JSON arrays (`[[1,2],[3,4]]`) to values + shape. A scalar has shape `[]`.
 * @throws BAD_REQUEST for ragged arrays
 */
export function toNdArray(value: unknown): NdArray {
  const shape: number[] = [];
  let probe = value;
  while (Array.isArray(probe)) {
    if (shape.length === MAX_RANK) throw badRequest(`Invalid input. Arrays nest deeper than ${MAX_RANK} levels`);
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0];
  }
  const values: unknown[] = [];
  collect(value, shape, 0, values);
  return { shape, values };
}

/**
 * The fast path of {@link toNdArray} for float tensors: walks nested arrays of plain numbers straight into a
 * Float32Array/Float64Array, with no intermediate list.
 * @returns null when a leaf is not a number or the array is ragged (the caller then takes the general path)
 */
export function toFloatTensor(
  value: unknown,
  type: 'float32' | 'float64',
): { shape: number[]; data: Float32Array | Float64Array } | null {
  const shape: number[] = [];
  let probe = value;
  while (Array.isArray(probe)) {
    if (shape.length === MAX_RANK) return null;
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0];
  }
  if (shape.length === 0) return null;
  // the first row only implies the shape: a ragged array whose first row is long would make us allocate for
  // rows that are not there (issue 14). Check every row's length first (not the leaves) when it would be large.
  if (elementCount(shape) > CHECK_ROWS_ABOVE && !isRectangular(value, shape, 0)) return null;
  const data =
    type === 'float32'
      ? new Float32Array(shape.reduce((a, b) => a * b, 1))
      : new Float64Array(shape.reduce((a, b) => a * b, 1));
  const last = shape.length - 1;
  let offset = 0;
  const fill = (node: unknown, depth: number): boolean => {
    if (!Array.isArray(node) || node.length !== shape[depth]) return false;
    if (depth === last) {
      offset = copyNumbers(node, data, offset);
      return offset >= 0;
    }
    for (let i = 0; i < node.length; i++) if (!fill(node[i], depth + 1)) return false;
    return true;
  };
  return fill(value, 0) ? { shape, data } : null;
}

/** Below this many elements the allocation is small enough to make before the walk finds a ragged row. */
const CHECK_ROWS_ABOVE = 65_536;

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** True when every array down to the last level has the length `shape` says (leaves are not visited). */
function isRectangular(node: unknown, shape: readonly number[], depth: number): boolean {
  if (!Array.isArray(node) || node.length !== shape[depth]) return false;
  if (depth === shape.length - 1) return true;
  for (let i = 0; i < node.length; i++) if (!isRectangular(node[i], shape, depth + 1)) return false;
  return true;
}

/**
 * Copies a row of plain numbers into `data` at `offset` (the hot loop of every float request: locals only,
 * no callbacks). @returns the offset after the row, or -1 at the first value that is not a number
 */
function copyNumbers(row: unknown[], data: Float32Array | Float64Array, offset: number): number {
  let at = offset;
  for (let i = 0; i < row.length; i++) {
    const v: unknown = row[i];
    if (typeof v !== 'number') return -1;
    data[at++] = v;
  }
  return at;
}

function collect(value: unknown, shape: number[], depth: number, out: unknown[]): void {
  if (depth === shape.length) {
    if (Array.isArray(value)) throw ragged();
    out.push(value);
    return;
  }
  if (!Array.isArray(value) || value.length !== shape[depth]) throw ragged();
  for (const item of value) collect(item, shape, depth + 1, out);
}

function ragged(): Error {
  return badRequest('Invalid input. The input is a ragged array: every row must have the same length');
}

/** `(1, 3)` — numpy's tuple notation, as MLflow prints shapes. */
export function formatShape(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** Nests row-major `values` back into arrays of `shape` (the inverse of {@link toNdArray}). */
export function nest<T>(values: ArrayLike<T>, shape: readonly number[]): unknown {
  if (shape.length === 0) return values[0];
  let offset = 0;
  const build = (depth: number): unknown[] => {
    const size = shape[depth]!;
    const out = new Array<unknown>(size);
    for (let i = 0; i < size; i++) {
      out[i] = depth === shape.length - 1 ? values[offset++] : build(depth + 1);
    }
    return out;
  };
  return build(0);
}
