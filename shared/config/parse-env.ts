import type { z } from 'zod';
import { ConfigError } from '../errors/app-error.js';
import { describeIssues } from './describe-issues.js';

/**
 * Parses an environment-shaped record with `schema`, once, at a role's edge. An empty variable counts as unset
 * in every role (`VAR=""` means "use the default"), as a Kubernetes env entry with no value does.
 * @throws ConfigError whose message names each bad variable on its own line: `MAX_RETRIES: expected a number`
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): z.output<S> {
  const result = schema.safeParse(withoutEmpty(env));
  if (result.success) return result.data;
  throw new ConfigError(describeIssues(result.error.issues).join('\n'));
}

/** Drops empty and unset values, so `VAR=""` means "use the default". */
export function withoutEmpty(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''),
  );
}
