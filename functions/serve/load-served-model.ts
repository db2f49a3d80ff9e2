import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { AppError } from '../../shared/errors/app-error.js';
import type { Logger } from '../../shared/log/create-logger.js';
import { readMlmodel, readMlmodelFlavors } from '../../shared/model/read-mlmodel.js';
import type { Signature } from '../../shared/model/signature.js';
import type { BatchObserver } from './batching/adaptive-batcher.js';
import { tuneGarbageCollection } from './tune-garbage-collection.js';
import { createInferencePool } from './inference-pool.js';
import type { ThreadReport } from './inference-worker.js';
import { mapOnnxWeights, type MappedOnnxModel } from './map-onnx-weights.js';
import type { InferenceThreads } from './start-inference-threads.js';
import { toModelIo, type ModelIo } from './model-io.js';
import type { ScoringAnswer, ScoringTask } from './scoring.js';

/** A model loaded and ready to answer: its name, shape of inputs/outputs and the threads that run it. */
export interface ServedModel {
  name: string;
  /** onnxruntime-node threads, or MLflow pyfunc Python workers (functions/serve/pyfunc/) */
  runtime: 'onnx' | 'pyfunc';
  mlmodel: { dir: string; signature: Signature | null };
  io: ModelIo;
  /**
   * Scores one request in an inference thread (the body's buffer is transferred there).
   * @returns the response body: JSON as UTF-8 bytes (OIP binary: a JSON header of `headerLength` bytes + data)
   * @throws AppError for a request the model cannot score, 503 when the queue is full; the signal's reason when
   * it aborts while the request is queued
   */
  score: (task: ScoringTask, options?: { signal?: AbortSignal | undefined }) => Promise<ScoringAnswer>;
  queued: () => number;
  /** rows per model call when concurrent requests are merged (1: no batching) */
  maxBatchSize: number;
  /** sets the observer of the batches (the server's batch size and queue wait metrics) */
  observeBatches: (observer: BatchObserver | null) => void;
  /**
   * Ends the model's threads or workers. `waitBound`: the longest to wait for inference threads still loading
   * the model or running a batch (the onnx runtime; default CLOSE_WAIT_FOR_LOADING_MS from now)
   */
  close: (options?: { waitBound?: Promise<unknown> }) => Promise<void>;
}

/** How `modelctl serve` runs a model that has not the onnx flavor (SERVE_RUNTIME, SERVE_PYTHON, ...). */
export interface PyfuncSettings {
  /** auto: onnx when the model has that flavor, else pyfunc */
  runtime: 'auto' | 'onnx' | 'pyfunc';
  python: string;
  /** MODEL_ENV=install: run in the env fetch built beside the model instead of `python` */
  modelEnv: boolean;
  timeoutMs: number;
  maxWorkerBytes: number;
  /**
   * SERVE_PYFUNC_BATCHING: `rows` when the model scores each row on its own, so concurrent requests may share
   * one predict call (up to SERVE_MAX_BATCH_SIZE rows); `auto` (the default) batches the flavors whose predict
   * is row by row (scikit-learn's predict/predict_proba, XGBoost, LightGBM) with a signature that has a batch
   * dimension, and not the others (a custom PythonModel may look across rows: MLflow cannot tell); `off`: never
   */
  batching: 'auto' | 'off' | 'rows';
  env: NodeJS.ProcessEnv;
}

/**
 * Loads an MLflow model with the runtime its flavors (and SERVE_RUNTIME) call for: the onnx flavor on
 * onnxruntime-node threads (the fast path), any python_function model on MLflow pyfunc Python workers.
 * @throws AppError with one line that says what is wrong and what to do
 */
export async function loadServedModel(
  params: Parameters<typeof loadOnnxModel>[0] & { pyfunc: PyfuncSettings },
): Promise<ServedModel> {
  try {
    if (runtimeOf(params.dir, params.pyfunc.runtime) === 'onnx') return await loadOnnxModel(params);
  } catch (err) {
    await params.started?.close();
    throw err;
  }
  await params.started?.close(); // a pyfunc model runs in Python workers, not in these threads
  const { signature } = readMlmodelFlavors(params.dir);
  const [{ loadPyfuncModel }, { modelEnvPython }] = await Promise.all([
    import('./pyfunc/load-pyfunc-model.js'),
    import('./pyfunc/model-env-python.js'),
  ]);
  return loadPyfuncModel({
    // MLflow refuses a model whose MLmodel is a link out of its folder (OUTPUT_PATH's links into model/)
    dir: path.dirname(realpathSync(path.join(params.dir, 'MLmodel'))),
    name: params.name,
    signature,
    python: params.pyfunc.modelEnv ? modelEnvPython(params.dir) : params.pyfunc.python,
    workers: params.threads,
    maxQueue: params.maxQueue,
    timeoutMs: params.pyfunc.timeoutMs,
    maxWorkerBytes: params.pyfunc.maxWorkerBytes,
    batching: params.pyfunc.batching,
    maxBatchSize: params.maxBatchSize ?? PYFUNC_MAX_BATCH_ROWS,
    maxBatchDelayMs: params.maxBatchDelayMs,
    env: params.pyfunc.env,
    log: params.log,
  });
}

/**
 * SERVE_MAX_BATCH_SIZE when unset. A pyfunc predict call costs milliseconds whatever its rows (MLflow's parsing
 * and schema checks, the library's own input checks: ~2.5 ms for the iris-sklearn example, ~5 us more per row),
 * so its batches pay up to far more rows than an onnxruntime run's; 1024 rows still take ~10 ms.
 */
const PYFUNC_MAX_BATCH_ROWS = 1024;
const ONNX_MAX_BATCH_ROWS = 128;

function runtimeOf(dir: string, wanted: PyfuncSettings['runtime']): 'onnx' | 'pyfunc' {
  if (wanted === 'onnx') return 'onnx';
  const { flavors } = readMlmodelFlavors(dir);
  if (wanted === 'auto' && flavors.includes('onnx')) return 'onnx';
  if (flavors.includes('python_function')) return 'pyfunc';
  if (wanted === 'auto') return 'onnx'; // readMlmodel names the flavors it cannot serve
  throw new AppError({
    code: 'FLAVOR_UNSUPPORTED',
    statusCode: 400,
    message: `SERVE_RUNTIME=pyfunc needs the python_function flavor; ${dir}/MLmodel has ${flavors.join(', ') || 'none'}`,
  });
}

/**
 * Loads an MLflow ONNX model folder: reads MLmodel, starts `threads` inference threads, refuses what
 * onnxruntime-node cannot return (non-tensor outputs such as skl2onnx's ZipMap) and has the first thread run the
 * saved input example, so the model is proven before it is called ready (the other threads start then, and run
 * it too).
 * @throws AppError with one line that says what is wrong and what to do
 */
async function loadOnnxModel(params: {
  dir: string;
  name: string;
  threads: number;
  maxQueue: number;
  /** SERVE_MAX_BATCH_SIZE (unset: 128 rows on onnx, 1024 on pyfunc); 1 turns adaptive batching off */
  maxBatchSize: number | undefined;
  /** SERVE_MAX_BATCH_DELAY_MS */
  maxBatchDelayMs: number;
  /** SERVE_MAX_REQUEST_VALUES */
  maxRequestValues: number;
  /** overrides onnx_session_options.intra_op_num_threads */
  intraOpThreads: number | undefined;
  /** the inference threads, started before the model was read (startInferenceThreads); else started here */
  started?: InferenceThreads | undefined;
  log: Logger;
}): Promise<ServedModel> {
  const mlmodel = await readMlmodel(params.dir);
  const sessionOptions = toSessionOptions(mlmodel.sessionOptions, params.intraOpThreads);
  const example = path.join(mlmodel.dir, 'serving_input_example.json');
  const examplePath = existsSync(example) ? example : null;
  const poolParams = {
    onnxPath: mlmodel.onnxPath,
    sessionOptions,
    modelName: params.name,
    signature: mlmodel.signature,
    examplePath,
    threads: params.threads,
    maxQueue: params.maxQueue,
    maxBatchSize: params.maxBatchSize ?? ONNX_MAX_BATCH_ROWS,
    maxBatchDelayMs: params.maxBatchDelayMs,
    maxRequestValues: params.maxRequestValues,
    started: params.started,
  };
  const started = performance.now();
  const pool = await createPoolMappingWeights(poolParams, params.name, params.log);
  pool.allLoaded.then(
    () => {
      logAllLoaded(params, started);
      // not before: modules compiled after a change of V8's flags miss the compile cache (its entries carry them)
      tuneGarbageCollection();
    },
    (err: unknown) =>
      params.log.warn(
        { model: params.name, reason: err instanceof Error ? err.message : String(err) },
        'an inference thread cannot load the model',
      ),
  );
  try {
    const model: ServedModel = {
      name: params.name,
      runtime: 'onnx',
      mlmodel,
      io: toModelIo(pool.threads[0]!, mlmodel.signature),
      score: pool.score,
      queued: pool.queued,
      maxBatchSize: pool.maxBatchSize,
      observeBatches: pool.observeBatches,
      close: (options) =>
        pool.close({
          ...options,
          stillBusy: () =>
            params.log.warn(
              { model: params.name },
              'inference threads still loading the model or running at the close; ending them',
            ),
        }),
    };
    checkInputExample(model, examplePath, pool.threads, params.log);
    return model;
  } catch (err) {
    await pool.close();
    throw err;
  }
}

function logAllLoaded(params: { name: string; threads: number; log: Logger }, started: number): void {
  const ms = Math.round(performance.now() - started);
  params.log.info({ model: params.name, threads: params.threads, ms }, 'every inference thread loaded');
}

/**
 * The inference pool on the model's header with its large weights memory-mapped from model.onnx
 * (map-onnx-weights.ts); the model file as it is when it cannot be mapped (the reason logged), or when
 * onnxruntime refuses the header while the file itself loads.
 */
async function createPoolMappingWeights(
  params: Omit<Parameters<typeof createInferencePool>[0], 'mapped'>,
  model: string,
  log: Logger,
): Promise<Awaited<ReturnType<typeof createInferencePool>>> {
  const mapped = mapWeightsOrNull(params.onnxPath, model, log);
  if (mapped === null) return createInferencePool({ ...params, mapped: null });
  try {
    return await createInferencePool({ ...params, mapped });
  } catch (err) {
    // the threads given in params ended with the refusal: the file as it is gets threads of its own
    log.warn(
      { model, file: params.onnxPath, reason: err instanceof Error ? err.message : String(err) },
      'onnxruntime refused the model with mapped weights; loading the model file as it is',
    );
    return createInferencePool({ ...params, mapped: null, started: undefined });
  }
}

function mapWeightsOrNull(onnxPath: string, model: string, log: Logger): MappedOnnxModel | null {
  const started = performance.now();
  try {
    const mapped = mapOnnxWeights(onnxPath);
    if (mapped) {
      const { tensors, bytes, header } = mapped;
      const ms = Math.round(performance.now() - started);
      log.info({ model, file: onnxPath, tensors, bytes, headerBytes: header.length, ms }, 'model weights mapped');
    }
    return mapped;
  } catch (err) {
    log.warn(
      { model, file: onnxPath, reason: err instanceof Error ? err.message : String(err) },
      'cannot map the model weights; loading the model file as it is',
    );
    return null;
  }
}

/**
 * The first thread ran the saved serving input example as a `POST /invocations` once its session was created
 * (proven, and warm); its refusal stops start-up.
 * @throws AppError MODEL_EXAMPLE_FAILED with the refusal's message
 */
function checkInputExample(model: ServedModel, examplePath: string | null, threads: ThreadReport[], log: Logger): void {
  if (examplePath === null) {
    log.info({ model: model.name }, 'no serving input example; skipping the warm-up run');
    return;
  }
  const ms: number[] = [];
  for (const { example } of threads) {
    if (example && 'refused' in example) {
      throw new AppError({
        code: 'MODEL_EXAMPLE_FAILED',
        statusCode: 400,
        message: `the model fails on its own saved input example (${examplePath}): ${example.refused.message.split('\n')[0]}`,
      });
    }
    if (example) ms.push(Math.round(example.ms));
  }
  log.info({ model: model.name, ms }, 'input example ran');
}

const GRAPH_LEVELS: Record<number, InferenceSession.SessionOptions['graphOptimizationLevel']> = {
  0: 'disabled',
  1: 'basic',
  2: 'extended',
  99: 'all',
};

/**
 * Maps MLflow's `onnx_session_options` (Python `SessionOptions` attribute names) to onnxruntime-node's.
 * @throws AppError naming an option that has no equivalent
 */
export function toSessionOptions(
  options: Record<string, unknown>,
  intraOpThreads: number | undefined,
): InferenceSession.SessionOptions {
  const out: InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  };
  for (const [key, value] of Object.entries(options)) {
    if (value === null || value === undefined) continue;
    applySessionOption(out, key, value);
  }
  if (intraOpThreads !== undefined) out.intraOpNumThreads = intraOpThreads;
  return out;
}

type SessionOptionSetter = (out: InferenceSession.SessionOptions, value: unknown) => void;

/** MLflow's `onnx_session_options` keys (Python SessionOptions attributes) onto onnxruntime-node's options. */
const SESSION_OPTION_SETTERS = new Map<string, SessionOptionSetter>([
  ['intra_op_num_threads', (out, value) => (out.intraOpNumThreads = Number(value))],
  ['inter_op_num_threads', (out, value) => (out.interOpNumThreads = Number(value))],
  ['execution_mode', (out, value) => (out.executionMode = /parallel/i.test(String(value)) ? 'parallel' : 'sequential')],
  ['graph_optimization_level', (out, value) => (out.graphOptimizationLevel = GRAPH_LEVELS[Number(value)] ?? 'all')],
  ['enable_mem_pattern', (out, value) => (out.enableMemPattern = Boolean(value))],
  ['enable_cpu_mem_arena', (out, value) => (out.enableCpuMemArena = Boolean(value))],
  ['enable_profiling', (out, value) => (out.enableProfiling = Boolean(value))],
  ['log_severity_level', (out, value) => (out.logSeverityLevel = Number(value) as 0 | 1 | 2 | 3 | 4)],
]);

function applySessionOption(out: InferenceSession.SessionOptions, key: string, value: unknown): void {
  const set = SESSION_OPTION_SETTERS.get(key);
  if (!set) {
    throw new AppError({
      code: 'MODEL_INVALID',
      statusCode: 400,
      message: `MLmodel flavors.onnx.onnx_session_options.${key} is not supported by onnxruntime-node`,
    });
  }
  set(out, value);
}
