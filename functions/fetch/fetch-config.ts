import path from 'node:path';
import { z } from 'zod';
import { HubEnv } from '../../shared/hub/hub-env.js';
import { LogEnv } from '../../shared/config/env-fragments.js';

const bool = z.stringbool();

/**
 * The fetch role's environment (the seed's names, plus modelctl's own tuning knobs).
 * Empty values count as unset (Kubernetes manifests often carry `value: ""`).
 */
export const FetchEnv = z
  .object({
    MODEL_URI: z.string().min(1),
    OUTPUT_PATH: z
      .string()
      .min(1)
      .default('/models')
      .transform((p) => path.resolve(p)),
    STORAGE_STRATEGY: z.enum(['emptydir', 'pvc']).default('emptydir'),
    // absolute: OUTPUT_PATH/model may become a symlink into it
    CACHE_PATH: z
      .string()
      .min(1)
      .default('/model-cache')
      .transform((p) => path.resolve(p)),
    MAX_RETRIES: z.coerce.number().int().min(0).max(100).default(3),
    BACKOFF_SECONDS: z.coerce.number().min(0).max(3600).default(5),
    MLFLOW_TRACKING_URI: z.url({ protocol: /^https?$/ }).optional(),
    MLFLOW_TRACKING_USERNAME: z.string().optional(),
    MLFLOW_TRACKING_PASSWORD: z.string().optional(),
    MLFLOW_TRACKING_TOKEN: z.string().optional(),
    MLFLOW_TRACKING_INSECURE_TLS: bool.default(false),
    /** connect/headers/idle-body timeout of each request */
    FETCH_TIMEOUT_SECONDS: z.coerce.number().positive().max(3600).default(30),
    /** a model larger than this (listed, or counted while downloading) is refused (issue 14: bound a hostile server) */
    FETCH_MAX_MODEL_GB: z.coerce.number().positive().default(256),
    /**
     * comma-separated folders a `file:` artifact location from the tracking server may be read from (a shared
     * volume mounted at the server's path); empty: none, such a model is refused
     */
    FETCH_FILE_ARTIFACT_ROOTS: z
      .string()
      .default('')
      .transform((v) =>
        v
          .split(',')
          .map((p) => p.trim())
          .filter((p) => p !== ''),
      )
      .pipe(z.array(z.string().refine((p) => path.isAbsolute(p), 'each folder must be an absolute path'))),
    /** files downloaded at once */
    FETCH_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
    /** a PVC cache lock whose heartbeat stopped this long ago is taken over */
    LOCK_STALE_SECONDS: z.coerce.number().positive().max(3600).default(30),
    /** `quick`: a cache hit checks file sizes; `full`: also every sha256 */
    CACHE_VERIFY: z.enum(['quick', 'full']).default('quick'),
    /** `auto`: a bar on a terminal, JSON lines otherwise */
    PROGRESS: z.enum(['auto', 'bar', 'json', 'none']).default('auto'),
    PROGRESS_INTERVAL_SECONDS: z.coerce.number().positive().default(5),
    /** the node's Hugging Face cache, for hf:// URIs */
    HF_HUB_CACHE: z.string().optional(),
    ...HubEnv,
    /** `install`: build the model's requirements.txt into a venv beside it, once (serve runs it with the same setting) */
    MODEL_ENV: z.enum(['none', 'install']).default('none'),
    /** the interpreter with MLflow that a MODEL_ENV=install env layers on */
    SERVE_PYTHON: z.string().min(1).default('python3'),
    ...LogEnv,
  })
  .superRefine((env, ctx) => {
    const needsMlflow = /^(models|runs|mlflow-artifacts):/.test(env.MODEL_URI.trim());
    if (needsMlflow && env.MLFLOW_TRACKING_URI === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['MLFLOW_TRACKING_URI'],
        message: `required for ${env.MODEL_URI.split(':')[0]}: URIs`,
      });
    }
    if (env.MLFLOW_TRACKING_PASSWORD !== undefined && env.MLFLOW_TRACKING_USERNAME === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['MLFLOW_TRACKING_USERNAME'],
        message: 'required when MLFLOW_TRACKING_PASSWORD is set',
      });
    }
  });
export type FetchConfig = z.output<typeof FetchEnv>;
