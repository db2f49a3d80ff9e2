/** Python's float literal: digits with single underscores between them, an optional fraction and exponent. */
const DIGITS = String.raw`\d(?:_?\d)*`;
const DECIMAL = new RegExp(String.raw`^[+-]?(?:${DIGITS}(?:\.(?:${DIGITS})?)?|\.${DIGITS})(?:[eE][+-]?${DIGITS})?$`);
const SPECIAL = /^([+-]?)(inf|infinity|nan)$/i;
/** a character outside ASCII (where a digit of another script may be) */
const NON_ASCII = /[^\p{ASCII}]/u;
const ND = /^\p{Nd}$/u;

/**
 * Reads `text` as Python's `float()` does, which is how MLflow (numpy, pandas) turns a numeric string into a
 * number: surrounding whitespace ignored; `inf`, `infinity` and `nan` in any case and with a sign; underscores
 * between digits (`1_000`); decimal digits of any script (`١`). Unlike `Number()`, no `0x`/`0b`/`0o` prefixes
 * and no empty string. Checked against `mlflow models serve` (test/serve-compat.test.ts).
 * @returns the number, or null when Python's float() refuses the text
 */
export function parsePythonFloat(text: string): number | null {
  const trimmed = toAsciiDigits(text.trim());
  const special = SPECIAL.exec(trimmed);
  if (special) {
    if (special[2]!.toLowerCase() === 'nan') return Number.NaN;
    return special[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }
  if (!DECIMAL.test(trimmed)) return null;
  return Number(trimmed.replaceAll('_', ''));
}

/**
 * Non-ASCII decimal digits as ASCII ones. Unicode lays each script's digits out as a run of ten code points from
 * its zero, and runs of such sets sit back to back (mathematical digits): a digit's value is its distance from
 * the start of its run, modulo ten.
 */
function toAsciiDigits(text: string): string {
  if (!NON_ASCII.test(text)) return text;
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (code < 0x80 || !ND.test(char)) {
      out += char;
      continue;
    }
    let start = code;
    while (ND.test(String.fromCodePoint(start - 1))) start--;
    out += String((code - start) % 10);
  }
  return out;
}
