import type { z } from 'zod';
import { ConfigError } from '../errors/app-error.js';

/**
 * Parses an environment-shaped record with `schema`, once, at a role's edge.
 * @throws ConfigError whose message names each bad variable on its own line: `MAX_RETRIES: expected a number`
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(formatIssues(result.error.issues));
}

/** One line per issue, led by the dotted path of the offending key. */
function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const where = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
      return `${where}: ${issue.message}`;
    })
    .join('\n');
}
