import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { WorkerInit } from './inference-worker.js';
import { setTimeout as delay } from 'node:timers/promises';
import type { InferenceWorkerData, SessionGuess } from './early-session.js';
import { createThreadInit, whenNativeIdle } from './thread-init.js';

/** The inference threads of a model, started before the model's settings are known. */
export interface InferenceThreads {
  pool: Piscina;
  /** hands the model's settings to the threads: each waits for them before it loads onnxruntime */
  provide: (init: WorkerInit) => void;
  /** settles once the threads have their settings (`provide()`: they load onnxruntime) or are closed */
  settled: Promise<'provided' | 'closed'>;
  /** rejects with the first thread's failure (piscina's 'error' event: a thread that cannot start) */
  failed: Promise<never>;
  /**
   * ends the threads (once: later calls get the same promise), once none is inside onnxruntime-node's import or
   * session creation (early-session.ts) or `waitBound` settles (default CLOSE_WAIT_FOR_LOADING_MS from now)
   */
  close: (waitBound?: Promise<unknown>) => Promise<void>;
  /** whether a started thread holds no task (as piscina counted them when it last handed one out) */
  idleThread: () => boolean;
}

type LoadBalancer = NonNullable<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer']>;
type PoolThread = Parameters<LoadBalancer>[1][number];

/**
 * The longest a close waits for threads still loading the model (the pool's other threads, or the first one when
 * a signal comes during the start): ended inside onnxruntime-node's load, a thread aborts the whole process.
 */
export const CLOSE_WAIT_FOR_LOADING_MS = 10_000;

/**
 * Tasks a thread holds at once: the one it runs and the next one, posted to it while it runs (the batcher hands
 * out a full batch ahead, adaptive-batcher.ts `aheadSlots`), so it starts that one without sleeping until the main
 * thread has taken its answer and posted another. A thread runs its tasks one after the other (onnxruntime's run
 * is synchronous); the second one starts after the first one's model call (inference-worker.ts modelTurn).
 */
export const TASKS_PER_THREAD = 2;

/**
 * Starts the first of `threads` inference threads now; the model's settings follow with `provide()`.
 * Cold start: the thread's own boot (Node's worker start-up, piscina, the scoring code; ~50 ms here) runs while
 * the main thread parses the settings and reads MLmodel, instead of after; with a `guess`, so does its load of
 * onnxruntime and the session (early-session.ts). A thread ended inside those aborts the whole process (c605d0b):
 * `close()` waits for them first, so a process that exits early (a bad setting, a missing model) exits as it says.
 */
export function startInferenceThreads(params: {
  threads: number;
  maxQueue: number;
  /** the session the first thread begins before its settings come (early-session.ts) */
  guess?: SessionGuess | null;
}): InferenceThreads {
  const init = createThreadInit<WorkerInit>();
  // the threads as piscina last listed them to hand out a task; their task counts are read live
  let threads: PoolThread[] = [];
  const workerData: InferenceWorkerData = { ...init.ref, guess: params.guess ?? null };
  const pool = new Piscina({
    filename: fileURLToPath(new URL('./inference-worker.js', import.meta.url)),
    workerData,
    // one thread now, the others once it is ready (inference-pool.ts, startOtherThreads)
    minThreads: 1,
    maxThreads: params.threads,
    // the batcher holds the queue (maxQueue); piscina only ever holds the batches of threads still starting
    maxQueue: Math.max(params.maxQueue, params.threads),
    idleTimeout: Number.POSITIVE_INFINITY,
    concurrentTasksPerWorker: TASKS_PER_THREAD,
    // piscina's own least-busy choice (an idle thread first, else the one with fewest tasks), keeping the list
    loadBalancer: (_task, workers) => {
      threads = workers;
      let chosen: PoolThread | null = null;
      for (const w of workers) {
        if (w.currentUsage < TASKS_PER_THREAD && (chosen === null || w.currentUsage < chosen.currentUsage)) chosen = w;
      }
      return chosen;
    },
    // no run/wait-time histograms (nobody reads them): per task they cost the main thread two clock reads and two
    // histogram records, and the thread a clock read around each run
    recordTiming: false,
  });
  // A thread that cannot start fails as a pool 'error' event (not a task rejection); listened to from now on,
  // since an 'error' event nobody listens to would end the process.
  const failed = new Promise<never>((_resolve, reject) => pool.once('error', reject));
  failed.catch(() => undefined);
  let closed: Promise<void> | undefined;
  const settled = Promise.withResolvers<'provided' | 'closed'>();
  return {
    pool,
    provide: (settings) => {
      init.provide(settings);
      settled.resolve('provided');
    },
    settled: settled.promise,
    failed,
    idleThread: () => threads.some((w) => w.currentUsage === 0 && !w.terminating && !w.destroyed),
    close: (waitBound) => {
      settled.resolve('closed');
      closed ??= whenNativeIdle(
        init.ref,
        waitBound ?? delay(CLOSE_WAIT_FOR_LOADING_MS, undefined, { ref: false }),
      ).then(() => pool.destroy());
      return closed;
    },
  };
}
