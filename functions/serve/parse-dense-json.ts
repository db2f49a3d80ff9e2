// The fast path of `POST /invocations` for the common large body: `{"inputs": [[1.5, -0.25, ...], ...]}` (or
// `instances`), nested arrays of plain numbers for a model with one float input. It reads the numbers from the
// body's bytes straight into the Float32Array/Float64Array onnxruntime takes: no string, no JavaScript array or
// number per value, no second walk (and the values are counted in the same pass, where the general path scans a
// body longer than SERVE_MAX_REQUEST_VALUES bytes first). On the benchmark's 128 x 256 body (236.9 KiB),
// in an inference thread of modelctl serve, 1,200 sequential requests alternating between the two paths (medians
// of windows of 200): 1.14-1.26 ms against 1.58-1.92 ms for the general path (decode UTF-8, JSON.parse, copy into
// the typed array; the value count returns at once for a body shorter than the limit). The common numbers
// (`-1.297,0.0555`: at most 9 digits, no exponent) go through a loop of their own, without a call or a
// data-dependent branch the CPU mispredicts (readShortNumbers): parseDenseJsonRequest on that body, main thread,
// CPU time, medians of 16 rounds of 200: 0.94 ms before it, 0.49 ms with it.
//
// Written by hand: no JSON library parses into typed arrays, and V8's JSON.parse (the fastest general parser
// here) allocates a heap number for each value. It takes only what it reads exactly as JSON.parse + the float
// conversion would: a number whose digits fit 2^53 with a power of ten up to 1e22 (Clinger's fast path: one
// correctly rounded multiplication or division, the double JSON.parse makes), and for a float32 tensor also a
// number with 16-19 digits (float32Value: its float32 when certain, else Number() of its text). Anything else
// (another key, a string, a number with more digits, an empty or ragged array, malformed JSON, a body over the
// value limit) returns null, and the general path parses the body as before, with its errors and its wording.
// The same reader takes the large `data` arrays of OIP v2 JSON (readDenseArray, oip-v2-dense-data.ts) and KServe
// v1 `{"instances": ...}` bodies.
import type { ModelIo } from './model-io.js';
import type { TensorInput } from './parse-scoring-request.js';

/** Nested arrays of numbers read into one typed array, row-major, with their shape. */
export class DenseArray {
  readonly shape: number[];
  readonly data: Float32Array | Float64Array;
  /**
   * 'float64': every value is the double JSON.parse makes of its number. 'float32': only its float32 rounding is
   * (fround(value) === fround(JSON.parse's double)): the values may go into a float32 tensor only.
   */
  readonly precision: 'float32' | 'float64';

  constructor(shape: number[], data: Float32Array | Float64Array, precision: 'float32' | 'float64' = 'float64') {
    this.shape = shape;
    this.data = data;
    this.precision = precision;
  }
}

/** What the fast path read: the request key and the single unnamed tensor. */
export interface DenseRequest {
  key: 'inputs' | 'instances';
  value: DenseArray;
}

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/** Deeper nesting takes the general path (which refuses past 32 levels). */
const MAX_RANK = 32;
/** 10^0 .. 10^22: the powers of ten a double holds exactly. */
const POW10 = Float64Array.from({ length: 23 }, (_v, i) => Number(`1e${i}`));

/**
 * The request's single unnamed float tensor, read from the bytes, when the model has one float input and the body
 * is `{"inputs": <numbers>}` or `{"instances": <numbers>}` (nested, rectangular, not empty).
 * @param maxValues SERVE_MAX_REQUEST_VALUES: a body holding more values (counted as countRequestValues counts
 *   them) returns null, for the general path to refuse
 * @returns null for any other body or model: the general path then parses it as it always has
 */
export function parseDenseJsonRequest(body: Uint8Array, io: ModelIo, maxValues: number): DenseRequest | null {
  const input = io.inputs.length === 1 ? io.inputs[0]! : null;
  if (!input || (input.type !== 'float32' && input.type !== 'float64')) return null;
  return new DenseJsonReader(body, { type: input.type, maxValues }).read();
}

/** What the fast path read as the general path's input: the single unnamed tensor, from `inputs` or `instances`. */
export function denseTensorInput(dense: DenseRequest): TensorInput {
  return { kind: 'tensor', tensors: [{ name: null, value: dense.value }], origin: dense.key };
}

/**
 * One JSON array of numbers (nested, rectangular, not empty) starting at `start`, read into a Float64Array (the
 * doubles JSON.parse makes); what follows it is not looked at.
 * @param params.into where to write the values when they fit (a caller's reused buffer: the result is then a view
 *   of it), else a new array
 * @param params.rounding 'float32' when the values are meant for a float32 tensor: numbers with 16-19 digits are
 *   then read too, as their float32 when it is certain (float32Value), and the array says so (its `precision`)
 * @returns the array and the index just past its `]`, or null for anything the reader does not take (see above)
 */
export function readDenseArray(
  body: Uint8Array,
  start: number,
  params: { into: Float64Array; rounding: 'float32' | 'float64' },
): { value: DenseArray; end: number } | null {
  const reader = new DenseJsonReader(body, {
    type: 'float64',
    rounding: params.rounding,
    maxValues: Number.MAX_SAFE_INTEGER,
    start,
    into: params.into,
  });
  return reader.readAt();
}

/** One pass over the body; every method returns false (or -1) to give up, never throws. */
class DenseJsonReader {
  private i: number;
  private readonly start: number;
  /** countRequestValues' count: 1, plus one per `{`, `[` and `,` */
  private values = 2;
  private data: Float32Array | Float64Array;
  private count = 0;
  private readonly shape: number[] = [];
  /** the last exponent readExponent read */
  private exponent = 0;
  private readonly b: Uint8Array;
  private readonly type: 'float32' | 'float64';
  private readonly rounding: 'float32' | 'float64';
  /** whether a value holds only its float32 rounding (float32Value), not JSON.parse's double */
  private rounded = false;
  private readonly maxValues: number;

  constructor(
    body: Uint8Array,
    params: {
      /** the typed array the values are written into */
      type: 'float32' | 'float64';
      /** the type the values end up in: 'float32' also takes numbers whose float32 is certain @default type */
      rounding?: 'float32' | 'float64';
      /** past this many values (counted as countRequestValues counts them), give up */
      maxValues: number;
      /** where to start reading @default 0 */
      start?: number;
      /** where to write the values while they fit @default a new array */
      into?: Float64Array;
    },
  ) {
    this.i = params.start ?? 0;
    this.start = this.i;
    this.b = body;
    this.type = params.type;
    this.rounding = params.rounding ?? params.type;
    this.maxValues = params.maxValues;
    this.data = params.into && params.into.length > 0 ? params.into : this.allocate(1024);
  }

  read(): DenseRequest | null {
    const key = this.openRequest();
    if (key === null || !this.readRoot()) return null;
    this.skipSpace();
    if (this.b[this.i] !== CLOSE_OBJECT) return null;
    this.i++;
    this.skipSpace();
    if (this.i !== this.b.length || this.values > this.maxValues) return null;
    return { key, value: this.result() };
  }

  readAt(): { value: DenseArray; end: number } | null {
    if (!this.readRoot()) return null;
    return { value: this.result(), end: this.i };
  }

  private result(): DenseArray {
    const data = this.data.subarray(0, this.count);
    return new DenseArray(this.shape, data, this.rounded || this.type === 'float32' ? 'float32' : 'float64');
  }

  /** `{ "inputs" :` up to the value; @returns the key, or null */
  private openRequest(): DenseRequest['key'] | null {
    this.skipSpace();
    if (this.b[this.i] !== OPEN_OBJECT) return null;
    this.i++;
    this.skipSpace();
    const key = this.readKey();
    this.skipSpace();
    if (key === null || this.b[this.i] !== COLON) return null;
    this.i++;
    this.skipSpace();
    return key;
  }

  /** `"inputs"` or `"instances"` (no escapes), past its closing quote; @returns null for any other string */
  private readKey(): DenseRequest['key'] | null {
    if (this.b[this.i] !== QUOTE) return null;
    const start = ++this.i;
    const close = this.b.indexOf(QUOTE, start);
    if (close < 0 || close - start > 9) return null;
    this.i = close + 1;
    const name = String.fromCharCode(...this.b.subarray(start, close));
    return name === 'inputs' || name === 'instances' ? name : null;
  }

  /** The root array: its rank from the leading brackets, then every level checked against the first row. */
  private readRoot(): boolean {
    let rank = 0;
    for (let j = this.i; this.b[j] === OPEN_ARRAY || isSpace(this.b[j]); j++) {
      if (this.b[j] === OPEN_ARRAY) rank++;
      if (rank > MAX_RANK) return false;
    }
    if (rank === 0) return false;
    for (let d = 0; d < rank; d++) this.shape.push(-1);
    return this.readArray(0, rank - 1);
  }

  private readArray(depth: number, last: number): boolean {
    if (this.b[this.i] !== OPEN_ARRAY) return false;
    this.i++;
    this.values++;
    const length = depth === last ? this.readInnermost() : this.readRows(depth, last);
    if (length <= 0) return false; // malformed, or empty: the general path answers those
    const expected = this.shape[depth]!;
    if (expected === -1) {
      this.shape[depth] = length;
      if (depth === last) this.resize(length);
    } else if (length !== expected) return false;
    return this.values <= this.maxValues;
  }

  /** The arrays of one level, up to and past its `]`; @returns how many, or -1 */
  private readRows(depth: number, last: number): number {
    let n = 0;
    for (;;) {
      this.skipSpace();
      if (!this.readArray(depth + 1, last)) return -1;
      n++;
      this.skipSpace();
      const c = this.b[this.i];
      this.i++;
      if (c === CLOSE_ARRAY) return n;
      if (c !== COMMA) return -1;
      this.values++;
    }
  }

  /** An innermost array: its common numbers in readShortNumbers' loop, the rest in readNumbers'; @returns how many, or -1 */
  private readInnermost(): number {
    const before = this.count;
    this.i = this.readShortNumbers(this.i);
    const short = this.count - before;
    this.values += short; // their commas
    const rest = this.readNumbers();
    return rest < 0 ? -1 : short + rest;
  }

  /**
   * The numbers of an innermost array, up to and past its `]`; @returns how many, or -1.
   * The hot loop, kept whole (over the complexity cap) so its state stays in locals, with the grammar beside it.
   */
  // eslint-disable-next-line complexity -- see above
  private readNumbers(): number {
    const b = this.b;
    let i = this.i;
    let n = 0;
    let data = this.data;
    let count = this.count;
    for (;;) {
      let c = b[i]!;
      // whitespace is rare inside rows, and every whitespace byte is <= SPACE: one comparison in the common case
      if (c <= SPACE) while (isSpace(c)) c = b[++i]!;
      // one JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
      const negative = c === MINUS;
      if (negative) c = b[++i]!;
      let mantissa = 0;
      if (c === ZERO) {
        c = b[++i]!;
      } else if (c > ZERO && c <= NINE) {
        do {
          mantissa = mantissa * 10 + (c - ZERO);
          c = b[++i]!;
        } while (c >= ZERO && c <= NINE);
      } else return -1;
      let exponent = 0;
      if (c === DOT) {
        c = b[++i]!;
        if (!(c >= ZERO && c <= NINE)) return -1;
        do {
          mantissa = mantissa * 10 + (c - ZERO);
          exponent--;
          c = b[++i]!;
        } while (c >= ZERO && c <= NINE);
      }
      if (c === LOWER_E || c === UPPER_E) {
        i = this.readExponent(i + 1);
        if (i < 0) return -1;
        exponent += this.exponent;
        c = b[i]!;
      }
      let value = exactDouble(mantissa, exponent);
      if (value !== value && this.rounding === 'float32') {
        value = float32Value(mantissa, exponent);
        // near a float32 rounding boundary: the double JSON.parse makes of the same text (one in about 10^7)
        if (value === NEAR_BOUNDARY) value = numberBefore(b, i);
        this.rounded = true;
      }
      if (value !== value) return -1; // NaN: not read exactly here
      if (count === data.length) {
        this.count = count;
        if (!this.grow()) return -1;
        data = this.data;
      }
      data[count++] = negative ? -value : value;
      n++;
      if (c <= SPACE) while (isSpace(c)) c = b[++i]!;
      i++;
      if (c === COMMA) continue;
      if (c === CLOSE_ARRAY) break;
      return -1;
    }
    this.i = i;
    this.count = count;
    this.values += n - 1; // the commas between the numbers
    return n;
  }

  /**
   * The common case first: numbers `-?(0|[1-9][0-9]*)(\.[0-9]+)?` of at most 9 digits, each followed by a comma
   * (and a space, as Python's json writes it), read in a loop of their own, from `at` while there is room in
   * this.data. Nothing in the loop calls out, so V8 keeps the arrays' bounds and pointers in registers: measured
   * half the time of readNumbers' loop on the benchmark's body. The mantissa stays below 10^9 (int32 arithmetic)
   * and the power of ten below 10^10: one correctly rounded division, the double JSON.parse makes (Clinger's fast
   * path, as exactDouble).
   * @returns the index of the first number it did not take (another form, or the last of its array): readNumbers
   *   reads that one; this.count is past the numbers it wrote
   */
  // eslint-disable-next-line complexity -- one loop, kept whole: a call inside would cost what it saves
  private readShortNumbers(at: number): number {
    const b = this.b;
    const data = this.data;
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const end = b.length - SHORT_NUMBER_BYTES;
    let count = this.count;
    let i = at;
    while (i < end && count < data.length) {
      const start = i;
      // no branch on the sign, as random as the data (a branch the CPU mispredicts: 0.70 ms, not 0.48, measured)
      const negative = ((b[i]! ^ MINUS) - 1) >>> 31; // 1 for '-', else 0
      i += negative;
      let c = b[i]!;
      let mantissa = c - ZERO;
      if (mantissa < 0 || mantissa > 9) return this.stopShort(start, count);
      // the commonest form, `d.dddd,`: one digit, a dot, 1-4 decimals read as one word (decimalsIn)
      if (b[i + 1] === DOT) {
        const word = view.getInt32(i + 2, true);
        const decimals = decimalsIn(word);
        if (decimals > 0 && b[i + 2 + decimals] === COMMA) {
          const scale = POW10[decimals]!;
          data[count++] = ((mantissa * scale + digitsValue(word, decimals)) / scale) * (1 - 2 * negative);
          const after = i + 3 + decimals;
          i = b[after] === SPACE ? after + 1 : after;
          continue;
        }
      }
      let digits = 1;
      c = b[++i]!;
      // a leading 0 takes no more digits: `01` stops below (not a comma), for the general loop to refuse. The byte
      // is tested first: it ends the loop in the common case, where the digit before is as random as the data
      while (c >= ZERO && c <= NINE && mantissa !== 0 && digits < 9) {
        mantissa = mantissa * 10 + (c - ZERO);
        digits++;
        c = b[++i]!;
      }
      let decimals = 0;
      if (c === DOT) {
        c = b[++i]!;
        while (c >= ZERO && c <= NINE && digits < 9) {
          mantissa = mantissa * 10 + (c - ZERO);
          digits++;
          decimals++;
          c = b[++i]!;
        }
        if (decimals === 0) return this.stopShort(start, count);
      }
      // a 10th digit, an exponent, `]`, whitespace: the general loop's
      if (c !== COMMA) return this.stopShort(start, count);
      // x (1 - 2 x negative): exact, and -0 for `-0` and `-0.0` as JSON.parse
      data[count++] = (mantissa / POW10[decimals]!) * (1 - 2 * negative);
      if (b[++i] === SPACE) i++;
    }
    return this.stopShort(i, count);
  }

  private stopShort(at: number, count: number): number {
    this.count = count;
    return at;
  }

  /** `[+-]?[0-9]+` at `i` into this.exponent; @returns the index after it, or -1 */
  private readExponent(at: number): number {
    const b = this.b;
    let i = at;
    let sign = 1;
    if (b[i] === PLUS || b[i] === MINUS) sign = b[i++] === MINUS ? -1 : 1;
    let c = b[i]!;
    if (c < ZERO || c > NINE) return -1;
    let e = 0;
    do {
      if (e < 1000) e = e * 10 + (c - ZERO);
      c = b[++i]!;
    } while (c >= ZERO && c <= NINE);
    this.exponent = sign * e;
    return i;
  }

  private skipSpace(): void {
    while (isSpace(this.b[this.i])) this.i++;
  }

  /**
   * Once the first row is read: room for as many values as the rest of the body holds at the first row's bytes
   * per value (a 16th more), so a body of even rows is read without growing again (never less than it has).
   */
  private resize(rowLength: number): void {
    const perValue = (this.i - this.start) / rowLength;
    const estimate = Math.ceil(((this.b.length - this.i) / perValue) * 1.0625) + rowLength;
    if (estimate > this.data.length) this.reallocate(Math.min(estimate, this.maxValues + 1));
  }

  /** @returns false past the value limit (the general path refuses the body) */
  private grow(): boolean {
    if (this.data.length > this.maxValues) return false;
    this.reallocate(Math.min(this.data.length * 2, this.maxValues + 1));
    return true;
  }

  private reallocate(length: number): void {
    if (length === this.data.length) return;
    const next = this.allocate(length);
    next.set(this.data.subarray(0, this.count));
    this.data = next;
  }

  private allocate(length: number): Float32Array | Float64Array {
    return this.type === 'float32' ? new Float32Array(length) : new Float64Array(length);
  }
}

/**
 * How many of a little-endian word's 4 bytes, from its first, are ASCII digits (0-4), without a branch per byte: a
 * byte is a digit when its high nibble is 3 and adding 6 to it keeps it so. (A carry out of a byte >= 0xFA only
 * reaches the bytes after it, past the first that is not a digit.)
 */
function decimalsIn(word: number): number {
  const notDigits = ((word & 0xf0f0f0f0) ^ 0x30303030) | ((((word + 0x06060606) | 0) & 0xf0f0f0f0) ^ 0x30303030);
  return notDigits === 0 ? 4 : (31 - Math.clz32(notDigits & -notDigits)) >>> 3;
}

/**
 * The value of the first `n` (1-4) bytes of a little-endian word of ASCII digits, the first the most significant:
 * the digits shifted to the word's top (zeros below), then pairs and pairs of pairs combined (no lane overflows).
 */
function digitsValue(word: number, n: number): number {
  let v = (word - 0x30303030) << (32 - 8 * n);
  v = (Math.imul(v, 10) + (v >>> 8)) & 0x00ff00ff;
  return (Math.imul(v, 100) + (v >>> 16)) & 0xffff;
}

/** readShortNumbers stops this many bytes before the end: a number it takes and its comma are no longer */
const SHORT_NUMBER_BYTES = 16;

function isSpace(c: number | undefined): boolean {
  return c === SPACE || c === LF || c === CR || c === TAB;
}

/**
 * mantissa x 10^exponent as the correctly rounded double JSON.parse makes of it, when one IEEE operation on exact
 * operands gives it (mantissa below 2^53, |exponent| <= 22); NaN otherwise (no JSON number is NaN; a number, not
 * undefined, so the hot loop keeps its doubles unboxed).
 */
/**
 * For a float32 input, a number with 16-19 significant digits (Python's repr of a float32 value, as numpy clients
 * send it, has up to 17): the float32 the general path stores, fround(JSON.parse's double), when it is certain,
 * else NaN. The double computed here (`mantissa` accumulated past 2^53: at most 8 roundings, then one or two
 * multiplications or divisions by exact powers of ten) is within 10 roundings, 1.2e-15 relative, of the decimal,
 * and JSON.parse's double within one (1.1e-16): when it is farther than 4e-15 relative from both float32 rounding
 * boundaries around its float32,
 * JSON.parse's double rounds to the same float32. Closer (about one number in 10^7), NEAR_BOUNDARY: the reader then
 * takes Number() of the number's text, the correctly rounded double JSON.parse makes of it (the same conversion).
 * 0, subnormal or past the float32 range: NaN, the general path reads the body.
 */
function float32Value(mantissa: number, exponent: number): number {
  if (mantissa >= 1e19 || exponent < -44 || exponent > 44) return Number.NaN;
  const approx = scaled(mantissa, exponent);
  F32[0] = approx;
  const f = F32[0];
  // 0, subnormal, past the largest float32: let the general path have those
  if (!(f >= 1.1754943508222875e-38 && f < 3.4028234663852886e38)) return Number.NaN;
  const bits = U32[0]!;
  U32[0] = bits + 1;
  const above = (f + F32[0]!) / 2; // exact: two adjacent float32s
  U32[0] = bits - 1;
  const below = (F32[0]! + f) / 2;
  const margin = approx * 4e-15;
  return approx - below > margin && above - approx > margin ? f : NEAR_BOUNDARY;
}

/** float32Value's answer when only the exact double tells the float32 (no magnitude is negative). */
const NEAR_BOUNDARY = -1;

/**
 * Number() of the JSON number (already checked) that ends at `end`, without its sign: the double JSON.parse makes
 * of it (the same correctly rounded conversion). Found backwards, so the hot loop keeps no start index.
 */
function numberBefore(b: Uint8Array, end: number): number {
  let start = end;
  while (start > 0 && isNumberByte(b[start - 1]!)) start--;
  if (b[start] === MINUS) start++;
  return Number(String.fromCharCode(...b.subarray(start, end)));
}

function isNumberByte(c: number): boolean {
  return (c >= ZERO && c <= NINE) || c === DOT || c === LOWER_E || c === UPPER_E || c === PLUS || c === MINUS;
}

/** mantissa x 10^exponent in one or two roundings (|exponent| <= 44: powers of ten up to 1e22 are exact). */
function scaled(mantissa: number, exponent: number): number {
  if (exponent < -22) return mantissa / 1e22 / POW10[-exponent - 22]!;
  if (exponent < 0) return mantissa / POW10[-exponent]!;
  if (exponent > 22) return mantissa * 1e22 * POW10[exponent - 22]!;
  return mantissa * POW10[exponent]!;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

function exactDouble(mantissa: number, exponent: number): number {
  if (mantissa === 0) return 0;
  if (mantissa > Number.MAX_SAFE_INTEGER) return Number.NaN;
  if (exponent === 0) return mantissa;
  if (exponent < 0) return exponent >= -22 ? mantissa / POW10[-exponent]! : Number.NaN;
  return exponent <= 22 ? mantissa * POW10[exponent]! : Number.NaN;
}
