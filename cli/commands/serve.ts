import type { Command } from 'commander';
import { addEnvOptions, envFromOptions, type EnvOption } from '../env-options.js';
import { serveAction } from './serve-action.js';

const OPTIONS: readonly EnvOption[] = [
  { flag: '--model-local-path <dir>', env: 'MODEL_LOCAL_PATH', description: 'MLflow model directory (has MLmodel)' },
  {
    flag: '--model-uri <uri>',
    env: 'MLFLOW_MODEL_URI',
    description: 'model URI: a local path, or models:/…, runs:/…, mlflow-artifacts:/… downloaded first (as fetch does)',
  },
  {
    flag: '--model-name <name>',
    env: 'MODEL_NAME',
    description: 'name on /v2/models/{name} and /v1/models/{name}',
    defaultText: 'the model folder name',
  },
  { flag: '-p, --port <port>', env: 'PORT', description: 'HTTP port (Knative sets PORT)', defaultText: '8080' },
  { flag: '--host <host>', env: 'HOST', description: 'listen address', defaultText: '0.0.0.0' },
  {
    flag: '--grpc-port <port>',
    env: 'GRPC_PORT',
    description: 'Open Inference Protocol v2 over gRPC (inference.GRPCInferenceService) on this port',
    defaultText: 'off',
  },
  {
    flag: '--concurrency <n>',
    env: 'SERVE_MAX_CONCURRENCY',
    description: 'inference runs at once; more requests queue',
    defaultText: 'CPU count',
  },
  {
    flag: '--queue-limit <n>',
    env: 'SERVE_MAX_QUEUE',
    description: 'requests waiting for inference before 503',
    defaultText: '1024',
  },
  {
    flag: '--max-batch-size <rows>',
    env: 'SERVE_MAX_BATCH_SIZE',
    description: 'adaptive batching: concurrent requests merged into one model call of up to this many rows (1: off)',
    defaultText: '128 (onnx), 1024 (pyfunc)',
  },
  {
    flag: '--max-batch-delay-ms <ms>',
    env: 'SERVE_MAX_BATCH_DELAY_MS',
    description: 'adaptive batching: longest a request waits for others while a thread is free',
    defaultText: '0',
  },
  {
    flag: '--timeout <seconds>',
    env: 'MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT',
    description: 'per-request timeout, then 504',
    defaultText: '60',
  },
  {
    flag: '--max-body-mb <mb>',
    env: 'SERVE_MAX_BODY_MB',
    description: 'largest request body, then 413',
    defaultText: '100',
  },
  {
    flag: '--max-request-values <n>',
    env: 'SERVE_MAX_REQUEST_VALUES',
    description: 'most JSON values (or CSV fields) in one request, then 413 before it is parsed',
    defaultText: '5000000',
  },
  {
    flag: '--intra-op-threads <n>',
    env: 'SERVE_INTRA_OP_THREADS',
    description: 'onnxruntime intra-op threads per run',
    defaultText: "the model's onnx_session_options, else 1",
  },
  {
    flag: '--drain-seconds <s>',
    env: 'DRAIN_TIMEOUT_SECONDS',
    description: 'on SIGTERM, time to finish in-flight requests',
    defaultText: '30',
  },
  { flag: '--log-level <level>', env: 'LOG_LEVEL', description: 'pino level', defaultText: 'info' },
];

/** `modelctl serve`: answer predictions for one MLflow ONNX model (MLflow scoring, OIP v2, KServe v1). */
export function registerServeCommand(program: Command): void {
  const cmd = program
    .command('serve')
    .description(
      'serve an MLflow model (onnx flavor) from local disk: /invocations, /v2 (Open Inference), /v1 (KServe)',
    )
    .addHelpText(
      'after',
      '\nAlso read: MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME/PASSWORD/TOKEN (passed along, never logged).\n' +
        "Without MODEL_LOCAL_PATH, a remote MLFLOW_MODEL_URI is downloaded first with fetch's code and settings\n" +
        '(OUTPUT_PATH, default <tmp>/modelctl-model; STORAGE_STRATEGY, CACHE_PATH, MAX_RETRIES, …).\n' +
        'Exit codes: 0 after a graceful drain on SIGTERM/SIGINT, 1 when the model cannot be served (one line says why).',
    );
  addEnvOptions(cmd, OPTIONS).action((opts: Record<string, unknown>) => serveAction(envFromOptions(opts, OPTIONS)));
}
