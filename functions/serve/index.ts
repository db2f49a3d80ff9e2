import { availableParallelism } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { parseEnv } from '../../shared/config/parse-env.js';
import type { Logger } from '../../shared/log/create-logger.js';
import type { Registry } from 'prom-client';
import type { loadServedModel, ServedModel } from './load-served-model.js';
import { firstSignal } from '../../shared/process/first-signal.js';
import { CLOSE_WAIT_FOR_LOADING_MS, startInferenceThreads, type InferenceThreads } from './start-inference-threads.js';
import { MODELCTL_VERSION } from '../../shared/config/version.js';
import { DrainEnv, ListenEnv, LogEnv } from '../../shared/config/env-fragments.js';

/** The serve role's settings: the seed's names (MLFLOW_MODEL_URI, MODEL_LOCAL_PATH, PORT) and MLflow's own. */
const ServeEnv = z
  .object({
    MODEL_LOCAL_PATH: z.string().min(1).optional(),
    MLFLOW_MODEL_URI: z.string().min(1).optional(),
    MODEL_NAME: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, _ . - only')
      .optional(),
    // Knative sets it in every revision's pod: the Service's name, the model's name on /v2 and /v1 (issue 14)
    K_SERVICE: z.string().min(1).optional(),
    ...ListenEnv,
    // Open Inference Protocol v2 over gRPC on this port (KServe's name for it); unset: no gRPC
    GRPC_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    SERVE_MAX_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(availableParallelism()),
    SERVE_MAX_QUEUE: z.coerce.number().int().min(0).default(1024),
    // adaptive batching (MLServer's max_batch_size / max_batch_time, Triton's dynamic batcher): rows per model call
    // unset: 128 on onnx, 1024 on pyfunc (load-served-model.ts)
    SERVE_MAX_BATCH_SIZE: z.coerce.number().int().min(1).max(65536).optional(),
    SERVE_MAX_BATCH_DELAY_MS: z.coerce.number().min(0).max(10_000).default(0),
    SERVE_INTRA_OP_THREADS: z.coerce.number().int().min(1).optional(),
    MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT: z.coerce.number().positive().default(60),
    SERVE_MAX_BODY_MB: z.coerce.number().positive().default(100),
    // parsing costs tens of bytes per JSON value: a body's value count bounds its memory, not its size (issue 14)
    SERVE_MAX_REQUEST_VALUES: z.coerce.number().int().min(1).default(5_000_000),
    ...DrainEnv,
    SERVE_RUNTIME: z.enum(['auto', 'onnx', 'pyfunc']).default('auto'),
    SERVE_PYTHON: z.string().min(1).default('python3'),
    SERVE_WORKER_MAX_MEMORY_MB: z.coerce.number().min(0).default(0),
    SERVE_REQUIREMENTS: z.enum(['missing', 'strict']).default('missing'),
    /** rows: the pyfunc model scores each row on its own, concurrent requests may share a predict call; auto: when
     * its flavor and signature say so (load-served-model.ts) */
    SERVE_PYFUNC_BATCHING: z.enum(['auto', 'off', 'rows']).default('auto'),
    /** install: run the pyfunc workers in the env `modelctl fetch` built beside the model (MODEL_ENV=install) */
    MODEL_ENV: z.enum(['none', 'install']).default('none'),
    ...LogEnv,
  })
  .transform((env, ctx) => {
    const modelDir = env.MODEL_LOCAL_PATH ?? localPathOf(env.MLFLOW_MODEL_URI);
    if (!modelDir) {
      ctx.addIssue({
        code: 'custom',
        path: ['MODEL_LOCAL_PATH'],
        message: env.MLFLOW_MODEL_URI
          ? `MLFLOW_MODEL_URI ${env.MLFLOW_MODEL_URI} is not a local path: fetch it first (modelctl fetch) and set MODEL_LOCAL_PATH`
          : 'required: the MLflow model folder to serve (or MLFLOW_MODEL_URI as a local path)',
      });
      return z.NEVER;
    }
    return { ...env, modelDir: path.resolve(modelDir) };
  });
export type ServeConfig = z.output<typeof ServeEnv>;
type LoadParams = Parameters<typeof loadServedModel>[0];

/** `file:///x` or a plain path; `models:/…`, `runs:/…`, `s3://…` are not local. */
function localPathOf(uri: string | undefined): string | undefined {
  if (!uri) return undefined;
  if (uri.startsWith('file://')) return new URL(uri).pathname;
  return /^[a-z][a-z0-9+.-]*:/i.test(uri) ? undefined : uri;
}

/**
 * Entry of `modelctl serve`: parse env (flags laid over it), start loading the model (readiness) and, while its
 * inference threads start, import the HTTP side and listen (liveness); drain on SIGTERM/SIGINT and exit 0; a
 * model that cannot be served exits 1 with one line.
 */
export async function runServe(overrides: Record<string, string> = {}): Promise<void> {
  const env = { ...process.env, ...overrides };
  let config: ServeConfig;
  try {
    config = parseEnv(ServeEnv, env);
  } catch (err) {
    return exitWithError(err);
  }

  // onnxruntime-node 1.30 sends telemetry unless told not to (resolves a Microsoft host, writes a device id under
  // ~/.cache; issue 14). Its native code reads the process environment: set before any inference thread starts.
  // Unset or empty means off; ORT_DISABLE_TELEMETRY=0 turns it back on.
  process.env.ORT_DISABLE_TELEMETRY ||= '1';
  // A SIGTERM (Kubernetes scaling a starting revision down) or SIGINT from now on drains once the HTTP side is up
  // (exitOnSignals below), instead of Node's default: the process ended by the signal, wherever its start is.
  const signalled = firstSignal();

  // Cold start: the first inference thread starts now, before MLmodel is read, so its boot overlaps the main
  // thread's reading of the model; it loads onnxruntime and the model once loadServedModel hands it the model's
  // settings, and that overlaps the main thread's loading of express and prom-client. Ready waits for it and the
  // input example; the other threads start then (loadServedModel). A pyfunc model closes it unused.
  const started = performance.now();
  const threads =
    config.SERVE_RUNTIME === 'pyfunc'
      ? undefined
      : startInferenceThreads({ threads: config.SERVE_MAX_CONCURRENCY, maxQueue: config.SERVE_MAX_QUEUE });
  // the rest of serve's start-up code (pino, YAML, the model's loading) is imported while the thread boots
  const [{ createLogger }, { exitOnSignals }, { loadServedModel }] = await Promise.all([
    import('../../shared/log/create-logger.js'),
    import('../../shared/process/role-process.js'),
    import('./load-served-model.js'),
  ]);
  const log = createLogger({ name: 'serve', level: config.LOG_LEVEL });
  const loading: Promise<{ model: ServedModel } | { error: unknown }> = loadServedModel(
    loadParams(config, env, threads, log),
  ).then(
    (model) => ({ model }),
    (error: unknown) => ({ error }),
  );
  // The thread waits for the model's settings (MLmodel read, weights mapped); the HTTP side's imports below keep
  // the main thread busy for tens of ms, so they come after the hand-over (or the refusal of the model).
  await Promise.race([threads?.settled, loading]);

  let http: Awaited<ReturnType<typeof startHttp>>;
  try {
    http = await startHttp(config, log);
  } catch (err) {
    // e.g. the port is taken: once no thread is inside onnxruntime's load (an exit then aborted 9 of 30 starts)
    return exitAfterLoad(err, loading, threads);
  }
  const { handle, server } = http;
  log.info({ port: server.port, model: config.modelDir }, 'listening; loading model');

  const serving: { model?: ServedModel } = {};
  let grpc: { close: () => Promise<void> } | undefined;
  exitOnSignals({
    signal: signalled,
    close: async () => {
      await Promise.all([server.close(), grpc?.close()]);
      await closeModel(loading, threads);
    },
    log,
  });
  if (config.GRPC_PORT !== undefined) {
    try {
      grpc = await startGrpc(config, () => serving.model ?? null, log, http.registry);
    } catch (err) {
      return exitAfterLoad(err, loading, threads);
    }
  }

  const loaded = await loading;
  if ('error' in loaded) {
    await server.close();
    return exitWithError(loaded.error);
  }
  const { model } = loaded;
  serving.model = model;
  const seconds = (performance.now() - started) / 1000;
  handle.setModel(model, seconds);
  log.info(
    {
      model: model.name,
      runtime: model.runtime,
      inputs: model.io.inputs.map((i) => i.name),
      threads: config.SERVE_MAX_CONCURRENCY,
      maxBatchSize: model.maxBatchSize,
      ms: Math.round(seconds * 1000),
    },
    'model ready',
  );
}

/**
 * Closes the model, also when a signal comes during the start: a load on the inference threads is waited for,
 * since an exit while a thread is inside onnxruntime-node's import or session creation ends in its native abort
 * (SIGABRT), not exit 0. One bound, CLOSE_WAIT_FOR_LOADING_MS, for the whole wait: the first thread's load and then
 * the other threads' (the model's close gets the same bound), not one bound after the other. A pyfunc model's load
 * (Python workers; the threads closed unused or never started) is not waited for; a load that failed has closed
 * its threads already.
 */
async function closeModel(
  loading: Promise<{ model: ServedModel } | { error: unknown }>,
  threads: InferenceThreads | undefined,
): Promise<void> {
  const bound = delay(CLOSE_WAIT_FOR_LOADING_MS, undefined, { ref: false });
  const onThreads = threads !== undefined && (await Promise.race([threads.settled, bound])) === 'provided';
  // not on the threads: only a model already loaded (it comes first in the race) is closed
  const loaded = await Promise.race([loading, onThreads ? bound : undefined]);
  if (loaded && 'model' in loaded) await loaded.model.close({ waitBound: bound });
}

/** exitWithError once the model is closed (closeModel): a refusal during the start must not abort the process. */
async function exitAfterLoad(
  err: unknown,
  loading: Promise<{ model: ServedModel } | { error: unknown }>,
  threads: InferenceThreads | undefined,
): Promise<never> {
  await closeModel(loading, threads);
  return exitWithError(err);
}

/** What loadServedModel needs, from serve's settings. */
function loadParams(
  config: ServeConfig,
  env: NodeJS.ProcessEnv,
  started: InferenceThreads | undefined,
  log: Logger,
): LoadParams {
  return {
    dir: config.modelDir,
    name: config.MODEL_NAME ?? config.K_SERVICE ?? path.basename(config.modelDir),
    threads: config.SERVE_MAX_CONCURRENCY,
    maxQueue: config.SERVE_MAX_QUEUE,
    maxBatchSize: config.SERVE_MAX_BATCH_SIZE,
    maxBatchDelayMs: config.SERVE_MAX_BATCH_DELAY_MS,
    maxRequestValues: config.SERVE_MAX_REQUEST_VALUES,
    intraOpThreads: config.SERVE_INTRA_OP_THREADS,
    started,
    pyfunc: {
      runtime: config.SERVE_RUNTIME,
      python: config.SERVE_PYTHON,
      modelEnv: config.MODEL_ENV === 'install',
      timeoutMs: config.MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT * 1000,
      maxWorkerBytes: Math.round(config.SERVE_WORKER_MAX_MEMORY_MB * 1024 * 1024),
      batching: config.SERVE_PYFUNC_BATCHING,
      env: { ...env, SERVE_REQUIREMENTS: config.SERVE_REQUIREMENTS, PYTHONUNBUFFERED: '1' },
    },
    log,
  };
}

/**
 * role-process.ts's exitWithError for serve; imported when it is called, since it brings pino along, which the
 * first inference thread's start does not wait for.
 */
async function exitWithError(err: unknown): Promise<never> {
  const roleProcess = await import('../../shared/process/role-process.js');
  return roleProcess.exitWithError('serve', err);
}

/** The gRPC side (grpc-js, the proto), imported only when GRPC_PORT asks for it. */
async function startGrpc(config: ServeConfig, model: () => ServedModel | null, log: Logger, registry: Registry) {
  const { startGrpcServer } = await import('./grpc/start-grpc-server.js');
  return startGrpcServer({
    port: config.GRPC_PORT!,
    host: config.HOST,
    model,
    maxMessageBytes: Math.round(config.SERVE_MAX_BODY_MB * 1024 * 1024),
    requestTimeoutMs: config.MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT * 1000,
    version: MODELCTL_VERSION,
    log,
    registry,
  });
}

/** The HTTP side (express, prom-client, the routes), imported only now: it loads while the model does. */
async function startHttp(config: ServeConfig, log: Logger) {
  const [{ createServeApp }, { createMetricsRegistry }, { startHttpServer }] = await Promise.all([
    import('./create-serve-app.js'),
    import('../../shared/metrics/registry.js'),
    import('../../shared/http/start-http-server.js'),
  ]);
  const registry = createMetricsRegistry('serve');
  const handle = createServeApp({
    log,
    registry,
    maxBodyBytes: Math.round(config.SERVE_MAX_BODY_MB * 1024 * 1024),
    requestTimeoutMs: config.MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT * 1000,
    version: MODELCTL_VERSION,
  });
  const server = await startHttpServer({
    handler: handle.handler,
    port: config.PORT,
    host: config.HOST,
    drainTimeoutMs: config.DRAIN_TIMEOUT_SECONDS * 1000,
    onDrainStart: handle.state.startDraining,
    log,
  });
  return { handle, server, registry };
}
