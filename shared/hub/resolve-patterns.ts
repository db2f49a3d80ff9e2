/**
 * `allow_patterns` / `ignore_patterns` exactly as huggingface_hub's `filter_repo_objects` applies them:
 * Python `fnmatch` on the whole repo path, where `*` also crosses `/`, and a pattern ending in `/` gets a `*`.
 */

/**
 * The paths a download with these patterns fetches: those matching some allow pattern (all when
 * `allow` is null), minus those matching any ignore pattern.
 */
export function resolvePatterns<T>(params: {
  items: readonly T[];
  /** null or absent: everything is allowed; `[]`: nothing is (as in huggingface_hub) */
  allow?: readonly string[] | null | undefined;
  ignore?: readonly string[] | null | undefined;
  /** the repo path of an item */
  pathOf: (item: T) => string;
}): T[] {
  const allow = params.allow?.map(compilePattern) ?? null;
  const ignore = params.ignore?.map(compilePattern) ?? null;
  return params.items.filter((item) => {
    const p = params.pathOf(item);
    if (allow !== null && !allow.some((re) => re.test(p))) return false;
    return !(ignore !== null && ignore.some((re) => re.test(p)));
  });
}

function compilePattern(pattern: string): RegExp {
  // huggingface_hub `_add_wildcard_to_directories`: "dir/" means everything under dir
  return fnmatchToRegExp(pattern.endsWith('/') ? `${pattern}*` : pattern);
}

/**
 * Python's `fnmatch.translate` (3.12) as a JavaScript RegExp: `*` any run (including `/`), `?` one
 * character, `[seq]`, `[!seq]`; an unclosed `[` is literal; matching is case-sensitive (POSIX).
 */
export function fnmatchToRegExp(pattern: string): RegExp {
  let out = '';
  let i = 0;
  while (i < pattern.length) {
    const c = pattern.charAt(i++);
    if (c === '*') {
      while (pattern[i] === '*') i++;
      out += '.*';
    } else if (c === '?') {
      out += '.';
    } else if (c === '[') {
      const set = translateSet(pattern, i);
      out += set.regex;
      i = set.next;
    } else {
      out += escapeRegExp(c);
    }
  }
  return new RegExp(`^${out}$`, 's');
}

/** A `[...]` set starting after the `[` at `start`: its regex and where the pattern continues. */
function translateSet(pattern: string, start: number): { regex: string; next: number } {
  let j = start;
  if (pattern[j] === '!') j++;
  if (pattern[j] === ']') j++;
  while (j < pattern.length && pattern[j] !== ']') j++;
  if (j >= pattern.length) return { regex: '\\[', next: start };
  return { regex: setRegex(pattern.slice(start, j)), next: j + 1 };
}

/** `!a-z]` → `[^a-z\]]`; Python's empty set never matches, its negation matches any character. */
function setRegex(inside: string): string {
  const negated = inside.startsWith('!');
  const stuff = negated ? inside.slice(1) : inside;
  if (stuff === '') return negated ? '.' : '(?!)';
  const body = [...stuff].map((ch) => ('\\][^'.includes(ch) ? `\\${ch}` : ch)).join('');
  const regex = `[${negated ? '^' : ''}${body}]`;
  try {
    new RegExp(regex);
    return regex;
  } catch {
    // a reversed range ("z-a") matches nothing in Python
    return '(?!)';
  }
}

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? `\\${c}` : c;
}
