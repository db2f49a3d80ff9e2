/**
 * The one file path validator of warm, the agent and fetch (Hub trees, MLflow artifact listings).
 * Why `repoPath` (a file path listed by the Hub) must not be written under a snapshot folder, or null when
 * it is safe: relative, `/`-separated, no `.`/`..`/empty segments, no backslash, no NUL or control characters.
 */
export function resolveRepoPathProblem(repoPath: string): string | null {
  if (repoPath.length === 0) return 'empty path';
  if (repoPath.length > 4096) return 'path longer than 4096 characters';
  if (repoPath.startsWith('/')) return 'absolute path';
  if (repoPath.includes('\\')) return 'backslash in path';
  if (/^[A-Za-z]:/.test(repoPath)) return 'drive letter in path';
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(repoPath)) return 'control character in path';
  return segmentProblem(repoPath);
}

function segmentProblem(repoPath: string): string | null {
  for (const segment of repoPath.split('/')) {
    if (segment === '..') return '".." segment in path';
    if (segment === '.' || segment === '') return 'empty or "." segment in path';
  }
  return null;
}
