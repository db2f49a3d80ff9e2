import { createHash } from 'node:crypto';
import path from 'node:path';

/**
 * On-disk format of the shared PVC model cache (`CACHE_PATH`, ReadWriteMany), version 1.
 *
 * ```
 * CACHE_PATH/
 *   entries/<key>/              one complete model, published by ONE atomic rename of a finished folder
 *     model/                    the model files; for MLflow this is the MLflow model dir (it holds `MLmodel`)
 *     manifest.json             written LAST inside the temp folder, before the rename (see manifest.ts):
 *                               format, key, source identity, file list with sizes and sha256 digests
 *     envs/<hash>/              MODEL_ENV=install: the model's requirements.txt as a virtualenv (shared/model/model-env.ts),
 *                               built under the entry's lease as envs/.building-*, published by one rename with
 *                               env.json inside; evicted with the entry
 *     last-used                 empty file whose mtime is the last time a pod used the entry (fetch hit or
 *                               download); cleanup evicts by it. Written after publish, so not in the manifest.
 *   locks/<key>.lock            lease of the one process downloading <key> (see cache-lock.ts): JSON
 *                               {pid, host, token, acquiredAt}; the holder bumps its mtime every heartbeat
 *   refs/<ref-hash>             text file holding a <key>: an immutable request (models:/name/7, runs:/…,
 *                               models:/m-<id>, mlflow-artifacts:/…) → the entry it resolved to, so a hit on
 *                               such a URI needs no network. Never written for stages or aliases (they move).
 *   tmp/<key>.<random>/         downloads in progress and entries being deleted; never read by consumers.
 *                               Anything here older than a day belongs to a dead process and may be removed.
 * ```
 *
 * Entry keys: `<kind>-<first 32 hex of sha256(identity)>`, where the identity is the artifact location the
 * request resolved to plus the server that serves it (e.g. `mlflow\nhttp://mlflow:5000\nmlflow-artifacts:/1/models/m-ab/artifacts`).
 * So `models:/m/Production` and `models:/m/7` share one entry when they resolve to the same version.
 *
 * Rules for anyone touching the cache (fetch, cleanup):
 * - an `entries/<key>` folder without a valid `manifest.json` is incomplete or corrupt: never serve it;
 * - delete an entry by renaming it into `tmp/` first (atomic), then removing it there, never in place;
 * - do not delete an entry while `locks/<key>.lock` is fresh (a writer holds it) or while a pod uses it.
 */
export const CACHE_FORMAT_VERSION = 1;

/** The kinds of source an entry can hold; the first part of its key. */
export type EntryKind = 'mlflow' | 'hf';

/** Paths of the cache's top-level folders under `cacheRoot`. */
export function cacheDirs(cacheRoot: string): { entries: string; locks: string; refs: string; tmp: string } {
  return {
    entries: path.join(cacheRoot, 'entries'),
    locks: path.join(cacheRoot, 'locks'),
    refs: path.join(cacheRoot, 'refs'),
    tmp: path.join(cacheRoot, 'tmp'),
  };
}

/** Paths belonging to one entry. */
export interface EntryPaths {
  key: string;
  /** `entries/<key>` */
  dir: string;
  /** `entries/<key>/model`: what consumers read */
  modelDir: string;
  /** `entries/<key>/manifest.json` */
  manifest: string;
  /** `entries/<key>/last-used` */
  lastUsed: string;
  /** `locks/<key>.lock` */
  lock: string;
}

/** The file and folder names inside an entry. */
export const ENTRY_MODEL_DIR = 'model';
export const ENTRY_MANIFEST = 'manifest.json';
export const ENTRY_LAST_USED = 'last-used';

/** Where entry `key` lives under `cacheRoot`. */
export function entryPaths(cacheRoot: string, key: string): EntryPaths {
  assertEntryKey(key);
  const dirs = cacheDirs(cacheRoot);
  const dir = path.join(dirs.entries, key);
  return {
    key,
    dir,
    modelDir: path.join(dir, ENTRY_MODEL_DIR),
    manifest: path.join(dir, ENTRY_MANIFEST),
    lastUsed: path.join(dir, ENTRY_LAST_USED),
    lock: path.join(dirs.locks, `${key}.lock`),
  };
}

const KEY_PATTERN = /^(mlflow|hf)-[0-9a-f]{32}$/;

/** True when `name` is an entry key (a folder name under `entries/` that this format created). */
export function isEntryKey(name: string): boolean {
  return KEY_PATTERN.test(name);
}

function assertEntryKey(key: string): void {
  if (!isEntryKey(key)) throw new Error(`not a model cache entry key: ${JSON.stringify(key)}`);
}

/**
 * The entry key of a resolved identity: `<kind>-<32 hex of sha256(parts joined by "\n")>`.
 * Pass credential-free parts only (server origin, artifact location, commit).
 */
export function entryKey(kind: EntryKind, identity: readonly string[]): string {
  return `${kind}-${sha256Hex([kind, ...identity].join('\n')).slice(0, 32)}`;
}

/** The `refs/` file for an immutable request (server origin + URI). */
export function requestRefPath(cacheRoot: string, request: readonly string[]): string {
  return path.join(cacheDirs(cacheRoot).refs, sha256Hex(request.join('\n')).slice(0, 40));
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
