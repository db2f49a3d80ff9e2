/**
 * What the hash pool (hash-pool.ts) and its worker threads (hash-worker.ts) say to each other. Messages from one
 * port arrive in order, so the updates of one stream are written and hashed in the order they were sent.
 */

/** sha256 for LFS files; sha1 over git's `blob {size}\0` header + content for the others. */
export interface HashSpec {
  algorithm: 'sha256' | 'sha1';
  /** hashed before the content (git's blob header) */
  prefix: string;
}

/** Starts stream `id` (the prefix already hashed). */
export interface CreateMessage extends HashSpec {
  op: 'create';
  id: number;
}

/**
 * Hashes `slab[offset, offset + length)` into stream `id`. The slab is shared memory: its owner leaves those bytes
 * alone until the {@link ReturnedReply}.
 */
export interface UpdateMessage {
  op: 'update';
  id: number;
  slab: SharedArrayBuffer;
  offset: number;
  length: number;
}

/** Ends stream `id`: answered by a {@link DigestReply}. */
export interface DigestMessage {
  op: 'digest';
  id: number;
}

/** Forgets stream `id` without a digest. */
export interface DropMessage {
  op: 'drop';
  id: number;
}

/**
 * Hashes the first `length` bytes of the file at `path` (all of it when `length` < 0). With `keep`, the hash
 * stays open as stream `id` (a partial download to resume) and the reply's digest is ''.
 */
export interface HashFileMessage extends HashSpec {
  op: 'file';
  id: number;
  path: string;
  length: number;
  keep?: boolean;
}

export type HashWorkerMessage = CreateMessage | UpdateMessage | DigestMessage | DropMessage | HashFileMessage;

/** An error as it crosses the thread boundary. */
export interface WorkerError {
  message: string;
  code?: string | undefined;
}

/** The worker is done with an {@link UpdateMessage}'s slab. */
export interface ReturnedReply {
  op: 'returned';
  id: number;
  error?: WorkerError | undefined;
}

/** The answer to a {@link DigestMessage} or a {@link HashFileMessage}. */
export interface DigestReply {
  op: 'digest';
  id: number;
  digest?: string;
  error?: WorkerError;
}

export type HashWorkerReply = ReturnedReply | DigestReply;
