// The fast path of an Open Inference Protocol JSON request with large tensors: every `"data": [numbers]` in the
// body is read straight from the bytes into a Float64Array (parse-dense-json.ts), and JSON.parse only sees the
// rest, with each array cut out and a placeholder in its place, put back in `inputs[i].data` afterwards. The
// placeholder is an object keyed by a random nonce of this thread, so no client can forge one. The result is the
// document JSON.parse would make, but for the arrays (DenseArray instead of nested number arrays, holding the
// same doubles); when any array was not an input's `data` (a `data` key elsewhere, a duplicate key), the caller
// parses the body as before.
import { randomBytes } from 'node:crypto';
import { DenseArray, readDenseArray } from './parse-dense-json.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_ARRAY = 0x5b;
const DATA = [0x64, 0x61, 0x74, 0x61]; // data

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
  for (let i = 0; i < body.length; i++) {
    if (body[i] !== QUOTE) continue;
    const close = closingQuote(body, i);
    const value = isDataKey(body, i, close) ? valueStart(body, close + 1) : -1;
    i = close;
    if (value < 0 || body[value] !== OPEN_ARRAY) continue;
    const read = readDenseArray(body, value, scratch.subarray(free));
    if (!read || read.end - value < MIN_ARRAY_BYTES) continue;
    found.push({ start: value, end: read.end, value: read.value });
    if (read.value.data.buffer === scratch.buffer) free += read.value.data.length;
    i = read.end - 1;
  }
  return found;
}

/** The index of the quote that closes the JSON string opening at `start` (the body's length when none does). */
function closingQuote(body: Uint8Array, start: number): number {
  let i = start + 1;
  while (i < body.length && body[i] !== QUOTE) i += body[i] === BACKSLASH ? 2 : 1;
  return Math.min(i, body.length);
}

function isDataKey(body: Uint8Array, open: number, close: number): boolean {
  return close - open === 5 && DATA.every((c, k) => body[open + 1 + k] === c);
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

/** Replaces each placeholder in `inputs[i].data` by its array; false unless every array went back exactly once. */
function putBack(doc: unknown, arrays: DenseArray[]): boolean {
  const inputs = (doc as { inputs?: unknown } | null)?.inputs;
  if (!Array.isArray(inputs)) return false;
  const used = new Set<number>();
  for (const input of inputs as unknown[]) {
    if (typeof input !== 'object' || input === null) continue;
    const k = placeholderIndex((input as { data?: unknown }).data);
    if (k === null) continue;
    if (used.has(k) || k >= arrays.length) return false;
    used.add(k);
    (input as { data: unknown }).data = arrays[k];
  }
  return used.size === arrays.length;
}

function placeholderIndex(value: unknown): number | null {
  if (typeof value !== 'object' || value === null) return null;
  const k = (value as Record<string, unknown>)[NONCE];
  return typeof k === 'number' ? k : null;
}
