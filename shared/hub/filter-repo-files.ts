import { resolvePatterns } from './resolve-patterns.js';

/**
 * Keeps the items whose path matches at least one `allowPatterns` (when given) and no `ignorePatterns`,
 * exactly like huggingface_hub `filter_repo_objects` (Python fnmatch: `*` crosses `/`; see resolve-patterns.ts,
 * the one implementation warm and the agent share).
 */
export function filterRepoFiles<T extends { path: string }>(
  items: readonly T[],
  patterns: { allowPatterns?: readonly string[] | undefined; ignorePatterns?: readonly string[] | undefined },
): T[] {
  return resolvePatterns({
    items,
    allow: patterns.allowPatterns,
    ignore: patterns.ignorePatterns,
    pathOf: (item) => item.path,
  });
}
