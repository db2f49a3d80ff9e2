import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Keys whose values never reach a log line, wherever they sit in a logged object. */
const SECRET_KEYS = [
  'password',
  'token',
  'hfToken',
  'authorization',
  'Authorization',
  'MLFLOW_TRACKING_PASSWORD',
  'MLFLOW_TRACKING_TOKEN',
  'HF_TOKEN',
  'cookie',
];
const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  ...SECRET_KEYS.map((k) => `*.*.${k}`),
  'req.headers.authorization',
  'req.headers.cookie',
];

/** Credentials embedded in strings: `https://user:pass@host`, `Bearer xyz`, `hf_…` tokens. */
const SECRET_PATTERNS: readonly [RegExp, string][] = [
  [/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+:[^/\s@]+@/gi, '$1[REDACTED]@'],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, '$1 [REDACTED]'],
  [/\bhf_[A-Za-z0-9]{8,}\b/g, '[REDACTED]'],
];

/**
 * Secret VALUES this process holds (passwords, tokens), scrubbed wherever they appear, whatever their shape:
 * a server may echo a credential back in a message, an error code or a header (issue 14).
 */
const secretValues = new Set<string>();

/** Values shorter than this are not registered: redacting `a` or `12` would shred every line. */
const MIN_SECRET_LENGTH = 4;

/**
 * Registers credentials by value (and, for each, its JSON-escaped and URL-encoded forms), so {@link redactSecrets}
 * and every logger line scrub them even when they carry no recognisable prefix. Undefined or short values are
 * ignored.
 */
export function addSecretValues(values: readonly (string | undefined)[]): void {
  for (const value of values) {
    if (value === undefined || value.length < MIN_SECRET_LENGTH) continue;
    for (const form of [value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)]) secretValues.add(form);
  }
}

/** The registered secret values in `text` replaced by `[REDACTED]` (longest first, so a part never survives). */
function redactValues(text: string): string {
  if (secretValues.size === 0) return text;
  let out = text;
  for (const value of [...secretValues].sort((a, b) => b.length - a.length)) {
    if (out.includes(value)) out = out.split(value).join('[REDACTED]');
  }
  return out;
}

/** Removes credentials from free text (error messages, URLs) before it is logged or returned. */
export function redactSecrets(text: string): string {
  return redactValues(SECRET_PATTERNS.reduce((acc, [pattern, replacement]) => acc.replace(pattern, replacement), text));
}

/**
 * JSON-lines logger with secret redaction: known secret keys are censored by path, and strings that carry
 * credentials (URLs with user:pass, bearer tokens, `hf_` tokens) are scrubbed in messages and errors.
 */
export function createLogger(params: {
  name: string;
  /** @default 'info' */
  level?: string;
  destination?: DestinationStream;
}): Logger {
  return pino(
    {
      name: params.name,
      level: params.level ?? 'info',
      // no pid/hostname; `name` still goes on every line (`base: null` would drop it too)
      base: {},
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError, error: serializeError },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) => (typeof a === 'string' ? redactSecrets(a) : a));
          method.apply(this, scrubbed as Parameters<typeof method>);
        },
        // last line of defence: a registered secret value is scrubbed from the whole line, whichever field holds it
        streamWrite: redactValues,
      },
    },
    params.destination,
  );
}

function serializeError(err: unknown): unknown {
  const plain = pino.stdSerializers.err(err as Error);
  if (typeof plain !== 'object' || plain === null) return plain;
  return JSON.parse(redactSecrets(JSON.stringify(plain))) as unknown;
}
