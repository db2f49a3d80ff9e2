/**
 * Python `fnmatch.fnmatchcase` as huggingface_hub's `filter_repo_objects` uses it: `*` matches any run of
 * characters INCLUDING `/`, `?` one character, `[seq]` / `[!seq]` a set; a pattern ending in `/` gets `*`.
 * Written by hand because glob libraries (picomatch, minimatch) stop `*` at `/`, which would download a
 * different file set than `snapshot_download(allow_patterns=…)` for the same config.
 */
export function fnmatchToRegExp(pattern: string): RegExp {
  const p = pattern.endsWith('/') ? `${pattern}*` : pattern;
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p.charAt(i);
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const set = readSet(p, i);
      if (set === null) out += '\\[';
      else {
        out += set.regex;
        i = set.end;
      }
    } else out += escapeRegExp(c);
  }
  return new RegExp(`^${out}$`, 's');
}

/** Reads `[...]` starting at `start`; null when unterminated (then `[` is a literal, as in Python). */
function readSet(p: string, start: number): { regex: string; end: number } | null {
  let j = start + 1;
  if (p[j] === '!') j++;
  if (p[j] === ']') j++;
  while (j < p.length && p[j] !== ']') j++;
  if (j >= p.length) return null;
  let body = p.slice(start + 1, j).replace(/\\/g, '\\\\');
  if (body.startsWith('!')) body = `^${body.slice(1)}`;
  else if (body.startsWith('^')) body = `\\${body}`;
  return { regex: `[${body}]`, end: j };
}

function escapeRegExp(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

/**
 * Keeps the items whose path matches at least one `allowPatterns` (when given) and no `ignorePatterns`,
 * exactly like huggingface_hub `filter_repo_objects`.
 */
export function filterRepoFiles<T extends { path: string }>(
  items: readonly T[],
  patterns: { allowPatterns?: readonly string[] | undefined; ignorePatterns?: readonly string[] | undefined },
): T[] {
  const allow = patterns.allowPatterns?.map(fnmatchToRegExp);
  const ignore = patterns.ignorePatterns?.map(fnmatchToRegExp) ?? [];
  return items.filter(
    (item) => (allow === undefined || allow.some((r) => r.test(item.path))) && !ignore.some((r) => r.test(item.path)),
  );
}
