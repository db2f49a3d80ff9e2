import path from 'node:path';
import { repoIdProblem } from '../hub/repo-id-problem.js';

/** A model URI as `modelctl fetch` accepts it (see {@link parseModelUri}). */
export type ModelUri =
  | { kind: 'registry-version'; name: string; version: string }
  | { kind: 'registry-stage'; name: string; stage: string }
  | { kind: 'registry-alias'; name: string; alias: string }
  | { kind: 'logged-model'; modelId: string }
  | { kind: 'run'; runId: string; artifactPath: string }
  | { kind: 'mlflow-artifacts'; artifactPath: string }
  | { kind: 'local'; dir: string }
  | { kind: 'hf'; repo: string; revision: string };

/**
 * The one model-URI grammar: fetch downloads what it accepts, and deploy refuses what it refuses.
 * Parses `models:/name/version`, `models:/name/Stage` (`latest` = highest version), `models:/name@alias`,
 * `models:/m-<id>`, `runs:/<run>/<path>`, `mlflow-artifacts:/<path>`, `hf://[org/]name[@revision]` (the repo id as {@link repoIdProblem} allows it) and a local
 * path (absolute, `./…`, or `file://…`).
 * @throws Error naming what is wrong; the caller turns it into a config error
 */
export function parseModelUri(uri: string): ModelUri {
  const trimmed = uri.trim();
  if (trimmed.startsWith('models:/')) return parseModels(trimmed.slice('models:/'.length), uri);
  if (trimmed.startsWith('runs:/')) return parseRuns(trimmed.slice('runs:/'.length), uri);
  if (trimmed.startsWith('mlflow-artifacts:')) return { kind: 'mlflow-artifacts', artifactPath: proxyPathOf(trimmed) };
  if (trimmed.startsWith('hf://')) return parseHf(trimmed.slice('hf://'.length), uri);
  if (trimmed.startsWith('file://')) return { kind: 'local', dir: new URL(trimmed).pathname };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) throw new Error(`unsupported model URI scheme: ${schemeOf(trimmed)}`);
  if (trimmed === '') throw new Error('model URI is empty');
  return { kind: 'local', dir: path.resolve(trimmed) };
}

function parseModels(rest: string, uri: string): ModelUri {
  const clean = rest.replace(/^\/+/, '').replace(/\/+$/, '');
  if (/^m-[0-9a-f]+$/i.test(clean)) return { kind: 'logged-model', modelId: clean };
  const at = clean.lastIndexOf('@');
  if (at > 0 && !clean.slice(at).includes('/')) {
    return { kind: 'registry-alias', name: clean.slice(0, at), alias: nonEmpty(clean.slice(at + 1), 'alias', uri) };
  }
  const slash = clean.lastIndexOf('/');
  if (slash <= 0)
    throw new Error(`expected models:/<name>/<version|stage>, models:/<name>@<alias> or models:/m-<id>, got ${uri}`);
  const name = clean.slice(0, slash);
  const suffix = nonEmpty(clean.slice(slash + 1), 'version or stage', uri);
  if (/^\d+$/.test(suffix)) return { kind: 'registry-version', name, version: String(Number(suffix)) };
  return { kind: 'registry-stage', name, stage: suffix };
}

function parseRuns(rest: string, uri: string): ModelUri {
  const clean = rest.replace(/^\/+/, '');
  const slash = clean.indexOf('/');
  const runId = slash < 0 ? clean : clean.slice(0, slash);
  const artifactPath = slash < 0 ? '' : clean.slice(slash + 1).replace(/\/+$/, '');
  if (!/^[0-9a-zA-Z_-]+$/.test(runId)) throw new Error(`expected runs:/<run_id>/<path>, got ${uri}`);
  assertRelative(artifactPath, uri);
  return { kind: 'run', runId, artifactPath };
}

function parseHf(rest: string, uri: string): ModelUri {
  const at = rest.indexOf('@');
  const repo = at < 0 ? rest : rest.slice(0, at);
  const revision = at < 0 ? 'main' : nonEmpty(rest.slice(at + 1), 'revision', uri);
  const problem = repoIdProblem(repo);
  if (problem !== null)
    throw new Error(`expected hf://<org>/<name> or hf://<name>[@revision] (${problem}), got ${uri}`);
  return { kind: 'hf', repo, revision };
}

/**
 * The proxy path of a `mlflow-artifacts:` URI: `mlflow-artifacts:/1/x` and `mlflow-artifacts://host:5000/1/x`
 * both give `1/x` (the host form names the tracking server; we always ask our own).
 */
export function proxyPathOf(artifactUri: string): string {
  const rest = artifactUri.replace(/^mlflow-artifacts:/, '');
  const withoutHost = rest.startsWith('//') ? rest.slice(2).replace(/^[^/]*/, '') : rest;
  const clean = decodeURIComponent(withoutHost).replace(/^\/+/, '').replace(/\/+$/, '');
  assertRelative(clean, artifactUri);
  return clean;
}

function assertRelative(p: string, uri: string): void {
  if (p.split('/').some((part) => part === '..') || p.includes('\\'))
    throw new Error(`path climbs out of its root: ${uri}`);
}

function nonEmpty(value: string, what: string, uri: string): string {
  if (value === '') throw new Error(`missing ${what} in ${uri}`);
  return value;
}

function schemeOf(uri: string): string {
  return uri.slice(0, uri.indexOf(':') + 1);
}
