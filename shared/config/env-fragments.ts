import { z } from 'zod';

/**
 * The env variables several roles read, defined once and spread into each role's schema (`...LogEnv`).
 * parseEnv drops empty values first, so `VAR=""` means "use the default" in every role.
 */

/** pino's levels; `silent` for tests. */
export const LogEnv = {
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
};

const Port = z.coerce.number().int().min(0).max(65535);

/** Where an HTTP role listens: Knative sets `PORT`. */
export const ListenEnv = {
  PORT: Port.default(8080),
  HOST: z.string().default('0.0.0.0'),
};

/** A Knative Function listens on `FUNC_PORT` first (the `func` templates' name), then `PORT`. */
export const FunctionListenEnv = {
  FUNC_PORT: Port.optional(),
  ...ListenEnv,
};

/** How long a SIGTERM waits for requests in flight (Knative's default grace period is 30 s too). */
export const DrainEnv = {
  DRAIN_TIMEOUT_SECONDS: z.coerce.number().min(0).default(30),
};
