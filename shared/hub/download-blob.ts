import { chmod, mkdir, rename, stat } from 'node:fs/promises';
import type { Dispatcher } from 'undici';
import { AppError } from '../errors/app-error.js';
import { blobLockPath, blobPath, type RepoCachePaths } from '../hf-cache/cache-paths.js';
import type { DiskGuard } from '../disk/disk-guard.js';
import { deleteResumeRecord } from '../hf-cache/resume-record.js';
import { withFileLock } from '../hf-cache/with-file-lock.js';
import { updateLedger } from '../hf-cache/write-ledger.js';
import type { Logger } from '../log/create-logger.js';
import type { HashStream } from './hash-pool.js';
import type { HubAccess } from './hub-fetch.js';
import type { RepoFile } from './list-repo-files.js';
import {
  closePartialBlobFile,
  dropPartialBlobFile,
  openPartialBlobFile,
  type PartialBlobFile,
} from './partial-blob-file.js';
import { receiveBlob } from './receive-blob.js';
import type { BlobProgress } from './slab-writer.js';
import { withHubRetry, type HubRetryPolicy } from './with-hub-retry.js';

/** What one blob download did. */
export interface BlobOutcome {
  /** false when `blobs/{etag}` was already there (ours, another agent's, or huggingface_hub's) */
  downloaded: boolean;
  /** bytes received over the network for this blob */
  networkBytes: number;
  /** bytes found on disk from an earlier, interrupted run */
  resumedBytes: number;
}

export interface DownloadBlobParams {
  access: HubAccess;
  paths: RepoCachePaths;
  commit: string;
  file: RepoFile;
  /** where resume records and the ownership ledger live, outside HF_HUB_CACHE */
  stateDir: string;
  diskGuard?: DiskGuard | undefined;
  dispatcher?: Dispatcher | undefined;
  retry?: HubRetryPolicy | undefined;
  /** called with each chunk's byte count as it lands on disk (metrics) */
  onBytes?: ((bytes: number) => void) | undefined;
  signal?: AbortSignal | undefined;
  log: Logger;
  /** files at least this big are read over a socket of their own, straight into slabs @default 16 MiB */
  socketMinBytes?: number | undefined;
  /** files at least this big are recorded for resuming after a restart @default 16 MiB */
  resumeMinBytes?: number | undefined;
}

const NOT_DOWNLOADED: BlobOutcome = { downloaded: false, networkBytes: 0, resumedBytes: 0 };

/**
 * Puts `blobs/{etag}` of one file in the cache, safely: under huggingface_hub's flock for the etag, into a
 * unique `.modelctl-{etag}.{rand}.part` temp file in `blobs/` (recorded in the state dir so a later run
 * resumes it with `Range`), streamed with bounded memory, verified (size, and sha256 for LFS files or the git
 * blob sha1 for small ones), fsynced, then renamed to `blobs/{etag}`. Nothing partial ever has the final name.
 */
export async function downloadBlob(params: DownloadBlobParams): Promise<BlobOutcome> {
  const target = blobPath(params.paths, params.file.etag);
  if (await hasSize(target, params.file.size)) return NOT_DOWNLOADED;
  await mkdir(params.paths.blobsDir, { recursive: true });
  const lock = {
    lockPath: blobLockPath(params.paths, params.file.etag),
    ...(params.signal ? { signal: params.signal } : {}),
  };
  return withFileLock(lock, async () => {
    // Another process may have published it while we waited for the lock.
    if (await hasSize(target, params.file.size)) return NOT_DOWNLOADED;
    return downloadVerified(params, target);
  });
}

/** Bytes that fail their hash are dropped and fetched again from zero, this many times at most. */
const INTEGRITY_ATTEMPTS = 3;

async function downloadVerified(params: DownloadBlobParams, target: string): Promise<BlobOutcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await downloadAndPublish(params, target);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'DOWNLOAD_INTEGRITY' || attempt >= INTEGRITY_ATTEMPTS) throw err;
      params.log.warn({ path: params.file.path, attempt, err }, 'blob failed its hash check: fetching it again');
    }
  }
}

/** 1. open (or resume) the partial file; 2. fill it, retrying; 3. verify and fsync; 4. publish it. */
async function downloadAndPublish(params: DownloadBlobParams, target: string): Promise<BlobOutcome> {
  const { file } = params;
  const partial = await openPartialBlobFile(params);
  const progress: BlobProgress = { offset: partial.offset, hash: partial.hash, networkBytes: 0 };
  const resumedBytes = partial.offset;
  if (resumedBytes > 0) params.log.info({ path: file.path, etag: file.etag, resumedBytes }, 'resuming blob');
  try {
    await receiveWithRetry(params, partial, progress);
    await verifyDigest(file, progress.hash);
    await partial.handle.sync();
  } catch (err) {
    progress.hash.dispose();
    await closePartialBlobFile(partial);
    // A failed hash or a full disk makes the partial file worthless: drop it. Otherwise keep it for resume.
    const code = (err as { code?: unknown }).code;
    if (code === 'DOWNLOAD_INTEGRITY' || code === 'NO_SPACE') await dropPartialBlobFile(params, partial.tempPath);
    throw err;
  }
  await closePartialBlobFile(partial);
  await publishBlob(params, partial.tempPath, target);
  return { downloaded: true, networkBytes: progress.networkBytes, resumedBytes };
}

function receiveWithRetry(params: DownloadBlobParams, partial: PartialBlobFile, progress: BlobProgress): Promise<void> {
  const { file } = params;
  const request = {
    access: params.access,
    repo: params.paths.repo,
    commit: params.commit,
    file,
    dispatcher: params.dispatcher,
    signal: params.signal,
  };
  return withHubRetry({
    operation: 'download',
    policy: params.retry,
    run: () =>
      receiveBlob({
        request,
        handle: partial.handle,
        directHandle: partial.directHandle,
        progress,
        diskGuard: params.diskGuard,
        onBytes: params.onBytes,
        socketMinBytes: params.socketMinBytes,
      }),
    log: params.log,
    logFields: { path: file.path },
    logMessage: 'blob download retry',
    signal: params.signal,
  });
}

/** The verified temp file becomes `blobs/{etag}` (readable by all, ours in the ledger); its record goes. */
async function publishBlob(params: DownloadBlobParams, tempPath: string, target: string): Promise<void> {
  const { paths, stateDir, file } = params;
  await chmod(tempPath, 0o644);
  await updateLedger(stateDir, paths.repo, (l) => void l.blobs.push(file.etag));
  await rename(tempPath, target);
  await deleteResumeRecord(stateDir, paths.repo, file.etag);
}

async function verifyDigest(file: RepoFile, hash: HashStream): Promise<void> {
  const digest = await hash.digest();
  if (digest !== file.etag) {
    throw new AppError({
      code: 'DOWNLOAD_INTEGRITY',
      statusCode: 502,
      message: `${file.path}: downloaded content hashes to ${digest}, expected ${file.etag}`,
    });
  }
}

async function hasSize(p: string, size: number): Promise<boolean> {
  return stat(p).then(
    (s) => s.isFile() && s.size === size,
    () => false,
  );
}
