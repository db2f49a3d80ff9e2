import { describe, expect, it } from '@jest/globals';
import { AppError } from '../../../shared/errors/app-error.js';
import { createAdaptiveBatcher, type BatchOutcome } from './adaptive-batcher.js';
import { startAhead } from './ahead-control.js';

/** A runtime whose batches finish when the test says so; records every batch it was given. */
function manualRuntime<T>() {
  const batches: T[][] = [];
  // per batch, its control when it was handed ahead
  const aheads: (SharedArrayBuffer | undefined)[] = [];
  const finishers: (() => void)[] = [];
  const runBatch = (items: T[], ahead?: SharedArrayBuffer): Promise<BatchOutcome<string>[]> => {
    batches.push(items);
    aheads.push(ahead);
    return new Promise((resolve) =>
      finishers.push(() => resolve(items.map((i) => ({ ok: true, value: `done ${String(i)}` })))),
    );
  };
  const finishNext = async (): Promise<void> => {
    finishers.shift()?.();
    await new Promise((r) => setImmediate(r));
  };
  return { batches, aheads, runBatch, finishNext };
}

const turn = () => new Promise((r) => setImmediate(r));

/** A batcher of one thread that may hold one batch ahead, batches of one item (overrides aside), no delay. */
function oneThreadOneAhead<T>(
  rt: ReturnType<typeof manualRuntime<T>>,
  overrides: { maxBatchSize?: number; maxQueue?: number } = {},
) {
  return createAdaptiveBatcher({
    runBatch: rt.runBatch,
    slots: 1,
    aheadSlots: 1,
    maxBatchSize: 1,
    maxDelayMs: 0,
    maxQueue: 100,
    ...overrides,
  });
}

/** One request alone first: until the runtime has answered once, the batcher does not know request sizes. */
async function warmUp<T>(
  batcher: { submit: (item: T) => Promise<unknown> },
  rt: { finishNext: () => Promise<void> },
  item: T,
) {
  const done = batcher.submit(item);
  await turn();
  await rt.finishNext();
  await done;
}

describe('createAdaptiveBatcher', () => {
  it('merges the requests that arrive while every thread is busy into the next batch', async () => {
    const rt = manualRuntime<number>();
    const batcher = createAdaptiveBatcher({
      runBatch: rt.runBatch,
      slots: 1,
      maxBatchSize: 64,
      maxDelayMs: 0,
      maxQueue: 100,
    });
    const first = batcher.submit(0);
    await turn();
    const rest = [1, 2, 3, 4, 5].map((i) => batcher.submit(i));
    await turn();
    expect(rt.batches).toEqual([[0]]);
    expect(batcher.queued()).toBe(5);
    await rt.finishNext();
    expect(rt.batches).toEqual([[0], [1, 2, 3, 4, 5]]);
    await rt.finishNext();
    await expect(first).resolves.toBe('done 0');
    await expect(Promise.all(rest)).resolves.toEqual(['done 1', 'done 2', 'done 3', 'done 4', 'done 5']);
  });

  it('takes what arrives in the same turn together when a thread is free, and waits for nothing more', async () => {
    const rt = manualRuntime<number>();
    const batcher = createAdaptiveBatcher({
      runBatch: rt.runBatch,
      slots: 2,
      maxBatchSize: 64,
      maxDelayMs: 0,
      maxQueue: 100,
    });
    await warmUp(batcher, rt, 0);
    const all = [1, 2, 3].map((i) => batcher.submit(i));
    await turn();
    expect(rt.batches).toEqual([[0], [1, 2, 3]]);
    await rt.finishNext();
    await expect(Promise.all(all)).resolves.toHaveLength(3);
  });

  it('waits up to maxDelayMs for more requests while a thread is free', async () => {
    const rt = manualRuntime<number>();
    const batcher = createAdaptiveBatcher({
      runBatch: rt.runBatch,
      slots: 1,
      maxBatchSize: 64,
      maxDelayMs: 300,
      maxQueue: 100,
    });
    await warmUp(batcher, rt, 0);
    const started = performance.now();
    const a = batcher.submit(1);
    await new Promise((r) => setTimeout(r, 10));
    const b = batcher.submit(2);
    await turn();
    expect(rt.batches).toEqual([[0]]);
    while (rt.batches.length === 1) await new Promise((r) => setTimeout(r, 2));
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(rt.batches).toEqual([[0], [1, 2]]);
    await rt.finishNext();
    await expect(Promise.all([a, b])).resolves.toEqual(['done 1', 'done 2']);
  });

  it('caps a batch by the rows the runtime reports per request', async () => {
    const batches: number[][] = [];
    const batcher = createAdaptiveBatcher<number, number>({
      // every request turns out to have 10 rows
      runBatch: async (items) => {
        batches.push(items);
        await new Promise((r) => setTimeout(r, 5));
        return items.map((i) => ({ ok: true, value: i, size: 10 }));
      },
      slots: 1,
      maxBatchSize: 40,
      maxDelayMs: 0,
      maxQueue: 1000,
    });
    // teach it the size, then queue 20 requests behind a running batch
    for (let i = 0; i < 20; i++) await batcher.submit(-1);
    batches.length = 0;
    const running = batcher.submit(0);
    await turn();
    const queued = Array.from({ length: 20 }, (_v, i) => batcher.submit(i + 1));
    await Promise.all([running, ...queued]);
    const sizes = batches.slice(1).map((b) => b.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(5);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(20);
  });

  it('keeps per-request errors per request: one refusal in a batch fails only its request', async () => {
    const batcher = createAdaptiveBatcher<string, string>({
      runBatch: (items) =>
        Promise.resolve(
          items.map((i) =>
            i === 'bad'
              ? { ok: false, error: new AppError({ code: 'BAD_REQUEST', statusCode: 400, message: 'bad input' }) }
              : { ok: true, value: i.toUpperCase() },
          ),
        ),
      slots: 1,
      maxBatchSize: 64,
      maxDelayMs: 0,
      maxQueue: 100,
    });
    const results = await Promise.allSettled(['a', 'bad', 'c'].map((i) => batcher.submit(i)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(results[0]).toEqual({ status: 'fulfilled', value: 'A' });
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'BAD_REQUEST', statusCode: 400 });
  });

  it('fails every request of a batch whose run failed as a whole, and goes on with the next batch', async () => {
    let calls = 0;
    const batcher = createAdaptiveBatcher<number, number>({
      runBatch: (items) => {
        calls++;
        return calls === 2
          ? Promise.reject(new Error('thread died'))
          : Promise.resolve(items.map((i) => ({ ok: true, value: i })));
      },
      slots: 1,
      maxBatchSize: 64,
      maxDelayMs: 0,
      maxQueue: 100,
    });
    await batcher.submit(0); // sizes known: the next two go together
    const failed = await Promise.allSettled([batcher.submit(1), batcher.submit(2)]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await expect(batcher.submit(3)).resolves.toBe(3);
  });

  it('drops a request that times out while queued: the runtime never sees it, the others still run', async () => {
    const rt = manualRuntime<number>();
    const batcher = createAdaptiveBatcher({
      runBatch: rt.runBatch,
      slots: 1,
      maxBatchSize: 64,
      maxDelayMs: 0,
      maxQueue: 100,
    });
    const first = batcher.submit(0);
    await turn();
    const controller = new AbortController();
    const late = batcher.submit(1, { signal: controller.signal });
    const other = batcher.submit(2);
    const deadline = new AppError({ code: 'DEADLINE_EXCEEDED', statusCode: 504, message: 'too slow' });
    controller.abort(deadline);
    await expect(late).rejects.toBe(deadline);
    expect(batcher.queued()).toBe(1);
    await rt.finishNext();
    await rt.finishNext();
    expect(rt.batches).toEqual([[0], [2]]);
    await expect(Promise.all([first, other])).resolves.toEqual(['done 0', 'done 2']);
  });

  it('drops the requests whose clients left while queued and tells the observer why; a running one finishes', async () => {
    const rt = manualRuntime<number>();
    const batcher = createAdaptiveBatcher({
      runBatch: rt.runBatch,
      slots: 1,
      maxBatchSize: 64,
      maxDelayMs: 0,
      maxQueue: 100,
    });
    const dropped: string[] = [];
    batcher.observe({ batch: () => undefined, dropped: (reason) => dropped.push((reason as AppError).code) });
    const running = new AbortController();
    const first = batcher.submit(0, { signal: running.signal });
    await turn();
    const gone = [1, 2, 3].map(() => new AbortController());
    const left = gone.map((c, i) => batcher.submit(i + 1, { signal: c.signal }));
    const stays = batcher.submit(4);
    expect(batcher.queued()).toBe(4);
    const clientClosed = () =>
      new AppError({ code: 'CLIENT_CLOSED_REQUEST', statusCode: 499, message: 'the client closed the request' });
    for (const c of [running, ...gone]) c.abort(clientClosed());
    await expect(Promise.all(left.map((p) => p.catch((e: AppError) => e.code)))).resolves.toEqual([
      'CLIENT_CLOSED_REQUEST',
      'CLIENT_CLOSED_REQUEST',
      'CLIENT_CLOSED_REQUEST',
    ]);
    expect(batcher.queued()).toBe(1);
    await rt.finishNext();
    await rt.finishNext();
    // the running batch ran to its end (its answer still resolves; the route discards it), the gone ones never ran
    await expect(Promise.all([first, stays])).resolves.toEqual(['done 0', 'done 4']);
    expect(rt.batches).toEqual([[0], [4]]);
    expect(dropped).toEqual(['CLIENT_CLOSED_REQUEST', 'CLIENT_CLOSED_REQUEST', 'CLIENT_CLOSED_REQUEST']);
  });

  it('on close, fails what waits with the reason, lets the running batch end, and takes nothing more', async () => {
    const rt = manualRuntime<number>();
    const batcher = createAdaptiveBatcher({
      runBatch: rt.runBatch,
      slots: 1,
      maxBatchSize: 64,
      maxDelayMs: 0,
      maxQueue: 100,
    });
    const running = batcher.submit(0);
    await turn();
    const waiting = [batcher.submit(1), batcher.submit(2)];
    const shuttingDown = new AppError({ code: 'SERVER_SHUTTING_DOWN', statusCode: 503, message: 'shutting down' });
    let idle = false;
    const closed = batcher.close(shuttingDown).then(() => (idle = true));
    for (const w of waiting) await expect(w).rejects.toBe(shuttingDown);
    await expect(batcher.submit(3)).rejects.toBe(shuttingDown);
    await turn();
    expect(idle).toBe(false);
    await rt.finishNext();
    await closed;
    await expect(running).resolves.toBe('done 0');
    expect(rt.batches).toEqual([[0]]);
  });

  it('answers 503 once the queue is full while every thread is busy', async () => {
    const rt = manualRuntime<number>();
    const batcher = createAdaptiveBatcher({
      runBatch: rt.runBatch,
      slots: 1,
      maxBatchSize: 64,
      maxDelayMs: 0,
      maxQueue: 2,
    });
    const accepted = [batcher.submit(0)];
    await turn();
    accepted.push(batcher.submit(1), batcher.submit(2));
    await expect(batcher.submit(3)).rejects.toMatchObject({ code: 'SERVER_BUSY', statusCode: 503 });
    await rt.finishNext();
    await rt.finishNext();
    await expect(Promise.all(accepted)).resolves.toHaveLength(3);
  });

  it('runs every request alone when batching is off (maxBatchSize 1)', async () => {
    const rt = manualRuntime<number>();
    const batcher = createAdaptiveBatcher({
      runBatch: rt.runBatch,
      slots: 1,
      maxBatchSize: 1,
      maxDelayMs: 50,
      maxQueue: 100,
    });
    const all = [1, 2, 3].map((i) => batcher.submit(i));
    await turn();
    for (let i = 0; i < 3; i++) await rt.finishNext();
    await Promise.all(all);
    expect(rt.batches).toEqual([[1], [2], [3]]);
  });

  it('tells the observer each batch size and each request queue wait', async () => {
    const rt = manualRuntime<number>();
    const batcher = createAdaptiveBatcher({
      runBatch: rt.runBatch,
      slots: 1,
      maxBatchSize: 64,
      maxDelayMs: 0,
      maxQueue: 100,
    });
    const seen: { items: number; waits: number[] }[] = [];
    batcher.observe({ batch: (items, waits) => seen.push({ items, waits }) });
    const all = [batcher.submit(0)];
    await turn();
    all.push(batcher.submit(1), batcher.submit(2));
    await new Promise((r) => setTimeout(r, 20));
    await rt.finishNext();
    await rt.finishNext();
    await Promise.all(all);
    expect(seen.map((s) => s.items)).toEqual([1, 2]);
    expect(Math.min(...seen[1]!.waits)).toBeGreaterThanOrEqual(0.015);
  });

  it('hands a full batch ahead to a busy thread (aheadSlots), at most aheadSlots of them', async () => {
    const rt = manualRuntime<number>();
    const batcher = oneThreadOneAhead(rt);
    const all = [0, 1, 2].map((i) => batcher.submit(i));
    await turn();
    // 0 runs, 1 (a full batch: one item is all it can hold) waits in the thread behind it, 2 waits here
    expect(rt.batches).toEqual([[0], [1]]);
    expect(batcher.running()).toBe(2);
    expect(batcher.queued()).toBe(2); // 1 still waits too, until the thread starts it
    await rt.finishNext();
    expect(rt.batches).toEqual([[0], [1], [2]]);
    await rt.finishNext();
    await rt.finishNext();
    await expect(Promise.all(all)).resolves.toEqual(['done 0', 'done 1', 'done 2']);
  });

  it('keeps a partial batch until a slot is free, and hands it ahead once it is full', async () => {
    const rt = manualRuntime<number>();
    const batcher = oneThreadOneAhead(rt, { maxBatchSize: 4 });
    await warmUp(batcher, rt, 0); // sizes known: one row each, 4 per batch
    const all = [1, 2, 3, 4, 5, 6].map((i) => batcher.submit(i));
    await turn();
    // 1-4 fill a batch the free slot takes; 5-6 stay here while the slot is busy: a partial batch still grows
    expect(rt.batches).toEqual([[0], [1, 2, 3, 4]]);
    expect(batcher.queued()).toBe(2);
    all.push(batcher.submit(7), batcher.submit(8));
    await turn();
    expect(rt.batches).toEqual([[0], [1, 2, 3, 4], [5, 6, 7, 8]]);
    all.push(batcher.submit(9));
    await turn();
    await rt.finishNext(); // the thread goes on with 5-8: still no free slot for 9
    expect(rt.batches).toHaveLength(3);
    await rt.finishNext();
    expect(rt.batches).toEqual([[0], [1, 2, 3, 4], [5, 6, 7, 8], [9]]);
    await rt.finishNext();
    await expect(Promise.all(all)).resolves.toHaveLength(9);
  });

  it('gives a partial batch to a thread that is idle while another holds a batch ahead (idleThread)', async () => {
    const rt = manualRuntime<number>();
    let idle = false;
    const batcher = createAdaptiveBatcher({
      runBatch: rt.runBatch,
      slots: 1,
      aheadSlots: 1,
      idleThread: () => idle,
      maxBatchSize: 4,
      maxDelayMs: 0,
      maxQueue: 100,
    });
    await warmUp(batcher, rt, 0);
    const all = [1, 2, 3, 4].map((i) => batcher.submit(i));
    await turn();
    all.push(batcher.submit(5));
    await turn();
    expect(rt.batches).toEqual([[0], [1, 2, 3, 4]]);
    idle = true;
    all.push(batcher.submit(6));
    await turn();
    expect(rt.batches).toEqual([[0], [1, 2, 3, 4], [5, 6]]);
    await rt.finishNext();
    await rt.finishNext();
    await expect(Promise.all(all)).resolves.toHaveLength(6);
  });

  it('drops an item whose signal aborts while its batch waits ahead: the runtime skips it, nothing observes it as run', async () => {
    const rt = manualRuntime<number>();
    const batches: number[] = [];
    const dropped: string[] = [];
    const batcher = oneThreadOneAhead(rt);
    batcher.observe({ batch: (items) => batches.push(items), dropped: (reason) => dropped.push(reason.message) });
    const first = batcher.submit(0);
    const gone = new AbortController();
    const second = batcher.submit(1, { signal: gone.signal });
    await turn();
    expect(rt.batches).toEqual([[0], [1]]);
    expect(rt.aheads[0]).toBeUndefined();
    expect(rt.aheads[1]).toBeInstanceOf(SharedArrayBuffer);
    expect(batcher.queued()).toBe(1); // waits in the thread, not yet started
    gone.abort(new Error('client left'));
    await expect(second).rejects.toThrow('client left');
    expect(dropped).toEqual(['client left']);
    expect(batcher.queued()).toBe(0);
    await rt.finishNext();
    // the thread takes the batch ahead next: its one item was cancelled, so it skips it
    expect(startAhead(rt.aheads[1]!)).toEqual([true]);
    await rt.finishNext();
    await expect(first).resolves.toBe('done 0');
    expect(batches).toEqual([1]); // the skipped batch is no batch run
    expect(batcher.running()).toBe(0);
  });

  it('runs an item of a batch ahead whose signal aborts after the runtime started the batch, and drops nothing', async () => {
    const rt = manualRuntime<number>();
    const dropped: string[] = [];
    const batcher = oneThreadOneAhead(rt);
    batcher.observe({ batch: () => undefined, dropped: (reason) => dropped.push(reason.message) });
    const first = batcher.submit(0);
    const late = new AbortController();
    const second = batcher.submit(1, { signal: late.signal });
    await turn();
    expect(startAhead(rt.aheads[1]!)).toEqual([false]);
    late.abort(new Error('too late'));
    await rt.finishNext();
    await rt.finishNext();
    await expect(Promise.all([first, second])).resolves.toEqual(['done 0', 'done 1']);
    expect(dropped).toEqual([]);
  });

  it('counts a batch handed ahead in the queue limit until the runtime starts it, and its wait until then', async () => {
    const rt = manualRuntime<number>();
    const seen: { items: number; waits: number[] }[] = [];
    const batcher = oneThreadOneAhead(rt, { maxQueue: 1 });
    batcher.observe({ batch: (items, waits) => seen.push({ items, waits }) });
    const ok = [batcher.submit(0)];
    await turn();
    ok.push(batcher.submit(1));
    await turn();
    expect(rt.batches).toEqual([[0], [1]]); // 1 went ahead, but still waits
    expect(batcher.queued()).toBe(1);
    await expect(batcher.submit(2)).rejects.toMatchObject({ code: 'SERVER_BUSY', statusCode: 503 });
    await new Promise((r) => setTimeout(r, 20));
    startAhead(rt.aheads[1]!); // the thread starts 1: it no longer waits
    expect(batcher.queued()).toBe(0);
    ok.push(batcher.submit(3));
    await rt.finishNext(); // 0 ends; 3 goes ahead behind 1
    expect(rt.batches).toEqual([[0], [1], [3]]);
    await rt.finishNext();
    startAhead(rt.aheads[2]!);
    await rt.finishNext();
    await expect(Promise.all(ok)).resolves.toEqual(['done 0', 'done 1', 'done 3']);
    // 1's queue wait ran until the runtime started it (~20 ms), not until it was handed ahead
    expect(seen.map((s) => s.items)).toEqual([1, 1, 1]);
    expect(seen[1]!.waits[0]).toBeGreaterThanOrEqual(0.015);
  });
});
