/** One submitted item and the promise waiting for the flush that carries it. */
interface Waiting<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: `flush` runs on batches, one at a time. Items submitted in the same tick go in one batch; items
 * submitted while a flush runs wait for the next flush, which takes them all. Each `submit` resolves when the
 * flush that carried its item has resolved (and rejects with its error), so a caller still knows its item is
 * durable when its promise settles: only the number of flushes drops.
 * Written here because p-limit/p-queue serialize tasks but never merge them into one.
 * @param onIdle called when the last batch is done and nothing waits (lets the owner forget this committer)
 */
export function createGroupCommit<T>(
  flush: (items: T[]) => Promise<void>,
  onIdle?: () => void,
): (item: T) => Promise<void> {
  let waiting: Waiting<T>[] = [];
  let running = false;
  async function drain(): Promise<void> {
    while (waiting.length > 0) {
      const batch = waiting;
      waiting = [];
      try {
        await flush(batch.map((w) => w.item));
        for (const w of batch) w.resolve();
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    running = false;
    onIdle?.();
  }
  return (item) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ item, resolve, reject });
      if (running) return;
      running = true;
      // a microtask later: every submit of this tick joins the first batch
      queueMicrotask(() => void drain());
    });
}
