import type { z } from 'zod';

/**
 * The one zod issue formatter (env, the models config, the plan, CloudEvent data, MLmodel, Hub and MLflow
 * answers): one line per bad field, led by its path (`models["org/name"].revision: …`, `PORT: …`), unknown keys
 * one line each naming the key, a bad record key as `invalid <keyName>: …`.
 */
export function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  options: {
    /** what a path of length 0 is called @default (root) */
    root?: string;
    /** what the keys of a record are, for a bad key @default key */
    keyName?: string;
  } = {},
): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const where = formatPath(issue.path, options.root ?? '(root)');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${formatPath([...issue.path, key], '')}: unknown key`);
    } else if (issue.code === 'invalid_key') {
      const detail = issue.issues.map((i) => i.message).join('; ');
      lines.push(`${where}: invalid ${options.keyName ?? 'key'}: ${detail}`);
    } else {
      lines.push(`${where}: ${issue.message}`);
    }
  }
  return lines;
}

/** The first issue's line (for answers where one reason is enough), or `<root>: invalid` when there is none. */
export function describeFirstIssue(error: z.ZodError, root?: string): string {
  return (
    describeIssues(error.issues.slice(0, 1), root === undefined ? {} : { root })[0] ?? `${root ?? '(root)'}: invalid`
  );
}

/** `models["org/name"].revision`, `models["org/name"].allow_patterns[1]`, `PORT`; `root` for an empty path. */
function formatPath(path: readonly PropertyKey[], root: string): string {
  if (path.length === 0) return root;
  let out = '';
  path.forEach((part, i) => {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) out += i === 0 ? part : `.${part}`;
    else out += `[${JSON.stringify(String(part))}]`;
  });
  return out;
}
