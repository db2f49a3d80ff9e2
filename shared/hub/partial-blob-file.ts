import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { RepoCachePaths } from '../hf-cache/cache-paths.js';
import { deleteResumeRecord, readResumeRecord, writeResumeRecord } from '../hf-cache/resume-record.js';
import { blobHashSpec, hashPool, type HashStream } from './hash-pool.js';
import type { RepoFile } from './list-repo-files.js';

/** A blob's temp file in `blobs/`, open for writing, and the hash of what it holds. */
export interface PartialBlobFile {
  tempPath: string;
  handle: FileHandle;
  /** the same file opened for O_DIRECT writes; null where the platform or file system has none */
  directHandle: FileHandle | null;
  /** bytes it holds (a resumed download's prefix, or 0) */
  offset: number;
  /** has been handed exactly those bytes */
  hash: HashStream;
}

/** Which blob, in which cache, with its resume records in `stateDir`. */
export interface PartialBlobTarget {
  paths: RepoCachePaths;
  file: Pick<RepoFile, 'etag' | 'size' | 'isLfs'>;
  /** where resume records live, outside HF_HUB_CACHE */
  stateDir: string;
  /**
   * files at least this big get a resume record (a later run continues them); a smaller one is fetched again
   * whole, and saves the record's fsync'd write: on a repo of many small files those writes were most of the
   * time @default 16 MiB
   */
  resumeMinBytes?: number | undefined;
}

const RESUME_MIN_BYTES = 16 * 1024 * 1024;
/** Files from this size on get an O_DIRECT handle too (a smaller one has at most one full slab). */
const DIRECT_MIN_BYTES = 1024 * 1024;

/**
 * Opens the partial file a resume record points to and hashes what it holds (on a hash worker), or starts a new
 * `.modelctl-{etag}.{rand}.part`, recorded before anything is written to it (files of `resumeMinBytes` or more).
 * A recorded file larger than the blob, or recorded for another size, is deleted and started again.
 */
export async function openPartialBlobFile(target: PartialBlobTarget): Promise<PartialBlobFile> {
  const { file, paths, stateDir } = target;
  const resumable = file.size >= (target.resumeMinBytes ?? RESUME_MIN_BYTES);
  const record = resumable ? await readResumeRecord(stateDir, paths.repo, file.etag) : null;
  if (record !== null && record.size === file.size) {
    const tempPath = path.join(paths.blobsDir, record.temp);
    const size = await stat(tempPath).then(
      (s) => s.size,
      () => -1,
    );
    if (size >= 0 && size <= file.size) {
      const hash = await hashPool.streamFromFile(blobHashSpec(file), tempPath, size);
      const handle = await open(tempPath, 'r+');
      return { tempPath, handle, directHandle: await openDirect(tempPath, file.size), offset: size, hash };
    }
    await unlink(tempPath).catch(() => undefined);
  }
  const temp = `.modelctl-${file.etag}.${randomBytes(6).toString('hex')}.part`;
  // without a record, a partial file left by a kill is removed by the next run (removeStalePartials)
  if (resumable) await writeResumeRecord(stateDir, paths.repo, file.etag, { temp, size: file.size });
  const tempPath = path.join(paths.blobsDir, temp);
  const handle = await open(tempPath, 'w+');
  return {
    tempPath,
    handle,
    directHandle: await openDirect(tempPath, file.size),
    offset: 0,
    hash: hashPool.stream(blobHashSpec(file)),
  };
}

/**
 * `path` opened for O_DIRECT writes (slab-writer.ts writes its aligned slabs through it), or null where there is
 * no O_DIRECT (not Linux) or the file system refuses it at open (EINVAL: e.g. tmpfs before Linux 6.6).
 */
async function openDirect(path: string, size: number): Promise<FileHandle | null> {
  // undefined on platforms without O_DIRECT
  if (size < DIRECT_MIN_BYTES || constants.O_DIRECT === undefined) return null;
  return open(path, constants.O_WRONLY | constants.O_DIRECT).catch(() => null);
}

/** Closes both handles of a partial file. */
export async function closePartialBlobFile(partial: Pick<PartialBlobFile, 'handle' | 'directHandle'>): Promise<void> {
  await Promise.all([partial.handle.close(), partial.directHandle?.close()]);
}

/** Deletes a partial file nobody should resume, and its resume record. */
export async function dropPartialBlobFile(target: PartialBlobTarget, tempPath: string): Promise<void> {
  await unlink(tempPath).catch(() => undefined);
  await deleteResumeRecord(target.stateDir, target.paths.repo, target.file.etag);
}
