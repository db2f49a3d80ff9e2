import type { FileHandle } from 'node:fs/promises';
import type { DiskGuard } from '../hf-cache/disk-guard.js';
import type { HashStream } from './hash-pool.js';

/**
 * Bytes gathered before one write(2) and one hand-over to the hash worker. Deliberately not a power of two:
 * 1 MiB-aligned 1 MiB writes make Linux ≥ 6.16 ext4 back the page cache with 1 MiB folios, which on VMs that
 * hand free memory back to the host cost several times the kernel time per GiB (measured: ~2.7 s vs ~0.6 s of
 * sys per GiB written); writes of 1 MiB - 4 KiB get small folios, as curl's and huggingface_hub's writes do.
 */
const SLAB_BYTES = 1024 * 1024 - 4096;
/** Slabs one file holds at most (one filling, the others being written or hashed): memory is this × SLAB_BYTES × files. */
const SLABS_PER_FILE = 2;
/** Free slabs kept for the next files (the rest are left to the GC). */
const MAX_FREE_SLABS = 2;

/** Where a blob's download stands: what is on disk, and the hash of exactly that. */
export interface BlobProgress {
  /** bytes on disk (written, in order) */
  offset: number;
  /** has been handed exactly the bytes on disk, in order */
  hash: HashStream;
  /** bytes received over the network so far */
  networkBytes: number;
}

export interface SlabWriterParams {
  /** the partial file, open for writing */
  handle: FileHandle;
  /** advanced as slabs land on disk */
  progress: BlobProgress;
  /** each slab's bytes are reserved before its write */
  diskGuard?: DiskGuard | undefined;
  /** called with each slab's byte count once it is on disk (metrics) */
  onBytes?: ((bytes: number) => void) | undefined;
}

const freeSlabs: ArrayBuffer[] = [];

let nextGeneration = 1;

/**
 * Copies body chunks into slabs of SLAB_BYTES; a full slab is handed (transferred, not copied) to the hash
 * worker, which writes it at its place in the file (pwrite) and then hashes it, in order, while the next slab
 * fills: the main thread only moves bytes from the sockets into slabs. The worker gives each slab back for
 * reuse; `progress.offset` advances as the writes complete, in order. At most SLABS_PER_FILE slabs per file: when
 * all are busy, {@link SlabWriter.push} returns a promise and the caller stops reading (TCP backpressure).
 */
export class SlabWriter {
  private slab: Buffer | null = null;
  private fill = 0;
  /** slabs taken and not yet back (filling, or being written and hashed) */
  private held = 0;
  private wake: (() => void) | null = null;
  /** where the next slab goes: `progress.offset` plus the bytes handed over and not yet written */
  private writeAt: number;
  /** the hand-overs, in order (each waits for its disk-space reservation); rejects with the first failure */
  private posted: Promise<void> = Promise.resolve();
  /** slabs handed over or about to be, until written or failed */
  private readonly outstanding = new Set<Promise<void>>();
  private failure: { error: unknown } | null = null;
  /** the worker refuses this generation's writes after one failed, so the file gets no hole */
  private readonly generation = nextGeneration++;

  private readonly handle: FileHandle;
  private readonly progress: BlobProgress;
  private readonly diskGuard: DiskGuard | undefined;
  private readonly onBytes: ((bytes: number) => void) | undefined;

  constructor(params: SlabWriterParams) {
    this.handle = params.handle;
    this.progress = params.progress;
    this.diskGuard = params.diskGuard;
    this.onBytes = params.onBytes;
    this.writeAt = params.progress.offset;
  }

  /** Takes `chunk` (copied); a promise when the caller must wait before pushing more. */
  push(chunk: Buffer): Promise<void> | undefined {
    let at = 0;
    while (at < chunk.length) {
      if (this.slab === null) {
        if (this.held >= SLABS_PER_FILE || this.failure) return this.pushLater(chunk.subarray(at));
        this.slab = Buffer.from(freeSlabs.pop() ?? new ArrayBuffer(SLAB_BYTES));
        this.held++;
      }
      const n = chunk.copy(this.slab, this.fill, at);
      this.fill += n;
      at += n;
      if (this.fill === this.slab.length) this.submit();
    }
    return undefined;
  }

  /** Writes what is buffered and waits for every write; throws the first failure. */
  async flush(): Promise<void> {
    if (this.fill > 0) this.submit();
    else this.discard();
    while (this.outstanding.size > 0) await Promise.allSettled([...this.outstanding]);
    if (this.failure) throw this.failure.error;
  }

  /** Drops the slab being filled (its bytes are not to be written). */
  discard(): void {
    if (this.slab === null) return;
    this.giveBack(this.slab.buffer as ArrayBuffer);
    this.slab = null;
    this.fill = 0;
  }

  private async pushLater(rest: Buffer): Promise<void> {
    while (this.held >= SLABS_PER_FILE && !this.failure) await new Promise<void>((r) => (this.wake = r));
    if (this.failure) throw this.failure.error;
    const wait = this.push(rest);
    if (wait) await wait;
  }

  private submit(): void {
    const slab = this.slab!;
    const buffer = slab.buffer as ArrayBuffer;
    const length = this.fill;
    this.slab = null;
    this.fill = 0;
    // asked now, while earlier slabs are being written; counted as in flight until released
    const reserved = this.diskGuard?.reserve(length);
    reserved?.catch(() => undefined);
    let written!: Promise<void>;
    const handedOver = this.posted.then(
      async () => {
        let release: (() => void) | undefined;
        try {
          release = await reserved;
        } catch (err) {
          this.giveBack(buffer);
          throw err;
        }
        const target = { fd: this.handle.fd, position: this.writeAt, generation: this.generation };
        this.writeAt += length;
        written = new Promise<void>((resolve, reject) => {
          this.progress.hash.write(target, buffer, length, (back, error) => {
            release?.();
            this.giveBack(back);
            if (error) {
              reject(error);
              return;
            }
            this.progress.offset += length;
            this.onBytes?.(length);
            resolve();
          });
        });
      },
      (err: unknown) => {
        // an earlier slab failed: this one is never written
        this.giveBack(buffer);
        void reserved?.then(
          (release) => release(),
          () => undefined,
        );
        throw err;
      },
    );
    this.posted = handedOver;
    const done = handedOver.then(() => written);
    this.outstanding.add(done);
    done.then(
      () => this.outstanding.delete(done),
      (error: unknown) => {
        this.outstanding.delete(done);
        // the first failure is thrown by flush() or the next push
        this.failure ??= { error };
        this.wakeUp();
      },
    );
  }

  private giveBack(buffer: ArrayBuffer): void {
    this.held--;
    if (freeSlabs.length < MAX_FREE_SLABS && buffer.byteLength === SLAB_BYTES) freeSlabs.push(buffer);
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
