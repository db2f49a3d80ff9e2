import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { InferenceSession } from 'onnxruntime-node';
import { AppError } from '../../shared/errors/app-error.js';
import type { WireTensor } from './model-io.js';

/** The graph's inputs and outputs as onnxruntime reports them. */
export interface GraphMetadata {
  inputs: readonly InferenceSession.ValueMetadata[];
  outputs: readonly InferenceSession.ValueMetadata[];
}

export interface InferencePool {
  /** Runs the model on one set of feeds in a worker thread. @throws AppError SERVER_BUSY when the queue is full */
  run: (feeds: Record<string, WireTensor>, outputs?: string[]) => Promise<Record<string, WireTensor>>;
  describe: () => Promise<GraphMetadata>;
  /** runs waiting for a thread */
  queued: () => number;
  close: () => Promise<void>;
}

/**
 * A pool of `threads` worker threads, each with its own onnxruntime session of the model (so inference never
 * blocks the event loop), and a bounded queue in front of them. Resolves once every thread has loaded the model.
 */
export async function createInferencePool(params: {
  onnxPath: string;
  sessionOptions: InferenceSession.SessionOptions;
  threads: number;
  maxQueue: number;
}): Promise<InferencePool> {
  const pool = new Piscina({
    filename: workerFile(),
    workerData: { onnxPath: params.onnxPath, sessionOptions: params.sessionOptions },
    minThreads: params.threads,
    maxThreads: params.threads,
    maxQueue: params.maxQueue,
    idleTimeout: Number.POSITIVE_INFINITY,
    concurrentTasksPerWorker: 1,
  });
  // A thread that cannot load the model fails as a pool 'error' event (not a task rejection): race for it.
  const loadFailed = new Promise<never>((_resolve, reject) => pool.once('error', reject));
  loadFailed.catch(() => undefined);
  // one describe per thread, all at once: each lands on its own idle thread, so all have loaded the model
  const describes = Array.from(
    { length: params.threads },
    () => pool.run({ kind: 'describe' }) as Promise<GraphMetadata>,
  );
  const metas = await Promise.race([Promise.all(describes), loadFailed]).catch(async (cause: unknown) => {
    await pool.destroy().catch(() => undefined);
    throw new AppError({
      code: 'MODEL_LOAD_FAILED',
      statusCode: 500,
      message: `onnxruntime cannot load ${params.onnxPath}: ${firstLine(cause)}`,
      cause,
    });
  });
  pool.on('error', () => undefined); // later thread crashes surface as failed runs; piscina replaces the thread
  const metadata = metas[0]!;
  return {
    run: async (feeds, outputs) => {
      try {
        return (await pool.run({ kind: 'run', feeds, outputs }, { transferList: transferables(feeds) })) as Record<
          string,
          WireTensor
        >;
      } catch (cause) {
        throw translateRunError(cause);
      }
    },
    describe: () => Promise.resolve(metadata),
    queued: () => pool.queueSize,
    close: () => pool.destroy(),
  };
}

/** The compiled worker beside this file in dist/, or the .ts source under tests (Node 24 strips its types). */
function workerFile(): string {
  const js = fileURLToPath(new URL('./inference-worker.js', import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL('./inference-worker.ts', import.meta.url));
}

function transferables(feeds: Record<string, WireTensor>): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const t of Object.values(feeds)) {
    if (
      !Array.isArray(t.data) &&
      t.data.buffer instanceof ArrayBuffer &&
      t.data.byteLength === t.data.buffer.byteLength
    )
      buffers.push(t.data.buffer);
  }
  return buffers;
}

function translateRunError(cause: unknown): AppError {
  const message = firstLine(cause);
  if (/queue is at limit|Task queue is at limit/i.test(message)) {
    return new AppError({
      code: 'SERVER_BUSY',
      statusCode: 503,
      message: 'The server is at its inference queue limit; retry later',
      cause,
    });
  }
  // onnxruntime refuses what the model cannot compute on this input: a client error, as MLflow answers it
  return new AppError({
    code: 'BAD_REQUEST',
    statusCode: 400,
    message: `Encountered an unexpected error while evaluating the model. Error: ${message}`,
    cause,
  });
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
