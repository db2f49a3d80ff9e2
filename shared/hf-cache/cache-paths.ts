import path from 'node:path';
import { repoIdProblem } from '../hub/repo-id-problem.js';
import { resolveRepoPathProblem } from '../hub/resolve-repo-path.js';
import { AppError } from '../errors/app-error.js';

/** The codes shared/hf-cache throws: names that would not map to one place in the cache. */
export type HfCacheErrorCode = 'INVALID_REPO_ID' | 'INVALID_REVISION' | 'UNSAFE_REPO_PATH';

declare module '../errors/app-error.js' {
  interface ErrorCodes {
    hfCache: HfCacheErrorCode;
  }
}

/** A 40-hex git commit id, as `refs/{revision}` holds it and `snapshots/{commit}` is named. */
const COMMIT_RE = /^[0-9a-f]{40}$/;
/** A revision name usable as a path under `refs/` (branch, tag, `refs/pr/1`). */
const REVISION_RE = /^[A-Za-z0-9_.\-/]{1,200}$/;

/** True for a full 40-hex commit id. */
export function isCommitHash(value: string): boolean {
  return COMMIT_RE.test(value);
}

/**
 * Refuses a repo id that would not map to exactly one cache folder ({@link repoIdProblem}: no `--`, the folder
 * separator, no `..`).
 * @throws AppError INVALID_REPO_ID
 */
export function assertRepoId(repo: string): void {
  const problem = repoIdProblem(repo);
  if (problem !== null) {
    throw new AppError({
      code: 'INVALID_REPO_ID',
      message: `invalid Hugging Face repo id ${JSON.stringify(repo)} (expected org/name or name): ${problem}`,
      statusCode: 400,
    });
  }
}

/**
 * Refuses a revision that could escape `refs/` or `snapshots/`.
 * @throws AppError INVALID_REVISION
 */
export function assertRevision(revision: string): void {
  const parts = revision.split('/');
  if (!REVISION_RE.test(revision) || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new AppError({ code: 'INVALID_REVISION', message: `invalid revision "${revision}"`, statusCode: 400 });
  }
}

/**
 * Refuses a file path from the Hub that is absolute, climbs out (`..`), uses backslashes, a drive letter, empty
 * segments or control characters: the one validator warm, the agent and fetch share (resolveRepoPathProblem).
 * @throws AppError UNSAFE_REPO_PATH
 */
export function assertRepoFilePath(filePath: string): void {
  const problem = resolveRepoPathProblem(filePath);
  if (problem !== null) {
    throw new AppError({
      code: 'UNSAFE_REPO_PATH',
      message: `refusing unsafe file path in repo: ${JSON.stringify(filePath)} (${problem})`,
      statusCode: 400,
    });
  }
}

/** `org/name` → `models--org--name`, `gpt2` → `models--gpt2` (huggingface_hub `repo_folder_name` for model repos). */
export function repoFolderName(repo: string): string {
  assertRepoId(repo);
  return `models--${repo.split('/').join('--')}`;
}

/** The folders and files of one repo in a Hugging Face cache (`HF_HUB_CACHE`). */
export interface RepoCachePaths {
  cacheDir: string;
  repo: string;
  /** `<cacheDir>/models--org--name` */
  repoDir: string;
  blobsDir: string;
  snapshotsDir: string;
  refsDir: string;
  /** `<cacheDir>/.locks/models--org--name` (huggingface_hub's lock folder) */
  locksDir: string;
}

/** Paths of `repo` under `cacheDir`. */
export function repoCachePaths(cacheDir: string, repo: string): RepoCachePaths {
  const folder = repoFolderName(repo);
  const repoDir = path.join(cacheDir, folder);
  return {
    cacheDir,
    repo,
    repoDir,
    blobsDir: path.join(repoDir, 'blobs'),
    snapshotsDir: path.join(repoDir, 'snapshots'),
    refsDir: path.join(repoDir, 'refs'),
    locksDir: path.join(cacheDir, '.locks', folder),
  };
}

/** `blobs/{etag}`. */
export function blobPath(paths: RepoCachePaths, etag: string): string {
  return path.join(paths.blobsDir, etag);
}

/** `.locks/models--org--name/{etag}.lock`, the file huggingface_hub flocks while it downloads `etag`. */
export function blobLockPath(paths: RepoCachePaths, etag: string): string {
  return path.join(paths.locksDir, `${etag}.lock`);
}

/** `snapshots/{commit}`: the snapshot folder huggingface_hub hands its users. */
export function snapshotDir(paths: RepoCachePaths, commit: string): string {
  return path.join(paths.snapshotsDir, commit);
}

/** `snapshots/{commit}/{filePath}`, after checking that `filePath` stays inside the snapshot. */
export function snapshotFilePath(paths: RepoCachePaths, commit: string, filePath: string): string {
  assertRepoFilePath(filePath);
  return path.join(snapshotDir(paths, commit), ...filePath.split('/'));
}

/** `refs/{revision}`. */
export function refPath(paths: RepoCachePaths, revision: string): string {
  assertRevision(revision);
  return path.join(paths.refsDir, ...revision.split('/'));
}

/**
 * The relative symlink target from `snapshots/{commit}/{filePath}` to `blobs/{etag}`: `../../blobs/{etag}`
 * plus one `../` per sub-folder, so the cache works wherever the disk is mounted.
 */
export function blobLinkTarget(filePath: string, etag: string): string {
  const depth = filePath.split('/').length - 1;
  return ['..', '..', ...Array<string>(depth).fill('..'), 'blobs', etag].join('/');
}

/** Strips `W/` and quotes from an ETag header value, as huggingface_hub does. */
export function normalizeEtag(value: string): string {
  return value.replace(/^W\//, '').replace(/^"+|"+$/g, '');
}
