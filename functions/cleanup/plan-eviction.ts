import { isCommitHash } from '../../shared/hf-cache/cache-paths.js';
import type { PodUsage } from '../../shared/k8s/list-pods.js';
import { parseModelUri, type ModelUri } from '../../shared/mlflow/parse-model-uri.js';
import type { ScannedEntry } from './scan-cache.js';

/** Why an entry goes. */
export type RemoveReason = 'ttl' | 'lru';
/** Why an entry stays. */
export type KeepReason = 'in-use' | 'locked' | 'recent' | 'under-limit';

export interface EvictionDecision {
  entry: ScannedEntry;
  action: 'remove' | 'keep';
  reason: RemoveReason | KeepReason;
  /** the active pods that use it (for `in-use`) */
  pods?: string[];
}

/**
 * Decides which entries go, in two passes:
 * 1. every entry last used more than `ttlMs` ago (`ttl`);
 * 2. then, while the cache is above `maxBytes` (0 = unlimited), the least recently used of the rest (`lru`).
 * Never an entry with a lock (a fetch is writing it) or used by an active pod.
 */
export function planEviction(params: {
  entries: readonly ScannedEntry[];
  /** entry key → pods using it */
  inUse: ReadonlyMap<string, string[]>;
  locked: ReadonlySet<string>;
  ttlMs: number;
  /** 0: no size limit */
  maxBytes: number;
  now: Date;
}): EvictionDecision[] {
  const decisions = new Map<string, EvictionDecision>();
  const candidates: ScannedEntry[] = [];
  for (const entry of params.entries) {
    const pods = params.inUse.get(entry.key);
    if (pods) decisions.set(entry.key, { entry, action: 'keep', reason: 'in-use', pods });
    else if (params.locked.has(entry.key)) decisions.set(entry.key, { entry, action: 'keep', reason: 'locked' });
    else if (params.now.getTime() - entry.lastUsed.getTime() > params.ttlMs)
      decisions.set(entry.key, { entry, action: 'remove', reason: 'ttl' });
    else candidates.push(entry);
  }
  let total = params.entries.filter((e) => decisions.get(e.key)?.action !== 'remove').reduce((n, e) => n + e.bytes, 0);
  // oldest first; ties by key so the choice is stable
  candidates.sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime() || (a.key < b.key ? -1 : 1));
  for (const entry of candidates) {
    if (params.maxBytes > 0 && total > params.maxBytes) {
      decisions.set(entry.key, { entry, action: 'remove', reason: 'lru' });
      total -= entry.bytes;
    } else {
      decisions.set(entry.key, { entry, action: 'keep', reason: params.maxBytes > 0 ? 'under-limit' : 'recent' });
    }
  }
  return params.entries.flatMap((e) => decisions.get(e.key) ?? []);
}

/**
 * Entry key → names of the active pods whose fetch asks for what the entry holds: its manifest's `uri` or
 * `resolved` location, or the same registered model: for `models:/<name>/<stage>` and `models:/<name>@alias` any
 * version of it (a stage or alias can move to any version), for a pinned `models:/<name>/<version>` only entries
 * of that version (or whose version the manifest does not record). A pod whose model URI comes from a `valueFrom`
 * (unknown here) counts as using every entry.
 */
export function findEntriesInUse(entries: readonly ScannedEntry[], pods: readonly PodUsage[]): Map<string, string[]> {
  const inUse = new Map<string, string[]>();
  for (const pod of pods.filter((p) => p.active)) {
    const uris = pod.env.filter((e) => MODEL_URI_VARS.has(e.name)).map((e) => e.value);
    // a model URI from a ConfigMap/Secret ref cannot be matched here: the pod may use any entry, keep them all
    const unknown = pod.envFrom.some((name) => MODEL_URI_VARS.has(name));
    for (const entry of entries) {
      if (!unknown && !uris.some((uri) => isSameModel(uri, entry))) continue;
      inUse.set(entry.key, [...(inUse.get(entry.key) ?? []), pod.name]);
    }
  }
  return inUse;
}

/** The env vars through which pods name a model: fetch's and serve's (the seeds'). */
const MODEL_URI_VARS = new Set(['MODEL_URI', 'MLFLOW_MODEL_URI']);

function isSameModel(uri: string, entry: ScannedEntry): boolean {
  const source = entry.source;
  // no manifest: we cannot tell what it holds, so only TTL/size decide (fetch never serves such an entry)
  if (source === null) return false;
  if (uri === source.uri || uri === source.resolved) return true;
  if (uri.startsWith('hf://')) return isSameHfModel(uri, source);
  return isSameRegisteredModel(uri, source);
}

/**
 * `models:/<name>/…` and an entry of that registered model: a stage or alias can move to any version, so it may be
 * any of its entries; a pinned version only that version's (or an entry whose version is not recorded).
 */
function isSameRegisteredModel(uri: string, source: NonNullable<ScannedEntry['source']>): boolean {
  const asked = registeredModel(uri);
  if (asked === null || (asked.name !== source.name && asked.name !== registeredModel(source.uri)?.name)) return false;
  return asked.version === undefined || source.version === undefined || asked.version === source.version;
}

/**
 * `hf://org/name[@revision]` and an hf entry of that repo: a branch or tag can move to any commit (as a stage
 * can), so it may be any of the repo's entries; a commit only its own.
 */
function isSameHfModel(uri: string, source: NonNullable<ScannedEntry['source']>): boolean {
  const asked = tryParseModelUri(uri);
  if (asked?.kind !== 'hf' || asked.repo !== source.name || !source.resolved.startsWith('hf://')) return false;
  return !isCommitHash(asked.revision) || source.resolved === `hf://${asked.repo}@${asked.revision}`;
}

/**
 * `models:/<name>/<version|stage>` or `models:/<name>@<alias>` (shared/mlflow's grammar) → the registered model's
 * name, and its version when the URI pins one; null for anything else.
 */
function registeredModel(uri: string): { name: string; version?: string } | null {
  const parsed = tryParseModelUri(uri);
  if (parsed?.kind === 'registry-version') return { name: parsed.name, version: parsed.version };
  if (parsed?.kind === 'registry-stage' || parsed?.kind === 'registry-alias') return { name: parsed.name };
  return null;
}

/** parseModelUri, with null for what it refuses (a pod's env may hold anything). */
function tryParseModelUri(uri: string): ModelUri | null {
  try {
    return parseModelUri(uri);
  } catch {
    return null;
  }
}
