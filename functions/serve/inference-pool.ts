import { setTimeout as delay } from 'node:timers/promises';
import type { Piscina } from 'piscina';
import type { InferenceSession } from 'onnxruntime-node';
import { AppError } from '../../shared/errors/app-error.js';
import type { Signature } from '../../shared/model/signature.js';
import { createAdaptiveBatcher, type BatchObserver, type BatchOutcome } from './batching/adaptive-batcher.js';
import { hasBatchDimension } from './batching/has-batch-dimension.js';
import { ownedBytes, packBodies } from './batching/pack-bodies.js';
import type { BatchItemResult, InferenceTask, ScoringRefusal, ThreadReport, WorkerInit } from './inference-worker.js';
import { withWeightsFolder, type MappedOnnxModel } from './map-onnx-weights.js';
import { toModelIo } from './model-io.js';
import type { ScoringAnswer, ScoringTask } from './scoring.js';
import {
  CLOSE_WAIT_FOR_LOADING_MS,
  TASKS_PER_THREAD,
  startInferenceThreads,
  type InferenceThreads,
} from './start-inference-threads.js';

export interface InferencePool {
  /**
   * Scores one request in a worker thread; the task's body buffer is transferred to it (unusable here after).
   * @returns the response body: JSON as UTF-8 bytes
   * @throws AppError the worker's refusal of the request; SERVER_BUSY (503) when the queue is full; the signal's
   * reason when it aborts while the request is still queued
   */
  score: (task: ScoringTask, options?: { signal?: AbortSignal | undefined }) => Promise<ScoringAnswer>;
  /** what the first thread reported once it had loaded the model and run the input example */
  threads: ThreadReport[];
  /**
   * Settles once every other thread has loaded the model too (they start when the first is ready); rejects with
   * the error of a thread that could not.
   */
  allLoaded: Promise<void>;
  /** runs waiting for a thread */
  queued: () => number;
  /** the largest batch in rows (1: batching is off, the model has no batch dimension or it was turned off) */
  maxBatchSize: number;
  /** sets the observer of the batches (batch size, queue wait) */
  observeBatches: (observer: BatchObserver | null) => void;
  /**
   * Ends the threads, once those still loading the model or running a batch are done (a thread ended inside
   * onnxruntime's load or run aborts the process) or `waitBound` settles, whichever comes first. What still
   * waits in the queue fails with a 503 SERVER_SHUTTING_DOWN.
   */
  close: (options?: InferencePoolCloseOptions) => Promise<void>;
}

export interface InferencePoolCloseOptions {
  /**
   * the end of the wait for threads still loading or running a batch; a signal during the start passes the bound it
   * already runs, so its waits for the first thread and for the others share one deadline
   * @default CLOSE_WAIT_FOR_LOADING_MS from now
   */
  waitBound?: Promise<unknown>;
  /** called when the bound ended the wait, before the threads still loading (or running a batch) are ended */
  stillBusy?: () => void;
}

/**
 * A pool of `threads` worker threads, each with its own onnxruntime session of the model (so inference never
 * blocks the event loop), and a bounded queue in front of them. Resolves once the first thread has loaded the
 * model and run its input example; the others start then (`allLoaded`).
 * Cold start: on few cores, threads loading at once share the CPU with each other and with the main thread's own
 * start (express, prom-client), so the first thread alone is ready sooner, and requests meanwhile queue for it.
 */
export async function createInferencePool(params: {
  onnxPath: string;
  /** the model's header with its large weights mapped from the model file; null: onnxPath as it is */
  mapped: MappedOnnxModel | null;
  sessionOptions: InferenceSession.SessionOptions;
  modelName: string;
  signature: Signature | null;
  examplePath: string | null;
  threads: number;
  maxQueue: number;
  /** SERVE_MAX_BATCH_SIZE: rows per model call when requests are merged; 1 turns batching off */
  maxBatchSize: number;
  /** SERVE_MAX_BATCH_DELAY_MS: longest a request waits for others while a thread is free */
  maxBatchDelayMs: number;
  /** SERVE_MAX_REQUEST_VALUES: requests holding more values are refused (413) before they are parsed */
  maxRequestValues: number;
  /** threads started before the model's settings were known (startInferenceThreads); else started now */
  started?: InferenceThreads | undefined;
}): Promise<InferencePool> {
  const workerData: WorkerInit = {
    onnxPath: params.onnxPath,
    mappedHeader: params.mapped?.header ?? null,
    sessionOptions: params.mapped
      ? withWeightsFolder(params.sessionOptions, params.mapped.folder)
      : params.sessionOptions,
    modelName: params.modelName,
    signature: params.signature,
    examplePath: params.examplePath,
    limits: { maxValues: params.maxRequestValues },
  };
  const started = params.started ?? startInferenceThreads({ threads: params.threads, maxQueue: params.maxQueue });
  started.provide(workerData);
  const { pool } = started;
  const first = pool.run(DESCRIBE) as Promise<ThreadReport>;
  const report = await Promise.race([first, started.failed]).catch(async (cause: unknown) => {
    await started.close().catch(() => undefined);
    throw new AppError({
      code: 'MODEL_LOAD_FAILED',
      statusCode: 500,
      message: `onnxruntime cannot load ${params.onnxPath}: ${firstLine(cause)}`,
      cause,
    });
  });
  pool.on('error', () => undefined); // later thread crashes surface as failed runs; piscina replaces the thread
  const others = startOthersLater(pool, params.threads);
  const { allLoaded } = others;
  allLoaded.catch(() => undefined);
  const threads = [report];
  const batchable = hasBatchDimension(toModelIo(report, params.signature));
  const maxBatchSize = batchable ? params.maxBatchSize : 1;
  let closing = false;
  // the batcher is the one queue: it hands piscina at most one batch per thread, and a full batch to wait behind it
  // (TASKS_PER_THREAD), which piscina posts to that thread at once, so piscina's own queue stays empty
  const batcher = createAdaptiveBatcher<ScoringTask, ScoringAnswer>({
    runBatch: (tasks, ahead) =>
      (maxBatchSize > 1 ? runBatch(pool, tasks, maxBatchSize, ahead) : runAlone(pool, tasks[0]!, ahead))
        .catch((cause: unknown) => {
          // the threads ended by close(), not failed: a 503 the server's shutdown explains, not an error per request
          throw closing ? shuttingDown(cause) : cause;
        })
        .finally(others.firstAnswered),
    slots: params.threads,
    aheadSlots: params.threads * (TASKS_PER_THREAD - 1),
    idleThread: started.idleThread,
    maxBatchSize,
    maxDelayMs: params.maxBatchDelayMs,
    maxQueue: params.maxQueue,
  });
  return {
    score: (task, options) => batcher.submit(task, options),
    threads,
    allLoaded,
    queued: batcher.queued,
    maxBatchSize,
    observeBatches: batcher.observe,
    close: async (options) => {
      closing = true;
      // the other threads' start when it has not come yet: never (nothing of theirs to wait for)
      const othersLoaded = others.cancel() ? allLoaded : Promise.resolve();
      // a thread terminated while onnxruntime creates its session aborts the whole process (onnxruntime-node throws
      // from native code: SIGABRT instead of exit 0 on a SIGTERM right after ready): let them finish loading first.
      // The same for a thread inside session.run (SIGABRT on a SIGTERM under load): the batches running now finish
      // (their answers discarded when their clients are gone), those still queued fail with a 503.
      const idle = batcher.close(shuttingDown(undefined));
      const bound = options?.waitBound ?? delay(CLOSE_WAIT_FOR_LOADING_MS, undefined, { ref: false });
      const done = await Promise.race([
        Promise.all([othersLoaded.catch(() => undefined), idle]).then(yes),
        bound.then(no, no),
      ]);
      if (!done) options?.stillBusy?.();
      await started.close(bound);
    },
  };
}

const DESCRIBE: InferenceTask = { kind: 'describe' };
const yes = (): boolean => true;
const no = (): boolean => false;

/** How long after the first thread is ready the others start when no request has come (startOthersLater). */
export const OTHER_THREADS_AFTER_MS = 100;

/**
 * The other threads' start, once the first request is answered (its batch settled) or OTHER_THREADS_AFTER_MS after
 * ready without one, whichever comes first. Why: a thread's start (Node's worker boot, onnxruntime's session) takes
 * a core for ~50-100 ms; started right at ready, the others' starts took the CPU the first requests needed, which
 * come right then (Knative's activator forwards the request that woke the pod as soon as it is ready). Under load
 * the first batch ends within milliseconds, so the others start about as soon as before.
 */
export function startOthersLater(
  pool: Piscina,
  threads: number,
): { allLoaded: Promise<void>; firstAnswered: () => void; cancel: () => boolean } {
  const loaded = Promise.withResolvers<undefined>();
  let started = false;
  const start = (): void => {
    if (started) return;
    started = true;
    clearTimeout(timer);
    startOtherThreads(pool, threads).then(() => loaded.resolve(undefined), loaded.reject);
  };
  const timer = setTimeout(start, OTHER_THREADS_AFTER_MS);
  return {
    allLoaded: loaded.promise,
    // after the answer's own callbacks (its response written), not before them
    firstAnswered: () => {
      if (!started) setImmediate(start);
    },
    /** no start from now on; whether it had come (allLoaded then settles), else allLoaded never does */
    cancel: () => {
      if (started) return true;
      started = true;
      clearTimeout(timer);
      return false;
    },
  };
}

/**
 * Starts the pool's other `threads - 1` threads, its first being ready. Piscina starts a thread (up to maxThreads)
 * for each task that no started thread can take at once: TASKS_PER_THREAD describes per thread, all at once, have
 * the first take TASKS_PER_THREAD and a new thread started for each of the others (the first answers them all as
 * soon as it is free).
 * @returns settles when every new thread has loaded the model (piscina's `workerCreate`), or one could not
 */
function startOtherThreads(pool: Piscina, threads: number): Promise<void> {
  if (threads <= 1) return Promise.resolve();
  const loaded = new Promise<void>((resolve, reject) => {
    let created = 0;
    const onCreate = (): void => {
      created += 1;
      if (created < threads - 1) return;
      pool.off('error', reject);
      pool.off('workerCreate', onCreate);
      resolve();
    };
    pool.on('workerCreate', onCreate);
    pool.once('error', reject);
  });
  for (let i = 0; i < threads * TASKS_PER_THREAD; i++) pool.run(DESCRIBE).catch(() => undefined);
  return loaded;
}

/** One request, batching off: scored on its own in a thread. */
async function runAlone(
  pool: Piscina,
  task: ScoringTask,
  ahead: SharedArrayBuffer | undefined,
): Promise<BatchOutcome<ScoringAnswer>[]> {
  const body = ownedBytes(task.body);
  const message: InferenceTask = { ...task, kind: 'score', body, ...(ahead && { ahead }) };
  let result: ScoringAnswer | ScoringRefusal;
  try {
    result = (await pool.run(message, { transferList: [body.buffer] })) as ScoringAnswer | ScoringRefusal;
  } catch (cause) {
    throw poolError(cause);
  }
  if ('body' in result) return [{ ok: true, value: result }];
  return [{ ok: false, error: new AppError(result.refused) }];
}

/**
 * Requests merged into one task: the thread scores them together and answers each on its own. Their small bodies
 * travel in one buffer (packBodies).
 */
async function runBatch(
  pool: Piscina,
  tasks: ScoringTask[],
  maxRows: number,
  ahead: SharedArrayBuffer | undefined,
): Promise<BatchOutcome<ScoringAnswer>[]> {
  const packed = packBodies(tasks);
  const message: InferenceTask = { kind: 'batch', tasks: packed.tasks, maxRows, ...(ahead && { ahead }) };
  let results: BatchItemResult[];
  try {
    results = (await pool.run(message, { transferList: packed.transfer })) as BatchItemResult[];
  } catch (cause) {
    throw poolError(cause);
  }
  return results.map((r) =>
    'body' in r
      ? { ok: true, value: answerOf(r), ...(r.rows === undefined ? {} : { size: r.rows }) }
      : { ok: false, error: new AppError(r.refused), ...(r.rows === undefined ? {} : { size: r.rows }) },
  );
}

function answerOf(r: ScoringAnswer): ScoringAnswer {
  return r.headerLength === undefined ? { body: r.body } : { body: r.body, headerLength: r.headerLength };
}

function poolError(cause: unknown): AppError {
  if (/queue is at limit/i.test(firstLine(cause))) {
    return new AppError({
      code: 'SERVER_BUSY',
      statusCode: 503,
      message: 'The server is at its inference queue limit; retry later',
      cause,
    });
  }
  // the thread died under the request (piscina starts a new one): nothing the client did
  return new AppError({ code: 'INFERENCE_FAILED', statusCode: 500, message: 'The inference thread failed', cause });
}

function shuttingDown(cause: unknown): AppError {
  return new AppError({ code: 'SERVER_SHUTTING_DOWN', statusCode: 503, message: 'The server is shutting down', cause });
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
