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

/** Removes credentials from free text (error messages, URLs) before it is logged or returned. */
export function redactSecrets(text: string): string {
  return SECRET_PATTERNS.reduce((acc, [pattern, replacement]) => acc.replace(pattern, replacement), text);
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
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError, error: serializeError },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) => (typeof a === 'string' ? redactSecrets(a) : a));
          method.apply(this, scrubbed as Parameters<typeof method>);
        },
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
