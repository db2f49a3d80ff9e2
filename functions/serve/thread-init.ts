import { deserialize, serialize } from 'node:v8';

/**
 * What a thread gets in its `workerData` to find its settings later: a shared buffer the main thread writes them
 * into. Why: the first inference thread starts before the model's settings are known (MLmodel read, weights
 * mapped), so its boot overlaps the main thread's work. Shared memory, not a message: a message port or channel
 * would wait for the main thread's event loop, which module loading keeps busy for tens of ms right then.
 */
export interface ThreadInitRef {
  initBuffer: SharedArrayBuffer;
}

/**
 * Int32 slots at the start of the buffer: [0] 1 once the settings are written, [1] their length in bytes, [2] how
 * many threads are inside native work (nativeWork), CLOSING added once the threads are closing (whenNativeIdle).
 */
const READY = 0;
const LENGTH = 1;
const NATIVE = 2;
const HEADER_BYTES = 16;
const CLOSING = 1 << 30;
/** The largest settings (the model's header is part of them; onnx caps a protobuf at 2 GiB) */
const MAX_INIT_BYTES = 2 ** 31 - 1 - HEADER_BYTES;

/** The main thread's side of a ThreadInitRef. */
export interface ThreadInit<T> {
  ref: ThreadInitRef;
  /** writes the settings, once; every thread reads them, those started later too */
  provide: (init: T) => void;
}

/** A growable buffer: it takes only its header until the settings are written. */
export function createThreadInit<T>(): ThreadInit<T> {
  const buffer = new SharedArrayBuffer(HEADER_BYTES, { maxByteLength: HEADER_BYTES + MAX_INIT_BYTES });
  const slots = new Int32Array(buffer, 0, 3);
  return {
    ref: { initBuffer: buffer },
    provide: (init) => {
      if (Atomics.load(slots, READY) === 1) throw new Error('thread settings already provided');
      const bytes = serialize(init);
      buffer.grow(HEADER_BYTES + bytes.length);
      new Uint8Array(buffer, HEADER_BYTES, bytes.length).set(bytes);
      Atomics.store(slots, LENGTH, bytes.length);
      Atomics.store(slots, READY, 1);
      Atomics.notify(slots, READY);
    },
  };
}

/** A thread's side: waits (without blocking its event loop) until the settings are written, and reads them. */
export async function receiveThreadInit<T>(ref: ThreadInitRef): Promise<T> {
  const slots = new Int32Array(ref.initBuffer, 0, 3);
  const waiting = Atomics.waitAsync(slots, READY, 0);
  if (waiting.async) {
    // the wait alone does not keep the thread's event loop alive (the thread would end): a timer does meanwhile
    const alive = setInterval(() => undefined, 60_000);
    await waiting.value.finally(() => clearInterval(alive));
  }
  const length = Atomics.load(slots, LENGTH);
  // a copy out of shared memory: v8.deserialize reads an ordinary buffer
  return deserialize(new Uint8Array(ref.initBuffer, HEADER_BYTES, length).slice()) as T;
}

/** A thread's side: whether the settings are written already (a thread started after they were). */
export function threadInitProvided(ref: ThreadInitRef): boolean {
  return Atomics.load(new Int32Array(ref.initBuffer, 0, 3), READY) === 1;
}

/**
 * A thread's side: runs `work`, a call into native code that must not be ended midway (onnxruntime-node's import
 * and session creation: a thread terminated inside them aborts the whole process, c605d0b), unless the threads are
 * closing already; the main thread's close waits for it first (whenNativeIdle).
 * @returns work's result; null, without running it, once the threads are closing
 */
export async function nativeWork<T>(ref: ThreadInitRef, work: () => Promise<T>): Promise<T | null> {
  const slots = new Int32Array(ref.initBuffer, 0, 3);
  for (;;) {
    const inside = Atomics.load(slots, NATIVE);
    if (inside & CLOSING) return null;
    if (Atomics.compareExchange(slots, NATIVE, inside, inside + 1) === inside) break;
  }
  try {
    return await work();
  } finally {
    Atomics.sub(slots, NATIVE, 1);
    Atomics.notify(slots, NATIVE);
  }
}

/**
 * The main thread's side, before it ends the threads: no thread starts native work from now on (nativeWork), and
 * the promise settles once none is inside any, or once `bound` settles.
 */
export async function whenNativeIdle(ref: ThreadInitRef, bound: Promise<unknown>): Promise<void> {
  const slots = new Int32Array(ref.initBuffer, 0, 3);
  Atomics.or(slots, NATIVE, CLOSING);
  let ended = false;
  const end = bound.then(
    () => (ended = true),
    () => (ended = true),
  );
  // the waits alone do not keep the event loop alive (the process would exit with a thread inside native code)
  const alive = setInterval(() => undefined, 60_000);
  try {
    for (;;) {
      const inside = Atomics.load(slots, NATIVE);
      if ((inside & ~CLOSING) === 0 || ended) return;
      const waiting = Atomics.waitAsync(slots, NATIVE, inside);
      if (waiting.async) await Promise.race([waiting.value, end]);
    }
  } finally {
    clearInterval(alive);
  }
}
