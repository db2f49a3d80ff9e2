// The fast path of an Open Inference Protocol JSON request with large tensors: every `"data": [numbers]` in the
// body is read straight from the bytes into a Float64Array (parse-dense-json.ts), and JSON.parse only sees the
// rest, with each array cut out and a placeholder in its place, put back in `inputs[i].data` afterwards. The
// placeholder is an object keyed by a random nonce of this thread, so no client can forge one. The result is the
// document JSON.parse would make, but for the arrays (DenseArray instead of nested number arrays, holding the
// same doubles); when any array was not an input's `data` (a `data` key elsewhere, a duplicate key), the caller
// parses the body as before.
// An array after `"datatype": "FP32"` (clients write the datatype before the data) is read as /invocations reads a
// float32 input: numbers with 16-19 digits too (numpy's float64 or float32 values as Python's json writes them),
// as their float32 when it is certain. Such an array may only go back into an input whose datatype is FP32 (the
// model's type, else the request is refused before its data is looked at): any other, and the body is parsed as
// before.
import { randomBytes } from 'node:crypto';
import { DenseArray, readDenseArray } from './parse-dense-json.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_ARRAY = 0x5b;
const DATA = [...'data'].map((c) => c.charCodeAt(0));
const DATATYPE = [...'datatype'].map((c) => c.charCodeAt(0));
const FP32 = [...'"FP32"'].map((c) => c.charCodeAt(0));

/** Bodies smaller than this go straight to JSON.parse (cutting pays off on large arrays only). */
export const DENSE_DATA_MIN_BYTES = 16 * 1024;
/** Arrays shorter than this (bytes) stay in the JSON text. */
const MIN_ARRAY_BYTES = 1024;
const NONCE = `modelctl-dense-${randomBytes(16).toString('hex')}`;

/**
 * The thread's buffer the arrays are read into, reused from request to request (a new Float64Array per request
 * and its growth cost more in garbage collection than the parse saved, measured); kept up to 1 Mi values (8 MiB).
 */
let scratch = new Float64Array(0);
const SCRATCH_KEPT = 1 << 20;

/**
 * The request document with its large `data` arrays read as {@link DenseArray}s, or null when the body has none
 * or does not take this path (see above). The arrays are views of this thread's reused buffer: valid until the
 * next call, so the caller copies them (into the input's typed array) before it awaits anything.
 * @throws SyntaxError when the rest of the body is not JSON (then neither is the body)
 */
export function parseWithDenseData(body: Uint8Array): unknown {
  const arrays = denseDataArrays(body);
  const used = arrays.reduce((n, a) => n + a.value.data.length, 0);
  if (used > scratch.length && used <= SCRATCH_KEPT) scratch = new Float64Array(Math.ceil(used * 1.25));
  if (arrays.length === 0) return null;
  const parts: Uint8Array[] = [];
  let at = 0;
  arrays.forEach((a, k) => {
    parts.push(body.subarray(at, a.start), Buffer.from(`{"${NONCE}":${k}}`));
    at = a.end;
  });
  parts.push(body.subarray(at));
  const doc = JSON.parse(Buffer.concat(parts).toString('utf8')) as unknown;
  return putBack(
    doc,
    arrays.map((a) => a.value),
  )
    ? doc
    : null;
}

/** Each `"data": [` ... `]` of numbers outside strings, large enough to cut, in order. */
function denseDataArrays(body: Uint8Array): { start: number; end: number; value: DenseArray }[] {
  const found: { start: number; end: number; value: DenseArray }[] = [];
  let free = 0; // where the next array goes in the scratch buffer
  let rounding: 'float32' | 'float64' = 'float64'; // float32 after "datatype": "FP32" (checked again in putBack)
  // indexOf (native) to the next quote: an array left to JSON.parse is skipped without a JavaScript loop per byte
  for (let i = body.indexOf(QUOTE); i >= 0; i = body.indexOf(QUOTE, i + 1)) {
    const close = closingQuote(body, i);
    const key = keyOf(body, i, close);
    const value = key === null ? -1 : valueStart(body, close + 1);
    i = close;
    if (key === DATATYPE) rounding = startsWith(body, value, FP32) ? 'float32' : 'float64';
    const read = key === DATA ? readLargeArray(body, value, { into: scratch.subarray(free), rounding }) : null;
    if (!read) continue;
    found.push({ start: value, end: read.end, value: read.value });
    if (read.value.data.buffer === scratch.buffer) free += read.value.data.length;
    i = read.end - 1;
  }
  return found;
}

/** The array of numbers at `value` (-1: none) when it has MIN_ARRAY_BYTES or more, else null. */
function readLargeArray(
  body: Uint8Array,
  value: number,
  params: Parameters<typeof readDenseArray>[2],
): ReturnType<typeof readDenseArray> {
  if (value < 0 || body[value] !== OPEN_ARRAY) return null;
  const read = readDenseArray(body, value, params);
  return read && read.end - value >= MIN_ARRAY_BYTES ? read : null;
}

/** The index of the quote that closes the JSON string opening at `start` (the body's length when none does). */
function closingQuote(body: Uint8Array, start: number): number {
  let i = start + 1;
  while (i < body.length && body[i] !== QUOTE) i += body[i] === BACKSLASH ? 2 : 1;
  return Math.min(i, body.length);
}

/** DATA or DATATYPE when the string from `open` to `close` (its quotes) is that name, else null. */
function keyOf(body: Uint8Array, open: number, close: number): number[] | null {
  const name = close - open === DATA.length + 1 ? DATA : close - open === DATATYPE.length + 1 ? DATATYPE : null;
  return name && startsWith(body, open + 1, name) ? name : null;
}

function startsWith(body: Uint8Array, at: number, bytes: number[]): boolean {
  return bytes.every((c, k) => body[at + k] === c);
}

/** Past `:` and whitespace after a key: where its value starts, or -1 when the string was not a key. */
function valueStart(body: Uint8Array, from: number): number {
  let i = skipSpace(body, from);
  if (body[i] !== COLON) return -1;
  i = skipSpace(body, i + 1);
  return i;
}

function skipSpace(body: Uint8Array, from: number): number {
  let i = from;
  while (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x0d || body[i] === 0x09) i++;
  return i;
}

/**
 * Replaces each placeholder in `inputs[i].data` by its array; false unless every array went back exactly once, an
 * array holding only float32 roundings into an FP32 input.
 */
function putBack(doc: unknown, arrays: DenseArray[]): boolean {
  const inputs = (doc as { inputs?: unknown } | null)?.inputs;
  if (!Array.isArray(inputs)) return false;
  const used = new Set<number>();
  for (const input of inputs as unknown[]) {
    if (typeof input !== 'object' || input === null) continue;
    const { data, datatype } = input as { data?: unknown; datatype?: unknown };
    const k = placeholderIndex(data);
    if (k === null) continue;
    const array = arrays[k];
    if (!array || used.has(k) || !fitsDatatype(array, datatype)) return false;
    used.add(k);
    (input as { data: unknown }).data = array;
  }
  return used.size === arrays.length;
}

/** An array of float32 roundings goes into an FP32 input only; JSON.parse's doubles into any. */
function fitsDatatype(array: DenseArray, datatype: unknown): boolean {
  return array.precision === 'float64' || datatype === 'FP32';
}

function placeholderIndex(value: unknown): number | null {
  if (typeof value !== 'object' || value === null) return null;
  const k = (value as Record<string, unknown>)[NONCE];
  return typeof k === 'number' ? k : null;
}
