import path from 'node:path';
import { z } from 'zod';
import { BYTES_PER_GIB } from '../../shared/disk/byte-units.js';
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
export type FetchEnv = z.output<typeof FetchEnv>;

/**
 * What fetch's strategies read, in camelCase with the units in the names: mapped from {@link FetchEnv} once, at
 * fetch's edges (index.ts for `modelctl fetch`, fetch-for-serve.ts for `serve`). Logging and progress stay there.
 */
export interface FetchSettings {
  /** MODEL_URI, as given */
  modelUri: string;
  /** OUTPUT_PATH, absolute: the model lands at `<outputPath>/model` */
  outputPath: string;
  /** STORAGE_STRATEGY */
  storageStrategy: 'emptydir' | 'pvc';
  /** CACHE_PATH, absolute: the shared PVC cache (pvc) */
  cachePath: string;
  /** CACHE_VERIFY: what a cache hit checks */
  cacheVerify: 'quick' | 'full';
  /** LOCK_STALE_SECONDS, in ms: a cache lock whose heartbeat stopped this long ago is taken over */
  lockStaleMs: number;
  /** FETCH_CONCURRENCY: files downloaded at once */
  concurrency: number;
  /** FETCH_FILE_ARTIFACT_ROOTS: folders a `file:` artifact location may be read from */
  fileArtifactRoots: string[];
  /** FETCH_MAX_MODEL_GB in bytes (GiB = 2^30): a larger model is refused */
  maxModelBytes: number;
  /** MAX_RETRIES and BACKOFF_SECONDS (in ms) of every remote call */
  retry: { maxRetries: number; baseDelayMs: number };
  /** MLFLOW_TRACKING_URI and its credentials; FETCH_TIMEOUT_SECONDS in ms */
  mlflow: {
    trackingUri: string | undefined;
    username: string | undefined;
    password: string | undefined;
    token: string | undefined;
    insecureTls: boolean;
    timeoutMs: number;
  };
  /** HF_ENDPOINT, HF_TOKEN, and the node's Hugging Face cache (HF_HUB_CACHE) for hf:// URIs */
  hub: { endpoint: string; token: string | undefined; nodeCache: string | undefined };
  /** MODEL_ENV */
  modelEnv: 'none' | 'install';
  /** SERVE_PYTHON: the interpreter a MODEL_ENV=install env layers on */
  servePython: string;
}

/** {@link FetchSettings} from fetch's parsed environment. */
export function fetchSettingsOf(env: FetchEnv): FetchSettings {
  return {
    modelUri: env.MODEL_URI,
    outputPath: env.OUTPUT_PATH,
    storageStrategy: env.STORAGE_STRATEGY,
    cachePath: env.CACHE_PATH,
    cacheVerify: env.CACHE_VERIFY,
    lockStaleMs: env.LOCK_STALE_SECONDS * 1000,
    concurrency: env.FETCH_CONCURRENCY,
    fileArtifactRoots: env.FETCH_FILE_ARTIFACT_ROOTS,
    maxModelBytes: env.FETCH_MAX_MODEL_GB * BYTES_PER_GIB,
    retry: { maxRetries: env.MAX_RETRIES, baseDelayMs: env.BACKOFF_SECONDS * 1000 },
    mlflow: {
      trackingUri: env.MLFLOW_TRACKING_URI,
      username: env.MLFLOW_TRACKING_USERNAME,
      password: env.MLFLOW_TRACKING_PASSWORD,
      token: env.MLFLOW_TRACKING_TOKEN,
      insecureTls: env.MLFLOW_TRACKING_INSECURE_TLS,
      timeoutMs: env.FETCH_TIMEOUT_SECONDS * 1000,
    },
    hub: { endpoint: env.HF_ENDPOINT, token: env.HF_TOKEN, nodeCache: env.HF_HUB_CACHE },
    modelEnv: env.MODEL_ENV,
    servePython: env.SERVE_PYTHON,
  };
}
