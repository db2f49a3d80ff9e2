// How an inference thread hands its answer's buffers to piscina to move (transfer) rather than copy.
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * piscina's own worker (dist/worker.js, which has loaded this module) transfers a result's buffers instead of
 * copying them when the result is marked movable: its Symbol.for keys plus piscina's private kMovable symbol, read
 * here from the dist/symbols.js module that worker already loaded (the same module instance: one CommonJS cache).
 * What `move()` from 'piscina' would do, without importing 'piscina' itself: that loads its whole pool (task
 * queues, worker pool, histograms) into every inference thread, ~5 ms of the thread's boot, which is the cold
 * start's critical path (issue 16). A piscina whose files moved fails every thread's start (cannot find
 * symbols.js), and one whose marker changed fails every answer (the main thread gets `{}`): never silently;
 * movable-answer.test.ts checks the marker against piscina's own isMovable.
 */
const requireHere = createRequire(import.meta.url);
const { kMovable, kTransferable, kValue } = requireHere(
  path.join(path.dirname(requireHere.resolve('piscina')), 'symbols.js'),
) as { kMovable: symbol; kTransferable: symbol; kValue: symbol };

/** `value` with `buffers` transferred (moved, not copied) to the main thread. */
export function moved(value: unknown, buffers: ArrayBuffer[]): unknown {
  return { [kTransferable]: buffers, [kValue]: value, [kMovable]: true };
}
