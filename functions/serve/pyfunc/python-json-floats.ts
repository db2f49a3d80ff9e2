// MLflow's answer text for a float prediction, written by the front end instead of the Python worker: the worker
// sends the merged batch's float64 values raw (pyfunc_batch.py FloatRows) and each request's
// `{"predictions": [...]}` is formatted here, as Python's json.dumps writes it (json's C encoder calls float.__repr__
// for every value, ~0.6 µs each: at 100 rows of predict_proba that was a quarter of the worker's CPU per request).
// Same digits: both Python's repr and JavaScript's Number-to-string give the shortest decimal that reads back as
// the same double, the nearest one when several are as short (CPython's dtoa mode 0; ECMA-262 Number::toString).
// Only the layout differs, and is rewritten: Python writes 1.0 for 1, exponents from decpt <= -4 or > 16 with at
// least two digits (1e-05, 1e+16), NaN and Infinity as json.dumps does (allow_nan).

/**
 * A double as Python's `json.dumps` writes it (`float.__repr__`, NaN/Infinity/-Infinity).
 */
export function pythonFloat(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const s = String(x);
  const negative = x < 0;
  const abs = negative ? s.slice(1) : s;
  const e = abs.indexOf('e');
  // 1.5e-7, 1e+21: the digits, and where the decimal point goes
  if (e >= 0) return layout(negative, abs.slice(0, e).replace('.', ''), Number(abs.slice(e + 1)) + 1);
  const dot = abs.indexOf('.');
  if (dot < 0) return layout(negative, abs.replace(/0+$/, ''), abs.length); // an integer: 1e15 -> '1000000000000000.0'
  return abs.charCodeAt(0) === 48 ? belowOne(negative, abs, s) : s; // d.ddd (1-16 digits before '.'): as Python
}

/**
 * 0.ddd (`abs`; `s` with its sign): Python writes it as JavaScript does down to 0.0001 (decpt > -4), below that
 * in the exponent form.
 */
function belowOne(negative: boolean, abs: string, s: string): string {
  let first = 2;
  while (abs.charCodeAt(first) === 48) first++;
  return first < 6 ? s : layout(negative, abs.slice(first), 2 - first);
}

/**
 * Python's repr layout of `digits` (no leading or trailing zeros) with the decimal point after `decpt` of them
 * (CPython format_float_short, mode 'r': the exponent form when decpt <= -4 or decpt > 16).
 */
function layout(negative: boolean, digits: string, decpt: number): string {
  const sign = negative ? '-' : '';
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
    if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
    return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
  }
  const exp = decpt - 1;
  const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const abs = Math.abs(exp);
  return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${abs < 10 ? '0' : ''}${abs}`;
}

/**
 * `{"predictions": <values>}` as MLflow's `predictions_to_json` writes a float ndarray of `shape` (one or two
 * dimensions): `values` are its float64 values in the host's byte order (the worker runs beside), row after row.
 * @returns the answer body, UTF-8
 */
export function formatFloatPredictions(values: Buffer, shape: readonly number[]): Buffer {
  const [rows = 0, cols] = shape;
  // an aligned copy (the frame puts the values at any offset): typed-array reads instead of readDoubleLE
  const xs = new Float64Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  let text = '{"predictions": [';
  let at = 0;
  for (let r = 0; r < rows; r++) {
    if (r > 0) text += ', ';
    if (cols === undefined) {
      text += pythonFloat(xs[at++]!);
      continue;
    }
    text += '[';
    for (let c = 0; c < cols; c++) text += c > 0 ? `, ${pythonFloat(xs[at++]!)}` : pythonFloat(xs[at++]!);
    text += ']';
  }
  return Buffer.from(`${text}]}`, 'utf8');
}
