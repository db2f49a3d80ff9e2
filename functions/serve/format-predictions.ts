import type { WireTensor } from './model-io.js';
import { nest } from './nd-array.js';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * JSON-ready values of an output tensor, nested to its shape.
 *
 * int64/uint64 policy: a value within ±(2^53 − 1) becomes a JSON number (exact); a larger one becomes a
 * decimal string, so no precision is lost silently and serialising never throws on BigInt.
 * NaN and ±Infinity, which JSON cannot carry, become `null` (MLflow writes bare `NaN`, which JSON parsers reject).
 */
function tensorToJson(tensor: WireTensor): unknown {
  return nest(jsonScalars(tensor), tensor.dims);
}

/** The flat, row-major JSON scalars of a tensor (Open Inference Protocol v2 sends them flat). */
export function jsonScalars(tensor: WireTensor): unknown[] {
  const data = tensor.data;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    return Array.from(data, (v: bigint) => (v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v.toString()));
  }
  if (data instanceof Float32Array || data instanceof Float64Array) {
    return Array.from(data, (v) => (Number.isFinite(v) ? v : null));
  }
  if (Array.isArray(data)) return data;
  if (tensor.type === 'bool') return Array.from(data as Uint8Array, Boolean);
  return Array.from(data as unknown as ArrayLike<number>);
}

/** `{"predictions": {output: values}}`: MLflow's answer to tensor input (and to any input of a tensor signature). */
export function predictionsByOutput(outputs: Record<string, WireTensor>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, tensor] of Object.entries(outputs)) out[name] = tensorToJson(tensor);
  return out;
}

/**
 * `[{output: value, ...}, ...]`: one record per row, MLflow's answer to DataFrame input. Each output's first
 * dimension is the row; a row's value is a scalar or the nested rest of the tensor.
 */
export function predictionsByRow(outputs: Record<string, WireTensor>): Record<string, unknown>[] {
  const columns = Object.entries(outputs).map(([name, t]) => [name, rowsOf(t)] as const);
  const count = Math.max(0, ...columns.map(([, rows]) => rows.length));
  return Array.from({ length: count }, (_v, i) =>
    Object.fromEntries(columns.map(([name, rows]) => [name, rows[i] ?? null])),
  );
}

function rowsOf(tensor: WireTensor): unknown[] {
  if (tensor.dims.length === 0) return [tensorToJson(tensor)];
  const nested = tensorToJson(tensor) as unknown[];
  // a [N, 1] output reads as one scalar per row, as pandas flattens it
  return tensor.dims.length === 2 && tensor.dims[1] === 1 ? nested.map((r) => (r as unknown[])[0]) : nested;
}
