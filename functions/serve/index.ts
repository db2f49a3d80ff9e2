import type { RequestListener } from 'node:http';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import type { Logger } from '../../shared/log/create-logger.js';
import type { loadServedModel, ServedModel } from './load-served-model.js';
import { firstSignal } from '../../shared/process/first-signal.js';
import { CLOSE_WAIT_FOR_LOADING_MS, startInferenceThreads, type InferenceThreads } from './start-inference-threads.js';
import { MODELCTL_VERSION } from '../../shared/config/version.js';
import { earlyThreadSettings, type EarlyThreadSettings } from './early-thread-settings.js';
import type { ServeConfig } from './serve-env.js';

type LoadParams = Parameters<typeof loadServedModel>[0];

/**
 * Entry of `modelctl serve`: parse env (flags laid over it), start loading the model (readiness) and, while its
 * inference threads start, import the HTTP side and listen (liveness); drain on SIGTERM/SIGINT and exit 0; a
 * model that cannot be served exits 1 with one line.
 */
export async function runServe(overrides: Record<string, string> = {}): Promise<void> {
  const env = { ...process.env, ...overrides };
  // onnxruntime-node 1.30 sends telemetry unless told not to (resolves a Microsoft host, writes a device id under
  // ~/.cache; issue 14). Its native code reads the process environment: set before any inference thread starts.
  // Unset or empty means off; ORT_DISABLE_TELEMETRY=0 turns it back on.
  process.env.ORT_DISABLE_TELEMETRY ||= '1';
  // A SIGTERM (Kubernetes scaling a starting revision down) or SIGINT from now on drains once the HTTP side is up
  // (exitOnSignals below), instead of Node's default: the process ended by the signal, wherever its start is.
  const signalled = firstSignal();

  // Cold start: the first inference thread starts now, before zod and the settings' schema are loaded and before
  // MLmodel is read, so its boot overlaps the main thread's parsing and reading of the model; it loads
  // onnxruntime and the model once loadServedModel hands it the model's settings, and that overlaps the main
  // thread's loading of express and prom-client. Ready waits for it and the input example; the other threads
  // start then (loadServedModel). A pyfunc model closes it unused.
  const started = performance.now();
  const early = startEarlyThreads(env);
  let config: ServeConfig;
  try {
    config = await parseServeConfig(env, early);
  } catch (err) {
    return exitWithError(err);
  }
  const threads = await threadsFor(config, early);
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
    http = await startHttp(config, log, (err) => void exitAfterLoad(err, loading, threads));
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

/** The first inference thread, started before serve's settings are parsed (earlyThreadSettings). */
interface EarlyThreads {
  settings: EarlyThreadSettings;
  threads: InferenceThreads;
}

function startEarlyThreads(env: Record<string, string | undefined>): EarlyThreads | null {
  const settings = earlyThreadSettings(env);
  return settings && { settings, threads: startInferenceThreads(settings) };
}

/**
 * Serve's settings, zod and their schema imported only now (after the first thread's start).
 * @throws ConfigError, once the early threads are closed
 */
async function parseServeConfig(env: Record<string, string | undefined>, early: EarlyThreads | null) {
  try {
    const [{ parseEnv }, { ServeEnv }] = await Promise.all([
      import('../../shared/config/parse-env.js'),
      import('./serve-env.js'),
    ]);
    return parseEnv(ServeEnv, env);
  } catch (err) {
    await early?.threads.close();
    throw err;
  }
}

/**
 * The inference threads for the parsed settings: those started early when they match (they always do: the early
 * read follows ServeEnv's rules), else none (pyfunc) or a pool started now.
 */
async function threadsFor(config: ServeConfig, early: EarlyThreads | null): Promise<InferenceThreads | undefined> {
  const wanted = { threads: config.SERVE_MAX_CONCURRENCY, maxQueue: config.SERVE_MAX_QUEUE };
  const pyfunc = config.SERVE_RUNTIME === 'pyfunc';
  const same = early?.settings.threads === wanted.threads && early.settings.maxQueue === wanted.maxQueue;
  if (early && same && !pyfunc) return early.threads;
  await early?.threads.close();
  return pyfunc ? undefined : startInferenceThreads(wanted);
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

/**
 * The HTTP side, imported only now (it loads while the model does): the front (the predict fast path and the
 * health probes on node:http, prom-client) listens; the express app of every other route (router, body-parser,
 * mime-types: ~40 ms of the main thread) is imported when a request first needs it, so neither the first 200 nor
 * the probes of a starting pod wait for it (cold start, issue 16). Not loaded ahead "when idle": right after the
 * first answer, its import (synchronous once read) ran beside the other threads' load and delayed the answers.
 * @param onImportFailure the express app could not be imported (a broken install): serve exits 1 with the error,
 *   as when it failed at the start, rather than staying ready with every route but the probes and predict broken
 */
async function startHttp(config: ServeConfig, log: Logger, onImportFailure: (err: unknown) => void) {
  const [{ createServeFront }, { createMetricsRegistry }, { startHttpServer }] = await Promise.all([
    import('./create-serve-front.js'),
    import('../../shared/metrics/registry.js'),
    import('../../shared/http/start-http-server.js'),
  ]);
  const registry = createMetricsRegistry('serve');
  const params = {
    log,
    registry,
    maxBodyBytes: Math.round(config.SERVE_MAX_BODY_MB * 1024 * 1024),
    requestTimeoutMs: config.MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT * 1000,
    version: MODELCTL_VERSION,
  };
  let app: Promise<RequestListener> | undefined;
  let failed = false;
  const expressApp = (): Promise<RequestListener> =>
    (app ??= import('./create-serve-app.js').then((m) => m.createServeExpressApp(params, front.parts)));
  const front = createServeFront({
    ...params,
    fallback: (req, res) =>
      void expressApp().then(
        (listener) => listener(req, res),
        (err: unknown) => {
          res.destroy();
          if (failed) return;
          failed = true;
          onImportFailure(
            new Error(`cannot load the HTTP routes: ${err instanceof Error ? err.message : String(err)}`),
          );
        },
      ),
  });
  const server = await startHttpServer({
    handler: front.handler,
    port: config.PORT,
    host: config.HOST,
    drainTimeoutMs: config.DRAIN_TIMEOUT_SECONDS * 1000,
    onDrainStart: front.state.startDraining,
    log,
  });
  return { handle: front, server, registry };
}
