/**
 * Slab memory for downloads, shared with the hash worker (never copied or transferred: the worker reads the bytes
 * where the socket put them). Slabs given back are kept and handed out again while downloads run, so no slab is
 * allocated, zeroed and left to the garbage collector per half MiB.
 *
 * The free slabs are let go only after no slab has been held for `idleMs`. Letting them go the moment none is held
 * (as this did) dropped them many times per download: between two files, or whenever every file's slabs had been
 * hashed before its next read, the count touches zero. Each dropped SharedArrayBuffer lives on in V8's old space
 * (slabs outlive two scavenges) until a major GC, which the agent's small heap seldom needs: over a 10 GiB download
 * 100 slabs were allocated for 16 in use, and the process's array buffers grew to 49 MB (VmHWM 150-160 MB).
 */
export class SlabPool {
  private readonly free: SharedArrayBuffer[] = [];
  private held = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private allocatedCount = 0;

  /**
   * @param slabBytes each slab's size
   * @param maxFree free slabs kept for reuse at most
   * @param idleMs the free slabs are let go once none has been held for this long
   */
  constructor(
    readonly slabBytes: number,
    private readonly maxFree: number,
    private readonly idleMs: number,
  ) {}

  take(): SharedArrayBuffer {
    this.held++;
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    const slab = this.free.pop();
    if (slab !== undefined) return slab;
    this.allocatedCount++;
    return new SharedArrayBuffer(this.slabBytes);
  }

  give(slab: SharedArrayBuffer): void {
    this.held--;
    if (this.free.length < this.maxFree) this.free.push(slab);
    if (this.held === 0 && this.idleTimer === null) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        this.free.length = 0;
      }, this.idleMs);
      // an idle agent does not stay alive for its spare slabs
      this.idleTimer.unref();
    }
  }

  /** slabs allocated so far */
  get allocated(): number {
    return this.allocatedCount;
  }

  /** free slabs kept now */
  get freeCount(): number {
    return this.free.length;
  }
}
