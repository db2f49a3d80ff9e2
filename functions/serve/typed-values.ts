import { parsePythonFloat } from './parse-python-float.js';
import { badRequest, schemaMismatch } from './scoring-error.js';

/** onnxruntime tensor element types modelctl serve converts JSON values to. */
const ELEMENT_TYPES = [
  'float32',
  'float64',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'bool',
  'string',
] as const;
export type ElementType = (typeof ELEMENT_TYPES)[number];

type TypedData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

const INTEGER_RANGES: Record<string, [number, number]> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
};

/** True for element types modelctl can build from JSON. */
export function isSupportedElementType(type: string): type is ElementType {
  return (ELEMENT_TYPES as readonly string[]).includes(type);
}

/**
 * Converts JSON scalars to the typed array of `type`, the way numpy's `np.array(values, dtype)` does for
 * valid input: numbers, booleans (1/0), numeric strings as Python's float() reads them (CSV), null → NaN for
 * floats. What numpy would silently mangle (1.5 into an int, 300 into a uint8) is refused instead.
 * @throws BAD_REQUEST for values that are not numbers; INVALID_PARAMETER_VALUE for values out of the type's range
 */
export function toTypedData(values: readonly unknown[], type: ElementType, input: string): TypedData | string[] {
  if (type === 'string') return values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
  if (type === 'bool') return Uint8Array.from(values, (v) => (toNumber(v, type) !== 0 ? 1 : 0));
  if (type === 'float32') return Float32Array.from(values, (v) => toNumber(v, type));
  if (type === 'float64') return Float64Array.from(values, (v) => toNumber(v, type));
  if (type === 'int64')
    return BigInt64Array.from(values, (v) => toBigInt(v, type, input, [-(2n ** 63n), 2n ** 63n - 1n]));
  if (type === 'uint64') return BigUint64Array.from(values, (v) => toBigInt(v, type, input, [0n, 2n ** 64n - 1n]));
  const numbers = values.map((v) => toInteger(v, type, input));
  const ctor = {
    int8: Int8Array,
    int16: Int16Array,
    int32: Int32Array,
    uint8: Uint8Array,
    uint16: Uint16Array,
    uint32: Uint32Array,
  }[type];
  return ctor.from(numbers);
}

function toNumber(v: unknown, type: ElementType): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v === null) return Number.NaN;
  if (typeof v === 'string') {
    const n = parsePythonFloat(v);
    if (n !== null) return n;
    throw badRequest(
      `Invalid input. could not convert string to ${type.startsWith('float') ? 'float' : 'int'}: '${v}'`,
    );
  }
  throw badRequest(`Invalid input. could not convert ${describe(v)} to ${type}`);
}

function toInteger(v: unknown, type: ElementType, input: string): number {
  const n = toNumber(v, type);
  if (!Number.isInteger(n))
    throw schemaMismatch(`Invalid input. Input ${input} expects ${type}, but ${String(v)} is not an integer`);
  const range = INTEGER_RANGES[type];
  if (range && (n < range[0] || n > range[1])) {
    throw schemaMismatch(`Invalid input. Input ${input} expects ${type}, but ${n} is out of its range`);
  }
  return n;
}

function toBigInt(v: unknown, type: ElementType, input: string, range: [bigint, bigint]): bigint {
  let big: bigint;
  if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) {
    big = BigInt(v.trim()); // digits beyond 2^53 survive only as strings in JSON: take those exactly
  } else {
    const n = toNumber(v, type);
    if (!Number.isInteger(n))
      throw schemaMismatch(`Invalid input. Input ${input} expects ${type}, but ${String(v)} is not an integer`);
    big = BigInt(n);
  }
  if (big < range[0] || big > range[1])
    throw schemaMismatch(`Invalid input. Input ${input} expects ${type}, but ${String(v)} is out of its range`);
  return big;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a nested list';
  if (typeof v === 'object') return 'an object';
  return typeof v;
}
