import type { FileHandle } from 'node:fs/promises';
import { AppError } from '../errors/app-error.js';
import type { DiskGuard } from '../disk/disk-guard.js';
import { blobHashSpec, hashPool } from './hash-pool.js';
import { openBlobBody, type BlobBody, type BlobRequest } from './open-blob-body.js';
import { openBlobSocket, type BlobSocket } from './open-blob-socket.js';
import { SlabWriter, type BlobProgress } from './slab-writer.js';
import type { BodySink } from './socket-get.js';

/** Files from this size on are read over a socket of their own, straight into slabs ({@link openBlobSocket}). */
const SOCKET_MIN_BYTES = 16 * 1024 * 1024;

export interface ReceiveBlobParams {
  request: BlobRequest;
  /** the partial file, open for writing; holds `progress.offset` bytes */
  handle: FileHandle;
  /** the partial file opened with O_DIRECT, for aligned slabs (null: all writes through the page cache) */
  directHandle?: FileHandle | null | undefined;
  progress: BlobProgress;
  diskGuard?: DiskGuard | undefined;
  /** called with each slab's byte count once it is on disk (metrics) */
  onBytes?: ((bytes: number) => void) | undefined;
  /**
   * files at least this big are read over a socket of their own, straight into slabs (not with a caller's
   * `request.dispatcher`); smaller ones through undici's pooled connections @default SOCKET_MIN_BYTES
   */
  socketMinBytes?: number | undefined;
}

/**
 * One attempt: GET the file from `progress.offset` (Range) and write what arrives after the partial file's
 * bytes, hashing it. The hash is updated only with bytes already written, so after any failure the hash and
 * `progress.offset` still describe exactly what is on disk and the next attempt continues from there. A server
 * that ignores the Range restarts the file from zero.
 * @throws AppError DOWNLOAD_INTEGRITY when the body runs past the file's size, DOWNLOAD_INCOMPLETE when it ends
 *   short; what the requests and the writes throw
 */
export async function receiveBlob(params: ReceiveBlobParams): Promise<void> {
  const { request, progress } = params;
  if (progress.offset === request.file.size) return;
  const bySocket = request.dispatcher === undefined && request.file.size >= (params.socketMinBytes ?? SOCKET_MIN_BYTES);
  const opened = bySocket ? await openBlobSocket(request, progress.offset) : null;
  if (opened !== null) await receiveFromSocket(params, opened);
  else await receiveFromStream(params, await openBlobBody(request, progress.offset));
  if (progress.offset !== request.file.size) {
    throw new AppError({
      code: 'DOWNLOAD_INCOMPLETE',
      statusCode: 502,
      message: `${request.file.path}: body ended at ${progress.offset} of ${request.file.size} bytes`,
    });
  }
}

function sentTooMuch(path: string, size: number): AppError {
  return new AppError({
    code: 'DOWNLOAD_INTEGRITY',
    statusCode: 502,
    message: `${path}: the Hub sent more than ${size} bytes`,
  });
}

/** The body replaces the partial file: empty it and start the hash again. */
async function restartFromZero(params: ReceiveBlobParams): Promise<void> {
  const { progress, request } = params;
  await params.handle.truncate(0);
  progress.offset = 0;
  progress.hash.dispose();
  progress.hash = hashPool.stream(blobHashSpec(request.file));
}

/** undici's body, chunk by chunk, copied into slabs. */
async function receiveFromStream(params: ReceiveBlobParams, body: BlobBody): Promise<void> {
  const { progress, request } = params;
  const { file } = request;
  if (body.restartFromZero) await restartFromZero(params);
  const writer = new SlabWriter({ ...params, fileBytes: request.file.size });
  let received = progress.offset;
  try {
    for await (const chunk of body.stream) {
      const buf = chunk as Buffer;
      progress.networkBytes += buf.length;
      received += buf.length;
      if (received > file.size) {
        writer.discard();
        throw sentTooMuch(file.path, file.size);
      }
      const wait = writer.push(buf);
      if (wait) await wait;
    }
  } finally {
    // Bytes received before a dropped connection are a valid prefix: keep them, so the retry resumes after them.
    await writer.flush();
  }
}

/** A socket's body, read by the kernel straight into slabs (announced length checked before the first byte). */
async function receiveFromSocket(params: ReceiveBlobParams, opened: BlobSocket): Promise<void> {
  const { progress, request } = params;
  const { response } = opened;
  if (opened.restartFromZero) await restartFromZero(params);
  if (progress.offset + response.contentLength > request.file.size) {
    response.close();
    throw sentTooMuch(request.file.path, request.file.size);
  }
  const writer = new SlabWriter({ ...params, fileBytes: request.file.size });
  const counted: BodySink = {
    space: () => writer.space(),
    commit: (bytes) => {
      progress.networkBytes += bytes;
      writer.commit(bytes);
    },
    push: (bytes) => {
      progress.networkBytes += bytes.length;
      return writer.push(bytes);
    },
    ready: () => writer.ready(),
  };
  try {
    await response.readBody(counted);
  } finally {
    // as above: what arrived before a dropped connection is kept for the retry
    await writer.flush();
  }
}
