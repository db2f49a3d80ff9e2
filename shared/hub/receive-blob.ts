import type { FileHandle } from 'node:fs/promises';
import { AppError } from '../errors/app-error.js';
import type { DiskGuard } from '../hf-cache/disk-guard.js';
import { blobHashSpec, hashPool } from './hash-pool.js';
import { openBlobBody, type BlobRequest } from './open-blob-body.js';
import { SlabWriter, type BlobProgress } from './slab-writer.js';

export interface ReceiveBlobParams {
  request: BlobRequest;
  /** the partial file, open for writing; holds `progress.offset` bytes */
  handle: FileHandle;
  progress: BlobProgress;
  diskGuard?: DiskGuard | undefined;
  /** called with each slab's byte count once it is on disk (metrics) */
  onBytes?: ((bytes: number) => void) | undefined;
}

/**
 * One attempt: GET the file from `progress.offset` (Range) and write what arrives after the partial file's
 * bytes, hashing it. The hash is updated only with bytes already written, so after any failure the hash and
 * `progress.offset` still describe exactly what is on disk and the next attempt continues from there. A server
 * that ignores the Range restarts the file from zero.
 * @throws AppError DOWNLOAD_INTEGRITY when the body runs past the file's size, DOWNLOAD_INCOMPLETE when it ends
 *   short; what {@link openBlobBody} and the writes throw
 */
export async function receiveBlob(params: ReceiveBlobParams): Promise<void> {
  const { request, handle, progress } = params;
  const { file } = request;
  if (progress.offset === file.size) return;
  const body = await openBlobBody(request, progress.offset);
  if (body.restartFromZero) {
    await handle.truncate(0);
    progress.offset = 0;
    progress.hash.dispose();
    progress.hash = hashPool.stream(blobHashSpec(file));
  }
  const writer = new SlabWriter(params);
  let received = progress.offset;
  try {
    for await (const chunk of body.stream) {
      const buf = chunk as Buffer;
      progress.networkBytes += buf.length;
      received += buf.length;
      if (received > file.size) {
        writer.discard();
        throw new AppError({
          code: 'DOWNLOAD_INTEGRITY',
          statusCode: 502,
          message: `${file.path}: the Hub sent more than ${file.size} bytes`,
        });
      }
      const wait = writer.push(buf);
      if (wait) await wait;
    }
  } finally {
    // Bytes received before a dropped connection are a valid prefix: keep them, so the retry resumes after them.
    await writer.flush();
  }
  if (progress.offset !== file.size) {
    throw new AppError({
      code: 'DOWNLOAD_INCOMPLETE',
      statusCode: 502,
      message: `${file.path}: body ended at ${progress.offset} of ${file.size} bytes`,
    });
  }
}
