import { availableParallelism } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { DrainEnv, ListenEnv, LogEnv } from '../../shared/config/env-fragments.js';
import { DEFAULT_MAX_QUEUE, MAX_THREADS } from './early-thread-settings.js';

/** The serve role's settings: the seed's names (MLFLOW_MODEL_URI, MODEL_LOCAL_PATH, PORT) and MLflow's own. */
export const ServeEnv = z
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
    SERVE_MAX_CONCURRENCY: z.coerce.number().int().min(1).max(MAX_THREADS).default(availableParallelism()),
    SERVE_MAX_QUEUE: z.coerce.number().int().min(0).default(DEFAULT_MAX_QUEUE),
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

/** `file:///x` or a plain path; `models:/…`, `runs:/…`, `s3://…` are not local. */
function localPathOf(uri: string | undefined): string | undefined {
  if (!uri) return undefined;
  if (uri.startsWith('file://')) return new URL(uri).pathname;
  return /^[a-z][a-z0-9+.-]*:/i.test(uri) ? undefined : uri;
}
