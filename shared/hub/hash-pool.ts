import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { HashSpec, HashWorkerMessage, HashWorkerReply, UpdateMessage } from './hash-worker-messages.js';

export type { HashSpec } from './hash-worker-messages.js';

/** The digest a blob should carry as its name: sha256 of the content for LFS files, git blob sha1 otherwise. */
export function blobHashSpec(file: { isLfs: boolean; size: number }): HashSpec {
  return file.isLfs ? { algorithm: 'sha256', prefix: '' } : { algorithm: 'sha1', prefix: `blob ${file.size}\0` };
}

/**
 * The worker's file, beside this module: hash-worker.js in dist/ and dist/bundle/ (scripts/bundle.js puts it
 * beside the chunk that holds this module), hash-worker.ts when this module runs from the sources (jest).
 */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './hash-worker.ts' : './hash-worker.js', import.meta.url);

interface PoolWorker {
  worker: Worker;
  /** messages sent whose reply is still due: the worker keeps the process alive only while this is > 0 */
  pending: number;
  /** digest/file replies awaited, by stream id */
  digests: Map<number, { resolve: (d: string) => void; reject: (e: Error) => void }>;
  /** per stream id, who is told when each slab is done, in the order sent (the worker answers in order) */
  returns: Map<number, OnReturned[]>;
  /** set when the worker died: what is sent to it fails at once */
  dead?: Error;
}

/**
 * Hashes blob content on worker threads, so sha256/sha1 (about a second of CPU per GiB) never runs on the main
 * thread, which then only moves bytes from the sockets to the disk. One stream = one incremental hash bound to
 * one worker; slabs are shared memory, lent to the worker (not copied). The workers start on first use and
 * keep the process alive only while they have work.
 */
export class HashPool {
  private readonly size: number;
  /** by slot (stream id modulo size) */
  private readonly workers = new Map<number, PoolWorker>();
  private nextId = 1;

  /** @param size workers @default min(4, max(1, cores - 1)) */
  constructor(size?: number) {
    this.size = size ?? Math.min(4, Math.max(1, availableParallelism() - 1));
  }

  /** A new incremental hash (`prefix` already in it). */
  stream(spec: HashSpec): HashStream {
    const id = this.nextId++;
    const w = this.pick(id);
    this.post(w, { op: 'create', id, algorithm: spec.algorithm, prefix: spec.prefix });
    return new HashStream(this, w, id);
  }

  /**
   * An incremental hash that starts with the first `length` bytes of the file at `path` (a partial download
   * to resume): read and hashed on the worker.
   */
  async streamFromFile(spec: HashSpec, path: string, length: number): Promise<HashStream> {
    const id = this.nextId++;
    const w = this.pick(id);
    await this.call(w, id, {
      op: 'file',
      id,
      algorithm: spec.algorithm,
      prefix: spec.prefix,
      path,
      length,
      keep: true,
    });
    return new HashStream(this, w, id);
  }

  /** Hex digest of a whole file, read and hashed on a worker. */
  async hashFile(spec: HashSpec, path: string): Promise<string> {
    const id = this.nextId++;
    const w = this.pick(id);
    return this.call(w, id, { op: 'file', id, algorithm: spec.algorithm, prefix: spec.prefix, path, length: -1 });
  }

  /** Stops the workers (they are restarted on next use). */
  async close(): Promise<void> {
    const workers = [...this.workers.values()];
    this.workers.clear();
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }

  /** @internal */
  call(w: PoolWorker, id: number, message: HashWorkerMessage): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      if (w.dead) {
        reject(w.dead);
        return;
      }
      w.digests.set(id, { resolve, reject });
      this.send(w, message);
    });
  }

  /** @internal */
  send(w: PoolWorker, message: HashWorkerMessage): void {
    if (w.dead) return;
    if (w.pending++ === 0) w.worker.ref();
    w.worker.postMessage(message);
  }

  /** @internal a message that gets no reply */
  post(w: PoolWorker, message: HashWorkerMessage): void {
    if (!w.dead) w.worker.postMessage(message);
  }

  private pick(id: number): PoolWorker {
    const slot = id % this.size;
    const existing = this.workers.get(slot);
    if (existing) return existing;
    const w: PoolWorker = {
      worker: new Worker(WORKER_URL, { name: 'modelctl-hash' }),
      pending: 0,
      digests: new Map(),
      returns: new Map(),
    };
    w.worker.unref();
    w.worker.on('message', (reply: HashWorkerReply) => {
      if (--w.pending === 0) w.worker.unref();
      if (reply.op === 'returned') {
        const error = reply.error && Object.assign(new Error(reply.error.message), { code: reply.error.code });
        w.returns.get(reply.id)?.shift()?.(error);
        return;
      }
      const waiter = w.digests.get(reply.id);
      w.digests.delete(reply.id);
      if (!waiter) return;
      if (reply.error) waiter.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
      else waiter.resolve(reply.digest ?? '');
    });
    const fail = (err: Error): void => {
      w.dead ??= err;
      if (this.workers.get(slot) === w) this.workers.delete(slot);
      for (const waiter of w.digests.values()) waiter.reject(err);
      w.digests.clear();
      // tell the owners of the slabs it held, so nobody waits for them
      for (const queue of w.returns.values()) for (const onReturned of queue.splice(0)) onReturned(err);
    };
    w.worker.on('error', fail);
    w.worker.on('exit', (code) => fail(new Error(`hash worker exited (${code})`)));
    this.workers.set(slot, w);
    return w;
  }
}

/** Called when the worker is done with a slab; `error` when it could not hash it (or died). */
export type OnReturned = (error?: Error) => void;

/**
 * One incremental hash on a worker. {@link HashStream.update} lends the worker a slab of shared memory (not
 * copied) and `onReturned` says when it is done with it; updates are hashed in call order.
 */
export class HashStream {
  private done = false;

  constructor(
    private readonly pool: HashPool,
    private readonly w: PoolWorker,
    private readonly id: number,
  ) {}

  /** Hashes `bytes` (a view of shared memory); `onReturned` is called when the worker is done with them. */
  update(bytes: Uint8Array<SharedArrayBuffer>, onReturned: OnReturned): void {
    this.send(
      { op: 'update', id: this.id, slab: bytes.buffer, offset: bytes.byteOffset, length: bytes.byteLength },
      onReturned,
    );
  }

  private send(message: UpdateMessage, onReturned: OnReturned): void {
    if (this.w.dead) {
      onReturned(this.w.dead);
      return;
    }
    const queue = this.w.returns.get(this.id);
    if (queue) queue.push(onReturned);
    else this.w.returns.set(this.id, [onReturned]);
    this.pool.send(this.w, message);
  }

  /** The hex digest of everything hashed; ends the stream. */
  async digest(): Promise<string> {
    this.done = true;
    try {
      return await this.pool.call(this.w, this.id, { op: 'digest', id: this.id });
    } finally {
      this.w.returns.delete(this.id);
    }
  }

  /** Forgets the stream without a digest (failed download). */
  dispose(): void {
    if (this.done) return;
    this.done = true;
    this.w.returns.delete(this.id);
    this.pool.post(this.w, { op: 'drop', id: this.id });
  }
}

/** The process's hash workers. */
export const hashPool = new HashPool();
