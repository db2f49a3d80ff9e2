// huggingface_hub `validate_repo_id`: `[\w\-.]` segments, no `--` or `..`, no `.git` suffix, ≤ 96 chars.
const REPO_SEGMENT = /^[\w.-]+$/;
const REPO_ID_MAX = 96;

/**
 * The one repo-id validator (the models config, the hf:// model URI, the cache folder names, the tree listing).
 * Why `repo` is not a valid model id (`<org>/<name>`, or a bare `<name>` such as `gpt2` or
 * `bert-base-uncased`, the Hub's canonical models without an org), as huggingface_hub's `validate_repo_id`
 * judges it, or null when it is valid.
 */
export function repoIdProblem(repo: string): string | null {
  if (repo.length === 0) return 'repo id is empty';
  if (repo.length > REPO_ID_MAX) return `repo id is longer than ${REPO_ID_MAX} characters`;
  const parts = repo.split('/');
  if (parts.length > 2) return 'repo id must be "<org>/<name>" or "<name>"';
  for (const part of parts) {
    if (!REPO_SEGMENT.test(part)) return 'repo id segments may use only letters, digits, "_", "-" and "."';
    if (/^[-.]|[-.]$/.test(part)) return 'repo id segments must not start or end with "-" or "."';
  }
  if (repo.includes('--') || repo.includes('..')) return 'repo id must not contain "--" or ".."';
  if (repo.endsWith('.git')) return 'repo id must not end with ".git"';
  return null;
}
