import type { FileHandle } from 'node:fs/promises';
import type { DiskGuard } from '../disk/disk-guard.js';
import type { HashStream } from './hash-pool.js';
import { SlabPool, type Slab } from './slab-pool.js';

/**
 * Bytes gathered before one write(2) and one hand-over to the hash worker: each slab also costs a pwrite on
 * libuv's pool, a round trip to the hash worker and a disk-space reservation, so fewer, larger slabs cost less CPU
 * per GiB. 1 MiB since full slabs are written with O_DIRECT (measured, 2 GiB in 8 files, 3 interleaved pairs, load
 * 13-15: 1.67 vs 1.91 CPU-s per GiB for half a MiB, system time not higher; 8 files × 2 slabs are 16 MiB of RSS).
 * Through the page cache (a file system without O_DIRECT) 1 MiB writes cost more kernel time than half-MiB ones
 * on this VM's Linux 6.18: they get large page-cache folios, each costly to fill where the host took free memory
 * back (1 GiB written by dd: 1.45-1.74 s of sys for 508 KiB writes, 0.26-0.49 s for 64 KiB; 2.9-3.0 s vs 1.55-1.64 s
 * when 1 MiB less a page was tried here before O_DIRECT).
 */
const SLAB_BYTES = 1024 * 1024;
/**
 * O_DIRECT writes need their position, length and memory aligned to the disk's logical block (512 B or 4 KiB):
 * 4 KiB covers both. Slabs start on 64 KiB (slab-pool.ts) and SLAB_BYTES is a multiple of 4 KiB, so every full
 * slab of a download that started at 0 is written direct; the last, shorter one goes through the page cache.
 */
const DIRECT_ALIGN = 4096;
/** Slabs one file holds at most (one filling, the others being written or hashed): memory is this × SLAB_BYTES × files. */
const SLABS_PER_FILE = 2;
/** Slabs carved from one shared memory: 8 files × SLABS_PER_FILE. */
const SLABS_PER_ARENA = 16;
/** The free slabs are let go once no download has held one for this long. */
const SLAB_IDLE_MS = 5_000;

/** Where the downloads' slabs come from and go back to. */
const slabPool = new SlabPool(SLAB_BYTES, SLABS_PER_ARENA, SLAB_IDLE_MS);
/**
 * Slabs for files smaller than one SLAB_BYTES slab (configs, tokenizers' small files): 64 KiB. A small file in a
 * 1 MiB slab wasted it, and with small files downloading beside the large ones each took one more: VmHWM 136-140 MB
 * on 8 x 256 MiB + 200 small files, 119-125 MB without the small files.
 */
const smallSlabPool = new SlabPool(64 * 1024, SLABS_PER_ARENA, SLAB_IDLE_MS);

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
  /**
   * the same file opened with O_DIRECT (null where the file system refuses it): aligned slabs are written
   * through it, from the slab to the disk, without a copy into the page cache
   */
  directHandle?: FileHandle | null | undefined;
  /** advanced as slabs land on disk */
  progress: BlobProgress;
  /** each slab's bytes are reserved before its write */
  diskGuard?: DiskGuard | undefined;
  /** called with each slab's byte count once it is on disk (metrics) */
  onBytes?: ((bytes: number) => void) | undefined;
  /** the whole file's size: under SLAB_BYTES, the body is gathered in 64 KiB slabs @default a large file */
  fileBytes?: number | undefined;
}

/**
 * Gathers a body into slabs of SLAB_BYTES (64 KiB for a smaller file), either read into them directly ({@link SlabWriter.space} +
 * {@link SlabWriter.commit}) or copied ({@link SlabWriter.push}). A full slab is written at its place in the
 * file (pwrite, on libuv's pool), then hashed on the hash worker, while the next slab fills and the one before
 * is hashed: the three run on three threads. `progress.offset` advances as slabs are hashed, in order. At most
 * SLABS_PER_FILE slabs per file: when all are busy, there is no space and the reader waits for
 * {@link SlabWriter.ready} (TCP backpressure).
 */
export class SlabWriter {
  private slab: Slab | null = null;
  private view: Buffer | null = null;
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

  private readonly pool: SlabPool;
  private readonly slabBytes: number;
  private readonly handle: FileHandle;
  private directHandle: FileHandle | null;
  private readonly progress: BlobProgress;
  private readonly diskGuard: DiskGuard | undefined;
  private readonly onBytes: ((bytes: number) => void) | undefined;

  constructor(params: SlabWriterParams) {
    this.pool = (params.fileBytes ?? SLAB_BYTES) < SLAB_BYTES ? smallSlabPool : slabPool;
    this.slabBytes = this.pool.slabBytes;
    this.handle = params.handle;
    this.directHandle = params.directHandle ?? null;
    this.progress = params.progress;
    this.diskGuard = params.diskGuard;
    this.onBytes = params.onBytes;
    this.writeAt = params.progress.offset;
  }

  /**
   * The free part of the slab being filled (a new slab when none is): read into it, then {@link commit} what
   * landed. null when every slab of this file is busy or a write failed: wait for {@link ready}.
   */
  space(): Buffer | null {
    if (this.view === null) {
      if (this.held >= SLABS_PER_FILE || this.failure) return null;
      this.slab = this.pool.take();
      this.view = Buffer.from(this.slab.memory, this.slab.offset, this.slabBytes);
      this.held++;
    }
    return this.view.subarray(this.fill);
  }

  /** `bytes` were put at the start of the last {@link space}; a full slab goes to be written. */
  commit(bytes: number): void {
    this.fill += bytes;
    if (this.fill === this.slabBytes) this.submit();
  }

  /** Resolves once {@link space} has room again; throws the first failed write. */
  async ready(): Promise<void> {
    while (this.held >= SLABS_PER_FILE && !this.failure) await new Promise<void>((r) => (this.wake = r));
    if (this.failure) throw this.failure.error;
  }

  /** Takes `chunk` (copied); a promise when the caller must wait before pushing more. */
  push(chunk: Buffer): Promise<void> | undefined {
    let at = 0;
    while (at < chunk.length) {
      const space = this.space();
      if (space === null) return this.pushLater(chunk.subarray(at));
      const n = chunk.copy(space, 0, at);
      at += n;
      this.commit(n);
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
    this.giveBack(this.slab);
    this.slab = null;
    this.view = null;
    this.fill = 0;
  }

  private async pushLater(rest: Buffer): Promise<void> {
    await this.ready();
    const wait = this.push(rest);
    if (wait) await wait;
  }

  private submit(): void {
    const slab = this.slab!;
    const view = this.view!;
    const length = this.fill;
    this.slab = null;
    this.view = null;
    this.fill = 0;
    // asked now, while earlier slabs are being written; counted as in flight until released
    const reserved = this.diskGuard?.reserve(length);
    reserved?.catch(() => undefined);
    let hashed!: Promise<void>;
    // The writes of one file go one after the other (libuv's pool), each slab hashed (worker) once it is written:
    // the hash only ever holds bytes on disk, and after a failed write nothing later is written (no hole).
    const written = this.posted.then(
      async () => {
        let release: (() => void) | undefined;
        try {
          release = await reserved;
          const position = this.writeAt;
          await this.write(view.subarray(0, length), position);
          this.writeAt = position + length;
        } catch (err) {
          this.giveBack(slab);
          throw err;
        } finally {
          release?.();
        }
        hashed = this.hashWritten(slab, view.subarray(0, length));
      },
      (err: unknown) => {
        // an earlier slab failed: this one is never written
        this.giveBack(slab);
        void reserved?.then(
          (release) => release(),
          () => undefined,
        );
        throw err;
      },
    );
    this.posted = written;
    const done = written.then(() => hashed);
    this.outstanding.add(done);
    done.then(
      () => this.outstanding.delete(done),
      (error: unknown) => {
        this.outstanding.delete(done);
        // the first failure is thrown by flush(), ready() or the next push
        this.failure ??= { error };
        this.wakeUp();
      },
    );
  }

  /**
   * Writes `bytes` at `position`: straight from the slab to the disk (O_DIRECT) when aligned, else through the
   * page cache. A buffered write of a slab costs the kernel a copy into freshly allocated page-cache folios;
   * measured here (1 GiB from dd, 508 KiB writes): 1.45-1.74 s of system time buffered vs 0.16 s direct, and the
   * fsync before publishing then has nothing left to write.
   */
  private async write(bytes: Buffer, position: number): Promise<void> {
    const direct = this.directHandle;
    if (direct !== null && position % DIRECT_ALIGN === 0 && bytes.length % DIRECT_ALIGN === 0) {
      try {
        await writeFully(direct, bytes, position);
        return;
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'EINVAL') throw err;
        // the file system took O_DIRECT at open but refuses the write: the page cache from now on (same bytes)
        this.directHandle = null;
      }
    }
    await writeFully(this.handle, bytes, position);
  }

  /** Hands a written slab to the hash worker; `progress.offset` advances (in order) once it is hashed. */
  private hashWritten(slab: Slab, bytes: Buffer): Promise<void> {
    const length = bytes.length;
    return new Promise<void>((resolve, reject) => {
      this.progress.hash.update(bytes as Uint8Array<SharedArrayBuffer>, (error) => {
        this.giveBack(slab);
        if (error) {
          reject(error);
          return;
        }
        this.progress.offset += length;
        this.onBytes?.(length);
        resolve();
      });
    });
  }

  private giveBack(slab: Slab): void {
    this.held--;
    this.pool.give(slab);
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

/** pwrite of all of `bytes` at `position` (a short write continues where it stopped). */
async function writeFully(handle: FileHandle, bytes: Buffer, position: number): Promise<void> {
  for (let done = 0; done < bytes.length;) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    if (bytesWritten === 0) throw Object.assign(new Error('write(2) wrote nothing'), { code: 'EIO' });
    done += bytesWritten;
  }
}
