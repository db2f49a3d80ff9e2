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

/** Int32 slots at the start of the buffer: [0] 1 once the settings are written, [1] their length in bytes. */
const READY = 0;
const LENGTH = 1;
const HEADER_BYTES = 8;
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
  const slots = new Int32Array(buffer, 0, 2);
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
  const slots = new Int32Array(ref.initBuffer, 0, 2);
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
