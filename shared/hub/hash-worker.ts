// The hash pool's worker thread (started by hash-pool.ts; bundled by scripts/bundle.js as dist/bundle/hash-worker.js).
// It imports node's modules only and types: under jest, Node runs this file itself (type stripping).
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type {
  HashFileMessage,
  HashWorkerMessage,
  HashWorkerReply,
  UpdateMessage,
  WorkerError,
} from './hash-worker-messages.js';

const port = parentPort!;
const hashes = new Map<number, Hash>();
const READ_BYTES = 4 * 1024 * 1024;

function reply(message: HashWorkerReply): void {
  port.postMessage(message);
}

function workerError(err: unknown): WorkerError {
  const e = err as { message?: unknown; code?: unknown };
  return { message: String(e.message ?? err), code: typeof e.code === 'string' ? e.code : undefined };
}

/** Hashes a slab; the slab is always given back. */
function update(m: UpdateMessage): void {
  let error: WorkerError | undefined;
  try {
    hashes.get(m.id)?.update(new Uint8Array(m.slab, m.offset, m.length));
  } catch (err) {
    error = workerError(err);
  }
  reply({ op: 'returned', id: m.id, error });
}

/** The hash of the first `m.length` bytes of `m.path` (all when negative), read in 4 MiB pieces. */
function hashFile(m: HashFileMessage): Hash {
  const hash = createHash(m.algorithm).update(m.prefix);
  const fd = openSync(m.path, 'r');
  try {
    const buf = Buffer.allocUnsafe(READ_BYTES);
    for (let pos = 0; m.length < 0 || pos < m.length;) {
      const want = m.length < 0 ? buf.length : Math.min(buf.length, m.length - pos);
      const n = want === 0 ? 0 : readSync(fd, buf, 0, want, pos);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  return hash;
}

function forget(id: number): void {
  hashes.delete(id);
}

/** The hash of a whole file, or (with `keep`) its first bytes as stream `m.id`, resumed by later updates. */
function answerHashFile(m: HashFileMessage): void {
  try {
    const hash = hashFile(m);
    if (m.keep) hashes.set(m.id, hash);
    reply({ op: 'digest', id: m.id, digest: m.keep ? '' : hash.digest('hex') });
  } catch (err) {
    reply({ op: 'digest', id: m.id, error: workerError(err) });
  }
}

function answerDigest(id: number): void {
  const digest = hashes.get(id)?.digest('hex') ?? '';
  forget(id);
  reply({ op: 'digest', id, digest });
}

port.on('message', (m: HashWorkerMessage) => {
  switch (m.op) {
    case 'create':
      hashes.set(m.id, createHash(m.algorithm).update(m.prefix));
      break;
    case 'update':
      update(m);
      break;
    case 'digest':
      answerDigest(m.id);
      break;
    case 'drop':
      forget(m.id);
      break;
    case 'file':
      answerHashFile(m);
      break;
  }
});
