import { AppError, relayedErrorCode } from '../../../shared/errors/app-error.js';
import type { Logger } from '../../../shared/log/create-logger.js';
import { createAdaptiveBatcher, type BatchObserver, type BatchOutcome } from '../batching/adaptive-batcher.js';
import type { ScoringTask } from '../scoring.js';
import { formatFloatPredictions } from './python-json-floats.js';
import { startPyfuncProcess, type PyfuncProcess, type PyfuncReady } from './pyfunc-process.js';

/** The pyfunc runtime: a pool of Python workers behind one bounded queue (the adaptive batcher's). */
export interface PyfuncPool {
  /**
   * Scores one request in the next free worker (with others, when batching is on).
   * @returns the response body: JSON as UTF-8 bytes
   * @throws AppError the model's refusal (MLflow's status and error_code); 503 SERVER_BUSY when the queue is
   *   full, 503 WORKER_FAILED when the worker died under the request, 504 DEADLINE_EXCEEDED past the timeout
   */
  score: (task: ScoringTask, options?: { signal?: AbortSignal | undefined }) => Promise<Uint8Array>;
  /** what the first worker reported once loaded */
  ready: PyfuncReady;
  queued: () => number;
  /** rows per worker call at most (1: batching off) */
  maxBatchSize: number;
  observeBatches: (observer: BatchObserver | null) => void;
  close: () => Promise<void>;
}

export interface PyfuncPoolParams {
  python: string;
  /** pyfunc_worker.py */
  script: string;
  modelDir: string;
  modelName: string;
  workers: number;
  maxQueue: number;
  /** a request still unanswered after this is answered 504 (and its worker replaced once no request waits on it) */
  timeoutMs: number;
  /** a worker whose resident memory passes this after a request is replaced (0: no limit) */
  maxWorkerBytes: number;
  /**
   * SERVE_PYFUNC_BATCHING: whether concurrent requests may share a predict call (pyfunc_batch.py). `rows`: the
   * operator says the model scores each row on its own; `auto`: when the worker finds it does (a flavor whose
   * predict is row by row, a signature with a batch dimension: pyfunc_batch.batches_by_default); `off`: never
   */
  batching: 'auto' | 'off' | 'rows';
  /** rows (requests, until the worker reports rows) merged into one predict call when batching */
  maxBatchSize: number;
  /** SERVE_MAX_BATCH_DELAY_MS */
  maxBatchDelayMs: number;
  env: NodeJS.ProcessEnv;
  log: Logger;
}

/** One request on its way through the batcher to a worker. */
interface Job {
  task: ScoringTask;
  /**
   * aborts at the request's deadline (the route's or the pool's timeout), or when its client leaves: the request is
   * then answered (a queued one leaves the queue, one not yet sent is not sent)
   */
  signal: AbortSignal;
  /** aborts at the pool's timeout only: a worker is killed once every request of its call is past it */
  deadline: AbortSignal;
}

/** A batch frame's answer for one request (pyfunc_worker.py `write_batch`). */
interface BatchHead {
  status: number;
  size?: number;
  rows?: number;
  /** the body is a float prediction's raw float64 values, of this shape, for formatFloatPredictions */
  floats?: number[];
  error_code?: string;
  message?: string;
}

/**
 * Starts `workers` Python processes, each loading the model with mlflow.pyfunc.load_model, and resolves once all
 * are ready. A worker that dies, hangs past the timeout or grows past the memory limit is replaced; its requests
 * are answered with a clear error and the others go on. When batching (`batching`, and `maxBatchSize` > 1),
 * requests that queue while every worker is busy go to the next free worker together, in one frame
 * (pyfunc_batch.py scores them).
 * @throws AppError MODEL_LOAD_FAILED with the worker's one line (missing requirements, load error)
 */
export async function createPyfuncPool(params: PyfuncPoolParams): Promise<PyfuncPool> {
  const { log } = params;
  const idle: PyfuncProcess[] = [];
  const waiting: { resolve: (w: PyfuncProcess) => void; reject: (e: AppError) => void }[] = [];
  const live = new Set<PyfuncProcess>();
  let closing = false;

  const start = (): PyfuncProcess => {
    const worker = startPyfuncProcess({ ...params, log });
    live.add(worker);
    void worker.exited.then((how) => {
      live.delete(worker);
      const at = idle.indexOf(worker);
      if (at >= 0) idle.splice(at, 1);
      if (!closing) {
        log.warn({ worker: worker.pid, how }, 'pyfunc worker exited; starting a replacement');
        replace();
      }
    });
    return worker;
  };
  const replace = (): void => {
    const worker = start();
    worker.ready.then(
      (report) => {
        log.info({ worker: worker.pid, ms: Math.round(report.loadMs) }, 'pyfunc worker ready');
        release(worker);
      },
      (err: unknown) => log.error({ err }, 'pyfunc replacement worker failed to load the model'),
    );
  };
  const release = (worker: PyfuncProcess): void => {
    if (closing || !live.has(worker)) return;
    if (params.maxWorkerBytes > 0 && worker.rss() > params.maxWorkerBytes) {
      log.warn({ worker: worker.pid, rss: worker.rss(), limit: params.maxWorkerBytes }, 'pyfunc worker recycled');
      void worker.stop(5000); // its exit starts the replacement
      return;
    }
    const next = waiting.shift();
    if (next) next.resolve(worker);
    else idle.push(worker);
  };
  /** a free worker: the batcher runs at most one batch per worker, but a replacement may still be loading */
  const takeWorker = (): Promise<PyfuncProcess> => {
    if (closing) return Promise.reject(busy());
    const worker = idle.shift();
    if (worker) return Promise.resolve(worker);
    return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  };

  const runBatch = async (jobs: Job[]): Promise<BatchOutcome<Uint8Array>[]> => {
    const worker = await takeWorker();
    // a request whose deadline passed between the queue and here is not sent
    const outcomes: (BatchOutcome<Uint8Array> | undefined)[] = jobs.map((j) =>
      j.signal.aborted ? { ok: false, error: reasonOf(j.signal) } : undefined,
    );
    const sent = jobs.filter((_j, i) => outcomes[i] === undefined);
    if (sent.length === 0) {
      release(worker);
      return outcomes as BatchOutcome<Uint8Array>[];
    }
    const answers = await callWorker(worker, sent);
    let k = 0;
    return outcomes.map((o) => o ?? answers[k++]!);
  };

  /**
   * Sends `jobs` to `worker` (one frame; a batch frame when batching is on) and waits for its answer. A worker
   * stuck in predict cannot be interrupted: once every request of the call has passed its deadline it is
   * killed, and its exit starts a replacement.
   */
  const callWorker = async (worker: PyfuncProcess, jobs: Job[]): Promise<BatchOutcome<Uint8Array>[]> => {
    let givenUp = 0;
    const onAbort = (): void => {
      if (++givenUp < jobs.length) return;
      log.warn({ worker: worker.pid, ms: params.timeoutMs }, 'pyfunc worker hung past the timeout; killing it');
      worker.kill();
    };
    // not on a client leaving: a call already running finishes (its answer is discarded), as on the ONNX threads
    for (const j of jobs) j.deadline.addEventListener('abort', onAbort, { once: true });
    try {
      const outcomes =
        maxBatchSize > 1 ? await sendBatch(worker, jobs, params.modelName) : [await sendOne(worker, jobs[0]!)];
      release(worker);
      return outcomes;
    } catch (cause) {
      // the worker died under the call (or answered out of protocol: it is killed, never reused); a request past
      // its deadline keeps its 504, the others learn why. Its exit starts a replacement.
      worker.kill();
      return jobs.map((j) => ({ ok: false, error: j.signal.aborted ? reasonOf(j.signal) : workerFailed(cause) }));
    } finally {
      for (const j of jobs) j.deadline.removeEventListener('abort', onAbort);
    }
  };

  const sendOne = async (worker: PyfuncProcess, job: Job): Promise<BatchOutcome<Uint8Array>> => {
    const answer = await worker.request(headerOf(job.task, params.modelName), job.task.body);
    if (answer.ok) return { ok: true, value: new Uint8Array(answer.body) };
    return { ok: false, error: refusal(answer) };
  };

  const workers = Array.from({ length: params.workers }, start);
  let first: PyfuncReady;
  try {
    [first] = (await Promise.all(workers.map((w) => w.ready))) as [PyfuncReady];
  } catch (cause) {
    closing = true;
    await Promise.all(workers.map((w) => w.stop(0)));
    throw new AppError({
      code: 'MODEL_LOAD_FAILED',
      statusCode: 500,
      message: (cause as Error).message.split('\n')[0] ?? 'the pyfunc worker failed',
      cause,
    });
  }
  for (const w of workers) release(w);

  const batches = params.batching === 'rows' || (params.batching === 'auto' && first.rowwise);
  const maxBatchSize = batches ? params.maxBatchSize : 1;
  const batcher = createAdaptiveBatcher<Job, Uint8Array>({
    runBatch,
    slots: params.workers,
    maxBatchSize,
    maxDelayMs: params.maxBatchDelayMs,
    maxQueue: params.maxQueue,
  });
  return {
    ready: first,
    queued: batcher.queued,
    maxBatchSize,
    observeBatches: batcher.observe,
    score: async (task, options) => {
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(deadlineExceeded()), params.timeoutMs);
      const signal = options?.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
      try {
        return await batcher.submit({ task, signal, deadline: deadline.signal }, { signal });
      } finally {
        clearTimeout(timer);
      }
    },
    close: async () => {
      closing = true;
      for (const w of waiting.splice(0)) w.reject(busy());
      await Promise.all([...live].map((w) => w.stop(5000)));
    },
  };
}

/** A batch frame: each request's header with the size of its body, the bodies back to back. */
async function sendBatch(worker: PyfuncProcess, jobs: Job[], model: string): Promise<BatchOutcome<Uint8Array>[]> {
  const heads = jobs.map((j) => ({ ...headerOf(j.task, model), size: j.task.body.byteLength }));
  const body = Buffer.concat(jobs.map((j) => j.task.body));
  // floats: the worker may answer a float prediction as raw values, written here as MLflow's JSON (cheaper than
  // Python's float repr: python-json-floats.ts)
  const answer = await worker.request({ batch: heads, floats: true }, body);
  if (!answer.ok) throw new Error(`the pyfunc worker refused a batch: ${answer.message}`);
  const batch = (answer.header['batch'] ?? []) as BatchHead[];
  if (batch.length !== jobs.length) throw new Error('the pyfunc worker answered a batch with the wrong count');
  let at = 0;
  return batch.map((h) => {
    const rows = h.rows === undefined ? {} : { size: h.rows };
    if (h.status !== 200)
      return {
        ok: false,
        error: refusal({ status: h.status, error_code: h.error_code ?? '', message: h.message ?? '' }),
        ...rows,
      };
    const bytes = answer.body.subarray(at, at + (h.size ?? 0));
    at += h.size ?? 0;
    const part = h.floats ? formatFloatPredictions(bytes, h.floats) : new Uint8Array(bytes);
    return { ok: true, value: part, ...rows };
  });
}

function headerOf(task: ScoringTask, model: string): Record<string, unknown> {
  return {
    protocol: task.protocol,
    model,
    ...(task.protocol === 'mlflow' ? { contentType: task.format === 'csv' ? 'text/csv' : 'application/json' } : {}),
  };
}

function refusal(answer: { status: number; error_code: string; message: string }): AppError {
  return new AppError({
    code: relayedErrorCode(answer.error_code),
    statusCode: answer.status,
    message: answer.message,
  });
}

function reasonOf(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : deadlineExceeded();
}

function deadlineExceeded(): AppError {
  return new AppError({
    code: 'DEADLINE_EXCEEDED',
    statusCode: 504,
    message: 'Request processing time exceeded limit',
  });
}

function busy(): AppError {
  return new AppError({
    code: 'SERVER_BUSY',
    statusCode: 503,
    message: 'The server is at its inference queue limit; retry later',
  });
}

function workerFailed(cause: unknown): AppError {
  return new AppError({
    code: 'WORKER_FAILED',
    statusCode: 503,
    message: `The model's Python worker died during this request (${(cause as Error).message}); it is being replaced: retry`,
    cause,
  });
}
