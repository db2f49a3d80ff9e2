import { readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import pLimit, { type LimitFunction } from 'p-limit';
import { AppError } from '../errors/app-error.js';
import { blobLockPath, blobPath, repoCachePaths, snapshotDir, type RepoCachePaths } from '../hf-cache/cache-paths.js';
import { linkSnapshotFile, removeStaleTempLinks } from '../hf-cache/link-snapshot-file.js';
import { partialFileEtag, readResumeRecord } from '../hf-cache/resume-record.js';
import { tryFileLock, withFileLock } from '../hf-cache/with-file-lock.js';
import { readLedger, updateLedger } from '../hf-cache/write-ledger.js';
import { writeRef } from '../hf-cache/write-ref.js';
import { writeTreeCache } from '../hf-cache/write-tree-cache.js';
import type { Logger } from '../log/create-logger.js';
import { downloadBlob, type DownloadBlobParams } from './download-blob.js';
import { filterRepoFiles } from './filter-repo-files.js';
import { blobHashSpec, hashPool } from './hash-pool.js';
import { listRepoFiles, type RepoFile } from './list-repo-files.js';
import { resolveRevision } from './resolve-revision.js';
import { withHubRetry } from './with-hub-retry.js';

/** What a snapshot download found and did. */
export interface SnapshotResult {
  commit: string;
  /** `<cacheDir>/models--org--name/snapshots/<commit>` */
  snapshotPath: string;
  /** files in the snapshot after the patterns */
  files: number;
  /** their total size */
  bytes: number;
  /** blobs fetched in this call */
  downloadedFiles: number;
  /** bytes received over the network in this call */
  networkBytes: number;
  /** bytes of partial files from earlier runs that were kept */
  resumedBytes: number;
}

/** What a snapshot download passes on to each file's download (the same access, state, guard, retry, log). */
type PerFileParams = Pick<
  DownloadBlobParams,
  'access' | 'stateDir' | 'diskGuard' | 'dispatcher' | 'retry' | 'onBytes' | 'signal' | 'log'
>;

export interface DownloadSnapshotParams extends PerFileParams {
  /** `HF_HUB_CACHE` */
  cacheDir: string;
  /** `org/name` */
  repo: string;
  /** branch, tag or commit; `refs/{revision}` is written last when it is not the commit @default 'main' */
  revision?: string | undefined;
  /** the commit `revision` was pinned to (the plan's); resolved on the Hub when absent */
  commit?: string | undefined;
  /** the file list at `commit` (the plan's); listed on the Hub when absent */
  files?: readonly RepoFile[] | undefined;
  /** `files` is every file of the commit (no pattern applied upstream): allows `trees/{commit}.json` @default false */
  filesAreComplete?: boolean | undefined;
  allowPatterns?: readonly string[] | undefined;
  ignorePatterns?: readonly string[] | undefined;
  /** files downloaded at once @default 8 */
  concurrency?: number | undefined;
  /** share one limit between models to bound the whole process */
  limit?: LimitFunction | undefined;
  /** re-hash blobs already on disk and replace those that do not match @default false */
  verifyHashes?: boolean | undefined;
}

/**
 * Downloads the files of `repo` at `revision` into the Hugging Face cache layout, huggingface_hub-compatibly:
 * blobs verified and renamed into `blobs/{etag}` under the etag's flock, then relative snapshot symlinks, then
 * `trees/{commit}.json` (only when no pattern left a file out), and `refs/{revision}` LAST. Idempotent: a
 * second call verifies what is there (sizes, links; hashes with `verifyHashes`), repairs what is not, and
 * with `commit` + `files` given makes no Hub request at all when the snapshot is complete.
 * @returns the snapshot folder and figures
 * @throws HubError (permanent: gated/401/404; or retries used up), AppError NO_SPACE when the missing bytes
 *   do not fit above the free-space minimum, AppError DOWNLOAD_INTEGRITY / UNSAFE_REPO_PATH
 */
export async function downloadSnapshot(params: DownloadSnapshotParams): Promise<SnapshotResult> {
  const paths = repoCachePaths(params.cacheDir, params.repo);
  const revision = params.revision ?? 'main';
  const log = params.log.child({ repo: params.repo, revision });
  // 1. pin the revision and list its files (both skipped when the plan already did it)
  const { commit, allFiles, files } = await listSnapshotFiles(params, log, revision);
  // 2. drop what killed processes left (partial files nobody can resume, temp snapshot links), re-check what is
  //    there, make room
  await removeStalePartials(paths, params.stateDir);
  await removeStaleTempLinks(snapshotDir(paths, commit));
  if (params.verifyHashes) await removeCorruptBlobs(paths, files, params.stateDir, log);
  const missing = await missingBlobs(paths, files);
  const toFetch = await bytesToFetch(paths, params.stateDir, missing);
  await params.diskGuard?.assertFits(toFetch, `${params.repo}@${revision} (${missing.length} files)`);
  // 3. blobs in parallel, then the snapshot links
  const figures = await fetchAndLink({ params, paths, commit, files, missing, log });
  // 4. trees/{commit}.json only if the snapshot holds every file of the commit, then the ref last
  const complete = params.files === undefined || params.filesAreComplete === true;
  if (complete && files.length === allFiles.length) await writeTreeCache({ paths, commit, files });
  if (await writeRef({ paths, revision, commit }))
    await updateLedger(params.stateDir, params.repo, (l) => void l.refs.push(revision));
  const bytes = files.reduce((sum, f) => sum + f.size, 0);
  return { commit, snapshotPath: snapshotDir(paths, commit), files: files.length, bytes, ...figures };
}

/**
 * The commit `revision` points at, every file of that commit, and the files the patterns select; the Hub is
 * asked only for what `params` does not already give.
 * @throws AppError NO_FILES_MATCH when the patterns select nothing
 */
async function listSnapshotFiles(
  params: DownloadSnapshotParams,
  log: Logger,
  revision: string,
): Promise<{ commit: string; allFiles: readonly RepoFile[]; files: RepoFile[] }> {
  // SIGTERM aborts the API calls in flight too, not only the waits between them
  const access = params.signal ? { ...params.access, signal: params.signal } : params.access;
  const commit =
    params.commit ??
    (await hubCall(params, log, () => resolveRevision({ access, repo: params.repo, revision }))).commit;
  const allFiles =
    params.files ?? (await hubCall(params, log, () => listRepoFiles({ access, repo: params.repo, commit })));
  const files = filterRepoFiles(allFiles, params);
  if (files.length === 0) {
    throw new AppError({
      code: 'NO_FILES_MATCH',
      statusCode: 400,
      message: `${params.repo}@${revision}: no file matches allow_patterns/ignore_patterns`,
    });
  }
  return { commit, allFiles, files };
}

async function hubCall<T>(params: DownloadSnapshotParams, log: Logger, run: () => Promise<T>): Promise<T> {
  return withHubRetry({ run, operation: 'download', policy: params.retry, log, signal: params.signal });
}

/** One file per etag that is not yet a complete blob. */
async function missingBlobs(paths: RepoCachePaths, files: readonly RepoFile[]): Promise<RepoFile[]> {
  const byEtag = new Map(files.map((f) => [f.etag, f]));
  const missing: RepoFile[] = [];
  for (const file of byEtag.values()) {
    const size = await stat(blobPath(paths, file.etag)).then(
      (s) => s.size,
      () => -1,
    );
    if (size !== file.size) missing.push(file);
  }
  return missing;
}

/** Bytes still to write for `missing`, counting what resumable partial files already hold. */
async function bytesToFetch(paths: RepoCachePaths, stateDir: string, missing: readonly RepoFile[]): Promise<number> {
  let total = 0;
  for (const file of missing) {
    const record = await readResumeRecord(stateDir, paths.repo, file.etag);
    const have = record
      ? await stat(path.join(paths.blobsDir, record.temp)).then(
          (s) => s.size,
          () => 0,
        )
      : 0;
    total += Math.max(0, file.size - have);
  }
  return total;
}

/**
 * Files under this size are downloaded in a lane of their own, beside the large ones: what a small file costs is
 * its round trips (lock, open, write, fsync, rename, each a trip through libuv's pool), not bandwidth. In one
 * lane, smallest first, the 200 small files of the bench repo held back every large file's start by ~1 s.
 */
const SMALL_FILE_BYTES = 16 * 1024 * 1024;
/** Snapshot links made at once (each a readlink, mkdir, symlink and rename on libuv's pool). */
const LINKS_AT_ONCE = 16;

async function fetchAndLink(args: {
  params: DownloadSnapshotParams;
  paths: RepoCachePaths;
  commit: string;
  files: readonly RepoFile[];
  missing: readonly RepoFile[];
  log: Logger;
}): Promise<Pick<SnapshotResult, 'downloadedFiles' | 'networkBytes' | 'resumedBytes'>> {
  const { params, paths, commit, log } = args;
  const limit = params.limit ?? pLimit(params.concurrency ?? 8);
  const figures = { downloadedFiles: 0, networkBytes: 0, resumedBytes: 0 };
  const fetchOne = async (file: RepoFile): Promise<void> => {
    const outcome = await downloadBlob({ ...params, paths, commit, file, log });
    if (!outcome.downloaded) return;
    figures.downloadedFiles += 1;
    figures.networkBytes += outcome.networkBytes;
    figures.resumedBytes += outcome.resumedBytes;
    log.debug({ path: file.path, bytes: file.size, networkBytes: outcome.networkBytes }, 'blob ready');
  };
  // The smallest file goes first, alone: a gated or vanished repo then costs one download request, not one
  // per file in flight.
  const [probe, ...rest] = [...args.missing].sort((a, b) => a.size - b.size);
  if (probe) await limit(() => fetchOne(probe));
  await fetchInLanes(rest, { large: limit, small: pLimit(limit.concurrency) }, fetchOne);
  await linkSnapshotFiles(params.stateDir, paths, commit, args.files);
  return figures;
}

/**
 * Large files in `lanes.large`, largest first (the longest transfers start at once), small ones in `lanes.small`
 * at the same time. After a failure, files not yet started are not started; the first failure is thrown.
 * @param files sorted by size, smallest first
 */
async function fetchInLanes(
  files: readonly RepoFile[],
  lanes: { large: LimitFunction; small: LimitFunction },
  fetchOne: (file: RepoFile) => Promise<void>,
): Promise<void> {
  let failure: { reason: unknown } | undefined;
  const guarded = (file: RepoFile) => async () => {
    if (failure) return;
    await fetchOne(file).catch((reason: unknown) => {
      failure ??= { reason };
    });
  };
  const small = files.filter((f) => f.size < SMALL_FILE_BYTES);
  const large = files.filter((f) => f.size >= SMALL_FILE_BYTES).reverse();
  await Promise.all([...large.map((f) => lanes.large(guarded(f))), ...small.map((f) => lanes.small(guarded(f)))]);
  if (failure) throw failure.reason;
}

/** Every file's snapshot link (its blob is in place), LINKS_AT_ONCE at a time; the ones made go to the ledger. */
async function linkSnapshotFiles(
  stateDir: string,
  paths: RepoCachePaths,
  commit: string,
  files: readonly RepoFile[],
): Promise<void> {
  const limit = pLimit(LINKS_AT_ONCE);
  const made = await Promise.all(
    files.map((file) =>
      limit(async () =>
        (await linkSnapshotFile({ paths, commit, filePath: file.path, etag: file.etag }))
          ? [`${commit}/${file.path}`]
          : [],
      ),
    ),
  );
  const created = made.flat();
  if (created.length > 0) await updateLedger(stateDir, paths.repo, (l) => void l.links.push(...created));
}

/**
 * Deletes `.modelctl-*.part` files in `blobs/` that no resume record of ours points to and whose etag lock is
 * free (no live download owns them): what a kill left behind when its record was lost.
 */
async function removeStalePartials(paths: RepoCachePaths, stateDir: string): Promise<void> {
  const names = await readdir(paths.blobsDir).catch(() => [] as string[]);
  for (const name of names) {
    const etag = partialFileEtag(name);
    if (etag === null) continue;
    const record = await readResumeRecord(stateDir, paths.repo, etag);
    if (record?.temp === name) continue;
    const release = await tryFileLock(blobLockPath(paths, etag));
    if (release === null) continue;
    try {
      await unlink(path.join(paths.blobsDir, name)).catch(() => undefined);
    } finally {
      await release();
    }
  }
}

/**
 * Re-hashes the blobs of `files` and deletes those (ours only) whose content no longer matches, so the
 * download that follows replaces them. A corrupt blob written by someone else is reported, not touched.
 */
async function removeCorruptBlobs(
  paths: RepoCachePaths,
  files: readonly RepoFile[],
  stateDir: string,
  log: Logger,
): Promise<void> {
  const owned = new Set((await readLedger(stateDir, paths.repo)).blobs);
  for (const file of new Map(files.map((f) => [f.etag, f])).values()) {
    const p = blobPath(paths, file.etag);
    const digest = await hashFile(p, file).catch(() => null);
    if (digest === null || digest === file.etag) continue;
    if (!owned.has(file.etag)) {
      log.warn({ path: file.path, etag: file.etag }, 'blob content does not match its etag (not ours: left alone)');
      continue;
    }
    log.warn({ path: file.path, etag: file.etag }, 'blob content does not match its etag: replacing');
    await withFileLock({ lockPath: blobLockPath(paths, file.etag) }, () => unlink(p).catch(() => undefined));
  }
}

/** The digest a blob should carry as its name: sha256 for LFS files, git blob sha1 otherwise (hashed on a worker). */
async function hashFile(p: string, file: Pick<RepoFile, 'isLfs' | 'size'>): Promise<string> {
  return hashPool.hashFile(blobHashSpec(file), p);
}
