import { AppError } from '../../../shared/errors/app-error.js';
import { aheadStartedAt, cancelAheadItem, createAheadControl } from './ahead-control.js';

/** What a batch run answers for one of its items: its value, or the error of that item alone. */
export type BatchOutcome<R> =
  | { ok: true; value: R; /** the item's size once known (rows), to size later batches */ size?: number }
  | { ok: false; error: Error; size?: number };

/** Observes the batches (prom-client histograms in the server; none in tests). */
export interface BatchObserver {
  /** a batch left the queue: how many items, and how long each item waited in the queue (seconds) */
  batch: (items: number, waitSeconds: number[]) => void;
  /** an item left the queue before it ran: its signal aborted (`reason`: its deadline passed, its client left) */
  dropped?: (reason: Error) => void;
}

export interface AdaptiveBatcher<T, R> {
  /**
   * Queues one item; it runs in the next batch a slot takes.
   * @throws AppError SERVER_BUSY (503) when the queue is full; the signal's reason when aborted while queued
   */
  submit: (item: T, options?: { signal?: AbortSignal | undefined }) => Promise<R>;
  /** items waiting for a slot */
  queued: () => number;
  /** batches running now */
  running: () => number;
  /** sets (or replaces) the observer of batches */
  observe: (observer: BatchObserver | null) => void;
  /**
   * Takes no more batches: what waits in the queue (and any later submit) fails with `reason`.
   * @returns settles once the batches running now have ended
   */
  close: (reason: Error) => Promise<void>;
}

interface Waiting<T, R> {
  item: T;
  enqueuedAt: number;
  resolve: (value: R) => void;
  reject: (err: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** the batch handed ahead that holds the item, and its index there */
  ahead?: Ahead<T, R>;
  index?: number;
  /** cancelled while its batch waited ahead: the runtime skips it */
  skipped?: boolean;
}

/** A batch handed ahead: it waits in a runtime thread, still cancellable, until the thread starts it. */
interface Ahead<T, R> {
  batch: Waiting<T, R>[];
  /** shared with the runtime (ahead-control.ts) */
  control: SharedArrayBuffer;
  /** items not cancelled */
  live: number;
  started: boolean;
}

/**
 * Adaptive batching in front of any runtime (the ONNX inference threads, a pool of Python workers): requests that
 * arrive while the runtime is busy are merged into one call, as MLServer's and Triton's dynamic batchers do.
 *
 * A slot (one inference thread) takes a batch when it is free and either the queue holds `maxBatchSize` worth of
 * items or the oldest item has waited `maxDelayMs`. With `maxDelayMs` 0 a free slot takes what arrived in the
 * same turn of the event loop, so a lone request waits for nothing. While every slot is busy the queue fills,
 * and the next free slot takes it whole (up to `maxBatchSize`): the busier the server, the larger the batches.
 *
 * Sizes are in the runtime's unit (rows): an item's size is not known before the runtime parses it, so the
 * batcher sizes a batch with the mean size the runtime reported for recent items (one item per batch until it
 * reports any; a runtime that never reports sizes gets batches of `maxBatchSize` items).
 * `maxBatchSize` 1 turns batching off: each item runs alone, in arrival order, on the next free slot.
 *
 * `aheadSlots`: while every slot is busy, a *full* batch (it can grow no more) goes at once instead of waiting for a
 * slot to free, up to `aheadSlots` such batches, each to wait in a runtime thread behind the batch it runs. Why: the
 * batch a slot takes next is otherwise handed over only once its previous one has come back to this thread, so the
 * runtime's thread sleeps for that round trip (its answer received, this thread woken and free to dispatch, the
 * next batch posted, the runtime's thread woken again) after every batch; under load, with many large requests
 * (one full batch each), that was ~8% of 2 cores left idle. A partial batch still waits for a free slot (it grows
 * meanwhile): fewer than `slots` batches out, or `idleThread()` (a thread ran its batch while another still holds
 * one ahead).
 * A batch handed ahead still counts as queued (`queued()`, the `maxQueue` limit) until the runtime starts it, and
 * its items' queue wait ends then; an item whose signal aborts before that is skipped (`runBatch`'s `ahead`
 * control, ahead-control.ts) and dropped as from the queue.
 */
export function createAdaptiveBatcher<T, R>(params: {
  /**
   * runs one batch on a slot: one outcome per item, in order; a rejection fails every item of the batch. `ahead`
   * (a batch handed ahead): the runtime marks the batch started right before it scores it and skips the items
   * cancelled before that (ahead-control.ts startAhead); their outcomes are ignored.
   */
  runBatch: (items: T[], ahead?: SharedArrayBuffer) => Promise<BatchOutcome<R>[]>;
  /** batches that may run at once (inference threads) */
  slots: number;
  /** full batches that may be handed out beyond `slots` while every slot is busy (see above) @default 0 */
  aheadSlots?: number;
  /**
   * whether a runtime thread has nothing to run, though `slots` batches or more are out (a thread that ran its batch
   * while another still holds one ahead): a batch then goes to it, as to a free slot. Without it, only fewer than
   * `slots` batches out means a free slot.
   */
  idleThread?: () => boolean;
  /** largest batch, in rows (items when their size is unknown); 1 = no batching */
  maxBatchSize: number;
  /** longest the oldest queued item waits for others while a slot is free */
  maxDelayMs: number;
  /** items that may wait; one more is refused with 503 */
  maxQueue: number;
  now?: () => number;
}): AdaptiveBatcher<T, R> {
  const now = params.now ?? (() => performance.now());
  const queue: Waiting<T, R>[] = [];
  let running = 0;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  let observer: BatchObserver | null = null;
  let closedBy: Error | null = null;
  let idle: PromiseWithResolvers<undefined> | null = null;
  // mean rows per item over recent batches (exponential moving average); unknown until the runtime reports one,
  // and until then a batch holds one item: a first burst of large requests must not become one long batch
  let meanSize: number | null = null;
  // batches handed ahead and not yet ended
  const aheadOut = new Set<Ahead<T, R>>();

  /** items waiting: in the queue, and in batches handed ahead that the runtime has not started */
  const waitingItems = (): number => {
    let n = queue.length;
    for (const out of aheadOut) {
      if (!out.started) out.started = aheadStartedAt(out.control) !== null;
      if (!out.started) n += out.live;
    }
    return n;
  };

  const capacity = (): number =>
    meanSize === null ? 1 : Math.max(1, Math.floor(params.maxBatchSize / Math.max(1, meanSize)));
  const most = params.slots + (params.aheadSlots ?? 0);
  const slotFree = (): boolean =>
    running < params.slots || (running < most && params.idleThread !== undefined && params.idleThread());
  /** a batch may go now: a slot is free, or the queue holds a full batch and an ahead slot is free */
  const mayDispatch = (): boolean => queue.length > 0 && (slotFree() || (running < most && queue.length >= capacity()));

  /** every slot busy: a full batch goes ahead if an ahead slot is free */
  const goAhead = (): void => {
    if (!mayDispatch()) return;
    dispatch();
    schedule(false);
  };

  /** `arrival`: called for a new item (else a slot just freed: what waits goes at once) */
  const schedule = (arrival: boolean): void => {
    if (queue.length === 0 || closedBy) return;
    if (!slotFree()) {
      goAhead();
      return;
    }
    if (queue.length >= capacity()) {
      dispatch();
      schedule(false);
      return;
    }
    const waited = now() - queue[0]!.enqueuedAt;
    if (params.maxBatchSize <= 1 || waited >= params.maxDelayMs) {
      if (!arrival) {
        dispatch();
        schedule(false);
        return;
      }
      // what arrives in this turn of the event loop still joins the batch
      immediate ??= setImmediate(() => {
        immediate = undefined;
        dispatch();
        schedule(false);
      });
      return;
    }
    if (timer) return;
    timer = setTimeout(
      () => {
        timer = undefined;
        dispatch();
        schedule(false);
      },
      Math.max(0, params.maxDelayMs - waited),
    );
  };

  const dispatch = (): void => {
    if (!mayDispatch()) return;
    if (timer) clearTimeout(timer);
    timer = undefined;
    const goesAhead = !slotFree();
    const batch = queue.splice(0, capacity());
    let ahead: Ahead<T, R> | undefined;
    if (goesAhead) {
      // its items stay cancellable, and their queue wait runs on, until the runtime starts it (runOne)
      ahead = { batch, control: createAheadControl(batch.length), live: batch.length, started: false };
      for (let i = 0; i < batch.length; i++) {
        batch[i]!.ahead = ahead;
        batch[i]!.index = i;
      }
      aheadOut.add(ahead);
    } else {
      const at = now();
      for (const w of batch) w.signal?.removeEventListener('abort', w.onAbort!);
      observer?.batch(
        batch.length,
        batch.map((w) => (at - w.enqueuedAt) / 1000),
      );
    }
    running++;
    void runOne(batch, ahead).finally(() => {
      running--;
      if (running === 0) idle?.resolve(undefined);
      schedule(false);
    });
  };

  const runOne = async (batch: Waiting<T, R>[], ahead: Ahead<T, R> | undefined): Promise<void> => {
    let outcomes: BatchOutcome<R>[];
    try {
      outcomes = await params.runBatch(
        batch.map((w) => w.item),
        ahead?.control,
      );
    } catch (err) {
      if (ahead) aheadEnded(ahead);
      for (const w of batch) w.reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (ahead) aheadEnded(ahead);
    // the items skipped in the runtime were answered when cancelled; their outcomes mean nothing
    learnSizes(ahead ? outcomes.filter((_, i) => !batch[i]!.skipped) : outcomes);
    batch.forEach((w, i) => {
      if (w.skipped) return;
      const outcome = outcomes[i];
      if (!outcome) w.reject(new Error('the runtime answered fewer items than it was given'));
      else if (outcome.ok) w.resolve(outcome.value);
      else w.reject(outcome.error);
    });
  };

  /**
   * A batch handed ahead has ended: its items' abort handling ends, and the batch is observed as it started in the
   * runtime (its items cancelled before that left out; a batch the runtime never started is not observed).
   */
  const aheadEnded = (ahead: Ahead<T, R>): void => {
    aheadOut.delete(ahead);
    for (const w of ahead.batch) w.signal?.removeEventListener('abort', w.onAbort!);
    const startedAt = aheadStartedAt(ahead.control);
    if (startedAt === null || !observer) return;
    const ran = ahead.batch.filter((w) => !w.skipped);
    if (ran.length === 0) return;
    const at = startedAt - performance.timeOrigin;
    observer.batch(
      ran.length,
      ran.map((w) => Math.max(0, at - w.enqueuedAt) / 1000),
    );
  };

  const learnSizes = (outcomes: BatchOutcome<R>[]): void => {
    for (const o of outcomes) {
      if (o.size !== undefined && o.size > 0) meanSize = meanSize === null ? o.size : meanSize * 0.8 + o.size * 0.2;
    }
    // a runtime that answers without sizes counts items
    if (meanSize === null && outcomes.some((o) => o.ok && o.size === undefined)) meanSize = 1;
  };

  const submit = (item: T, options: { signal?: AbortSignal | undefined } = {}): Promise<R> => {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(reasonOf(signal));
    if (closedBy) return Promise.reject(closedBy);
    if (running >= params.slots && waitingItems() >= params.maxQueue) {
      return Promise.reject(
        new AppError({
          code: 'SERVER_BUSY',
          statusCode: 503,
          message: 'The server is at its inference queue limit; retry later',
        }),
      );
    }
    return new Promise<R>((resolve, reject) => {
      const waiting: Waiting<T, R> = { item, enqueuedAt: now(), resolve, reject, signal, onAbort: undefined };
      if (signal) {
        // a request that gives up while queued leaves the queue: no thread computes an answer nobody reads
        waiting.onAbort = () => {
          const { ahead } = waiting;
          if (ahead) {
            // its batch waits in a runtime thread: skipped there unless the thread has started it (then it runs)
            if (!cancelAheadItem(ahead.control, waiting.index!)) return;
            waiting.skipped = true;
            ahead.live--;
          } else {
            const at = queue.indexOf(waiting);
            if (at >= 0) queue.splice(at, 1);
          }
          const reason = reasonOf(signal);
          observer?.dropped?.(reason);
          reject(reason);
        };
        signal.addEventListener('abort', waiting.onAbort, { once: true });
      }
      queue.push(waiting);
      schedule(true);
    });
  };

  return {
    submit,
    queued: waitingItems,
    running: () => running,
    observe: (o) => {
      observer = o;
    },
    close: (reason) => {
      closedBy ??= reason;
      if (timer) clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
      timer = immediate = undefined;
      for (const w of queue.splice(0)) {
        w.signal?.removeEventListener('abort', w.onAbort!);
        w.reject(closedBy);
      }
      if (running === 0) return Promise.resolve();
      idle ??= Promise.withResolvers<undefined>();
      return idle.promise;
    },
  };
}

function reasonOf(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('aborted');
}
