// Node has WebAssembly; the ES2024 lib the project compiles against does not type it (lib.dom does): the one
// constructor used here.
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => { buffer: SharedArrayBuffer };
};

/** WebAssembly's page: the unit a shared WebAssembly.Memory grows by. */
const WASM_PAGE_BYTES = 64 * 1024;

/**
 * One slab: `slabBytes` of shared memory at `offset` of `memory`. Its start is aligned to 64 KiB (so to every
 * disk block size), which O_DIRECT writes need; its `offset` is a multiple of the pool's stride.
 */
export interface Slab {
  readonly memory: SharedArrayBuffer;
  readonly offset: number;
}

/**
 * Slab memory for downloads, shared with the hash worker (never copied or transferred: the worker reads the bytes
 * where the socket put them). Slabs given back are kept and handed out again while downloads run, so no slab is
 * allocated, zeroed and left to the garbage collector per half MiB.
 *
 * The memory is a shared WebAssembly.Memory (an "arena" of `slabsPerArena` slabs), not `new SharedArrayBuffer()`:
 * only a wasm memory starts on a page boundary (a SharedArrayBuffer's bytes come from malloc, 16-byte aligned), and
 * the kernel refuses an O_DIRECT write from memory that is not aligned to the disk's block (EINVAL). Arenas of many
 * slabs, not one memory per slab: V8 reserves 8 GiB of address space (not memory) per wasm memory. Every slab
 * given back is kept while any is held (an arena's memory goes only with all its slabs): the pool holds as many
 * slabs as were ever in use at once. Dropping the ones beyond a maximum (as this did with SharedArrayBuffers)
 * made it carve new arenas whenever more were in use than that maximum (small and large files at once): VmHWM
 * 187-247 MB.
 *
 * The free slabs are let go only after no slab has been held for `idleMs`. Letting them go the moment none is held
 * (as this did) dropped them many times per download: between two files, or whenever every file's slabs had been
 * hashed before its next read, the count touches zero. Each dropped buffer lives on in V8's old space until a major
 * GC, which the agent's small heap seldom needs: over a 10 GiB download 100 slabs were allocated for 16 in use,
 * and the process's array buffers grew to 49 MB (VmHWM 150-160 MB).
 */
export class SlabPool {
  private readonly free: Slab[] = [];
  private held = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private arenaCount = 0;
  /** bytes from one slab's start to the next: slabBytes rounded up to a wasm page */
  private readonly stride: number;

  /**
   * @param slabBytes each slab's size
   * @param slabsPerArena slabs carved from one shared memory (allocated when no slab is free)
   * @param idleMs the free slabs are let go once none has been held for this long
   */
  constructor(
    readonly slabBytes: number,
    private readonly slabsPerArena: number,
    private readonly idleMs: number,
  ) {
    this.stride = Math.ceil(slabBytes / WASM_PAGE_BYTES) * WASM_PAGE_BYTES;
  }

  take(): Slab {
    this.held++;
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    return this.free.pop() ?? this.carveArena();
  }

  give(slab: Slab): void {
    this.held--;
    this.free.push(slab);
    if (this.held === 0 && this.idleTimer === null) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        this.free.length = 0;
      }, this.idleMs);
      // an idle agent does not stay alive for its spare slabs
      this.idleTimer.unref();
    }
  }

  /** arenas (shared memories of `slabsPerArena` slabs) allocated so far */
  get allocated(): number {
    return this.arenaCount;
  }

  /** free slabs kept now */
  get freeCount(): number {
    return this.free.length;
  }

  /** A new arena: its first slab is returned, the others go to the free list (untouched pages cost no RSS). */
  private carveArena(): Slab {
    const slabs = Math.max(1, this.slabsPerArena);
    const pages = (this.stride / WASM_PAGE_BYTES) * slabs;
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer;
    this.arenaCount++;
    // handed out from the start of the arena: the last ones pushed are popped first
    for (let i = slabs - 1; i >= 1; i--) this.free.push({ memory, offset: i * this.stride });
    return { memory, offset: 0 };
  }
}
