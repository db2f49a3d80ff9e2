import type { z } from 'zod';
import { ConfigError } from '../errors/app-error.js';
import { describeIssues } from './describe-issues.js';

/**
 * Parses an environment-shaped record with `schema`, once, at a role's edge.
 * @throws ConfigError whose message names each bad variable on its own line: `MAX_RETRIES: expected a number`
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(describeIssues(result.error.issues).join('\n'));
}
