import { AppError, relayedErrorCode } from '../../../shared/errors/app-error.js';
import type { Logger } from '../../../shared/log/create-logger.js';
import type { ScoringTask } from '../scoring.js';
import { startPyfuncProcess, type PyfuncProcess, type PyfuncReady } from './pyfunc-process.js';

/** The pyfunc runtime: a pool of Python workers behind one bounded queue. */
export interface PyfuncPool {
  /**
   * Scores one request in the next free worker.
   * @returns the response body: JSON as UTF-8 bytes
   * @throws AppError the model's refusal (MLflow's status and error_code); 503 SERVER_BUSY when the queue is
   *   full, 503 WORKER_FAILED when the worker died under the request, 504 DEADLINE_EXCEEDED past the timeout
   */
  score: (task: ScoringTask, options?: { signal?: AbortSignal | undefined }) => Promise<Uint8Array>;
  /** what the first worker reported once loaded */
  ready: PyfuncReady;
  queued: () => number;
  close: () => Promise<void>;
}

interface Job {
  task: ScoringTask;
  resolve: (body: Uint8Array) => void;
  reject: (err: AppError) => void;
  timer: NodeJS.Timeout;
  worker?: PyfuncProcess;
  /** answered (or refused): a late abort or timeout must not kill the worker that has moved on */
  settled?: boolean;
}

export interface PyfuncPoolParams {
  python: string;
  /** pyfunc_worker.py */
  script: string;
  modelDir: string;
  modelName: string;
  workers: number;
  maxQueue: number;
  /** a request still unanswered after this is answered 504 and its worker replaced */
  timeoutMs: number;
  /** a worker whose resident memory passes this after a request is replaced (0: no limit) */
  maxWorkerBytes: number;
  env: NodeJS.ProcessEnv;
  log: Logger;
}

/**
 * Starts `workers` Python processes, each loading the model with mlflow.pyfunc.load_model, and resolves once all
 * are ready. A worker that dies, hangs past the timeout or grows past the memory limit is replaced; its request
 * is answered with a clear error and the others go on.
 * @throws AppError MODEL_LOAD_FAILED with the worker's one line (missing requirements, load error)
 */
export async function createPyfuncPool(params: PyfuncPoolParams): Promise<PyfuncPool> {
  const { log } = params;
  const queue: Job[] = [];
  const idle: PyfuncProcess[] = [];
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
    idle.push(worker);
    dispatch();
  };
  const dispatch = (): void => {
    while (idle.length > 0 && queue.length > 0) {
      const worker = idle.shift()!;
      const job = queue.shift()!;
      job.worker = worker;
      void run(worker, job);
    }
  };
  const run = async (worker: PyfuncProcess, job: Job): Promise<void> => {
    const { protocol, body } = job.task;
    const header = {
      protocol,
      model: params.modelName,
      ...(job.task.protocol === 'mlflow' ? { contentType: contentTypeOf(job.task.format) } : {}),
    };
    try {
      const answer = await worker.request(header, body);
      job.settled = true;
      clearTimeout(job.timer);
      if (answer.ok) job.resolve(new Uint8Array(answer.body));
      else
        job.reject(
          new AppError({
            code: relayedErrorCode(answer.error_code),
            statusCode: answer.status,
            message: answer.message,
          }),
        );
      release(worker);
    } catch (cause) {
      job.settled = true;
      clearTimeout(job.timer);
      job.reject(workerFailed(cause));
    }
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

  return {
    ready: first,
    queued: () => queue.length,
    score: (task, options) =>
      new Promise<Uint8Array>((resolve, reject) => {
        if (queue.length >= params.maxQueue && idle.length === 0) {
          reject(busy());
          return;
        }
        const job: Job = { task, resolve, reject, timer: setTimeout(() => expire(job), params.timeoutMs) };
        // the route's deadline (the scoring timeout) aborts it: out of the queue, or its hung worker killed
        options?.signal?.addEventListener('abort', () => expire(job), { once: true });
        queue.push(job);
        dispatch();
      }),
    close: async () => {
      closing = true;
      for (const job of queue.splice(0)) {
        clearTimeout(job.timer);
        job.reject(busy());
      }
      await Promise.all([...live].map((w) => w.stop(5000)));
    },
  };

  function expire(job: Job): void {
    clearTimeout(job.timer);
    if (job.settled) return;
    const at = queue.indexOf(job);
    if (at >= 0) queue.splice(at, 1);
    // a worker stuck in predict cannot be interrupted: it is killed, and its exit starts a replacement
    else if (job.worker) {
      log.warn({ worker: job.worker.pid, ms: params.timeoutMs }, 'pyfunc worker hung past the timeout; killing it');
      job.worker.kill();
    }
    job.settled = true;
    job.reject(
      new AppError({ code: 'DEADLINE_EXCEEDED', statusCode: 504, message: 'Request processing time exceeded limit' }),
    );
  }
}

function contentTypeOf(format: 'json' | 'csv'): string {
  return format === 'csv' ? 'text/csv' : 'application/json';
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
