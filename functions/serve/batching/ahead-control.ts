// The memory a batch handed ahead (adaptive-batcher.ts `aheadSlots`) shares between the main thread and the runtime
// thread it waits in: the main thread marks an item cancelled (its request aborted while the batch waited), the
// runtime thread marks the batch started and skips what was cancelled before. Shared memory, not a message: the
// thread is busy running the batch ahead of it and reads no message until it takes this one, and piscina's own
// `signal` would end the whole thread.
//
// Layout: float64 [0] the start time (ms since the epoch: performance.timeOrigin + performance.now()), then int32
// [0] started (0/1), [1 + i] item i cancelled (0/1). Atomics on the int32 flags order the two sides: the runtime
// stores `started` before it reads the cancels, the main thread stores a cancel before it reads `started`, so an
// item is either skipped by the thread or, the batch having started, answered as usual; never lost.

const FLAGS_AT = 8;

/** The shared control of a batch of `items` items handed ahead. */
export function createAheadControl(items: number): SharedArrayBuffer {
  return new SharedArrayBuffer(FLAGS_AT + 4 * (1 + items));
}

/**
 * The main thread's side: item `index` was cancelled.
 * @returns true when the batch had not started: the runtime skips the item; false: it runs (too late)
 */
export function cancelAheadItem(control: SharedArrayBuffer, index: number): boolean {
  const flags = new Int32Array(control, FLAGS_AT);
  Atomics.store(flags, 1 + index, 1);
  return Atomics.load(flags, 0) === 0;
}

/** When the runtime started the batch (ms since the epoch), or null while it has not. */
export function aheadStartedAt(control: SharedArrayBuffer): number | null {
  if (Atomics.load(new Int32Array(control, FLAGS_AT), 0) === 0) return null;
  return new Float64Array(control, 0, 1)[0]!;
}

/**
 * The runtime's side, right before it scores the batch: marks it started (no cancel counts from now on).
 * @returns per item, whether it was cancelled (to skip)
 */
export function startAhead(
  control: SharedArrayBuffer,
  epochMs = performance.timeOrigin + performance.now(),
): boolean[] {
  const flags = new Int32Array(control, FLAGS_AT);
  new Float64Array(control, 0, 1)[0] = epochMs;
  Atomics.store(flags, 0, 1);
  const cancelled: boolean[] = [];
  for (let i = 1; i < flags.length; i++) cancelled.push(Atomics.load(flags, i) === 1);
  return cancelled;
}
