import { z } from 'zod';

/** The codes deploy fails with (besides the adapters'). */
export type DeployErrorCode =
  | 'INVALID_MODEL_URI'
  | 'INVALID_OPTIONS'
  | 'MODEL_NOT_PINNED'
  | 'MODEL_NOT_PLANNED'
  | 'TRACKING_URI_MISSING'
  | 'CACHE_PVC_MISSING'
  | 'SERVICE_FAILED'
  | 'WAIT_TIMEOUT';

declare module '../../shared/errors/app-error.js' {
  interface ErrorCodes {
    deploy: DeployErrorCode;
  }
}

/** Kubernetes DNS-1035 label: what a Knative Service (and its Revisions) may be named. */
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** Kubernetes DNS-1123 label: namespaces, Secrets, PVCs. */
const DNS_1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A Kubernetes label value (the artifact version becomes one). */
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
/** An environment variable name a container may carry. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A Go duration as Knative annotations take it: `30s`, `10m`, `1h30m`. */
const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

/**
 * Variables that carry credentials: they only ever reach a pod as Secret references (`--mlflow-secret`,
 * `--hf-token-secret`), never as literal `--env` values written into the Service for anyone to read.
 */
const SECRET_ENV_NAMES = [
  'MLFLOW_TRACKING_USERNAME',
  'MLFLOW_TRACKING_PASSWORD',
  'MLFLOW_TRACKING_TOKEN',
  'HF_TOKEN',
  'AWS_SECRET_ACCESS_KEY',
] as const;

/** Variables the rendered Service sets itself; an `--env` cannot override them. */
const RESERVED_ENV_NAMES = [
  'PORT',
  'MODEL_URI',
  'MLFLOW_MODEL_URI',
  'MODEL_LOCAL_PATH',
  'OUTPUT_PATH',
  'STORAGE_STRATEGY',
  'CACHE_PATH',
  'HF_HUB_CACHE',
];

/** `K=V` pairs of `--env`, parsed into a record; a bad one names itself. */
const EnvPairs = z
  .array(z.string())
  .default([])
  .transform((pairs, ctx) => {
    const env: Record<string, string> = {};
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      const name = eq > 0 ? pair.slice(0, eq) : '';
      if (!ENV_NAME.test(name)) {
        ctx.addIssue({ code: 'custom', message: `"${pair}" is not NAME=value` });
      } else if ((SECRET_ENV_NAMES as readonly string[]).includes(name)) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} is a credential: put it in a Secret and pass --mlflow-secret/--hf-token-secret, never a literal value`,
        });
      } else if (RESERVED_ENV_NAMES.includes(name)) {
        ctx.addIssue({ code: 'custom', message: `${name} is set by modelctl deploy from its own flags` });
      } else {
        env[name] = pair.slice(eq + 1);
      }
    }
    return env;
  });

/** A URI without `user:password@`: credentials never sit in the Service spec. */
const UriWithoutCredentials = z
  .string()
  .regex(/^https?:\/\//, 'must be an http(s) URL')
  .refine((uri) => !/^[a-z][a-z0-9+.-]*:\/\/[^/@]*@/i.test(uri), {
    message: 'must not carry user:password@ — put credentials in the Secret named by --mlflow-secret',
  });

/** The runtimes of `--runtime`. */
export const RUNTIMES = ['modelctl', 'pyfunc', 'vllm', 'tgi', 'custom'] as const;
export type Runtime = (typeof RUNTIMES)[number];
export type LlmRuntime = 'vllm' | 'tgi' | 'custom';

const PositiveInt = z.coerce.number().int().positive();
const NonNegativeInt = z.coerce.number().int().min(0);

/**
 * Everything `modelctl deploy` needs to render a model's Knative Service, parsed once from the CLI flags.
 * Numbers arrive as strings from commander and are coerced here; defaults live here, not in the CLI.
 */
const DeployOptionsObject = z.strictObject({
  serveName: z
    .string()
    .max(63)
    .regex(DNS_1035, 'must be a DNS-1035 label: lower case letters, digits and "-", starting with a letter'),
  modelUri: z.string().min(1),
  /** becomes the Revision name `<serveName>-<artifactVersion>` and the label `modelctl.dev/artifact-version` */
  artifactVersion: z
    .string()
    .max(63)
    .regex(LABEL_VALUE, 'must be a label value: letters, digits, "-", "_", "."')
    .optional(),
  namespace: z.string().max(63).regex(DNS_1123, 'must be a DNS-1123 label').default('default'),
  /**
   * what serves the model: `modelctl` (ONNX, MLflow URIs), `pyfunc` (the python image, any MLflow flavor),
   * or an LLM server reading a warmed `hf://` model: `vllm`, `tgi`, `custom` (`--image`)
   * @default modelctl for MLflow URIs; hf:// URIs must name one
   */
  runtime: z.enum(RUNTIMES).optional(),
  /** @default the runtime's image (see {@link defaultImage}) */
  image: z.string().min(1).optional(),
  /** the server's one container port (Knative sets PORT to it) @default 8080 */
  port: z.coerce.number().int().min(1).max(65535).optional(),
  /** extra runtime arguments, appended after modelctl's (repeatable) */
  arg: z.array(z.string()).default([]),
  /** HTTP path of the runtime's readiness (and startup) probe @default the runtime's */
  readinessPath: z.string().startsWith('/', 'must start with "/"').optional(),
  /** LLM runtimes: the longest sequence (prompt + output) in tokens */
  maxModelLen: PositiveInt.optional(),
  /** LLM runtimes: weights/activations dtype (vLLM --dtype, TGI --dtype) */
  dtype: z.enum(['auto', 'half', 'float16', 'bfloat16', 'float', 'float32']).optional(),
  /** LLM runtimes: the model name clients send in requests @default the repo id */
  servedModelName: z.string().min(1).max(256).optional(),
  /** custom runtime with --node-affinity preferred: the image's entrypoint (the cache is chosen before it runs) */
  command: z.array(z.string().min(1)).optional(),
  /** namespace of the warm plan (modelctl-plan) and the cluster settings @default modelctl-system */
  planNamespace: z.string().max(63).regex(DNS_1123, 'must be a DNS-1123 label').default('modelctl-system'),
  /** CPU cores, requested and limited */
  cores: z.coerce.number().positive().default(1),
  /** memory in GiB, requested and limited */
  memory: z.coerce.number().positive().default(2),
  gpu: NonNegativeInt.default(0),
  /** node label value of the GPU type (e.g. nvidia-l4), matched on `gpuTypeLabel` */
  gpuType: z.string().max(63).regex(LABEL_VALUE, 'must be a label value').optional(),
  gpuTypeLabel: z.string().min(1).default('cloud.google.com/gke-accelerator'),
  gpuResource: z.string().min(1).default('nvidia.com/gpu'),
  minScale: NonNegativeInt.default(0),
  maxScale: NonNegativeInt.optional(),
  initialScale: NonNegativeInt.optional(),
  scaleToZeroRetention: z.string().regex(GO_DURATION, 'must be a duration such as 30s, 10m, 1h').optional(),
  /** hard limit of requests in flight per pod (Knative `containerConcurrency`); 0 = unlimited */
  concurrency: NonNegativeInt.optional(),
  /** request timeout in seconds (Knative `timeoutSeconds`) */
  timeout: PositiveInt.optional(),
  storage: z.enum(['emptydir', 'pvc']).default('emptydir'),
  cachePvc: z.string().max(253).regex(DNS_1123, 'must be a DNS-1123 name').default('modelctl-model-cache'),
  /** model size in GiB: sizes the emptyDir and the progress deadline */
  modelSize: z.coerce.number().positive().optional(),
  /** overrides the deadline derived from the model size */
  progressDeadline: z.string().regex(GO_DURATION, 'must be a duration such as 600s, 20m').optional(),
  /** hf:// models: schedule only on nodes whose agent reports the model ready, or prefer them */
  nodeAffinity: z.enum(['required', 'preferred']).default('required'),
  /** node folder of the agents' cache (the models config's nodeHostPath) @default the plan's, else the default */
  nodeHostPath: z.string().startsWith('/', 'must be an absolute path').optional(),
  /** cache folder under nodeHostPath: HF_HUB_CACHE = nodeHostPath/cachePath @default the plan's, else the default */
  nodeCachePath: z.string().min(1).optional(),
  mlflowTrackingUri: UriWithoutCredentials.optional(),
  /** Secret with MLFLOW_TRACKING_USERNAME / _PASSWORD / _TOKEN keys (each optional) */
  mlflowSecret: z.string().max(253).regex(DNS_1123, 'must be a DNS-1123 name').optional(),
  /** Secret with an HF_TOKEN key, for gated hf:// models */
  hfTokenSecret: z.string().max(253).regex(DNS_1123, 'must be a DNS-1123 name').optional(),
  serviceAccount: z.string().max(253).regex(DNS_1123, 'must be a DNS-1123 name').optional(),
  env: EnvPairs,
});

export const DeployOptions = DeployOptionsObject.superRefine((o, ctx) => {
  if (o.artifactVersion !== undefined && revisionName(o.serveName, o.artifactVersion).length > 63) {
    ctx.addIssue({
      code: 'custom',
      path: ['artifactVersion'],
      message: `revision name "${revisionName(o.serveName, o.artifactVersion)}" is longer than 63 characters`,
    });
  }
  if (o.maxScale !== undefined && o.maxScale > 0 && o.minScale > o.maxScale) {
    ctx.addIssue({ code: 'custom', path: ['minScale'], message: `must not exceed --max-scale (${o.maxScale})` });
  }
  checkRuntime(o, ctx);
  if (o.gpuType !== undefined && o.gpu === 0) {
    ctx.addIssue({ code: 'custom', path: ['gpuType'], message: 'needs --gpu N (N ≥ 1)' });
  }
});
export type DeployOptions = z.output<typeof DeployOptions>;

type Issue = (path: string, message: string) => void;

/** Which runtime flags fit which runtime and URI; an unfit one is refused rather than silently ignored. */
function checkRuntime(o: z.output<typeof DeployOptionsObject>, ctx: z.core.$RefinementCtx): void {
  const isHf = o.modelUri.startsWith('hf://');
  const issue: Issue = (path, message) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (o.runtime === undefined && isHf) {
    issue('runtime', 'hf:// models are served by an LLM runtime: pass --runtime vllm|tgi|custom');
    return;
  }
  const runtime = o.runtime ?? 'modelctl';
  const llm = isLlmRuntime(runtime);
  if (llm && !isHf) issue('runtime', `${runtime} serves warmed hf:// models; MLflow models use modelctl or pyfunc`);
  if (!llm && isHf) issue('runtime', `${runtime} serves MLflow models; hf:// models need --runtime vllm|tgi|custom`);
  if (llm) checkLlmFlags(o, runtime, issue);
  else checkNoLlmFlags(o, issue);
}

function checkLlmFlags(o: z.output<typeof DeployOptionsObject>, runtime: LlmRuntime, issue: Issue): void {
  if (runtime === 'custom' && o.image === undefined) issue('image', 'required with --runtime custom');
  // text-generation-launcher --dtype takes only these two
  if (runtime === 'tgi' && !['float16', 'bfloat16', undefined].includes(o.dtype)) {
    issue('dtype', 'TGI takes float16 or bfloat16');
  }
  if (o.command !== undefined && runtime !== 'custom') issue('command', 'only for --runtime custom');
  if (runtime === 'custom' && o.nodeAffinity === 'preferred' && o.command === undefined) {
    issue('command', "required with --runtime custom --node-affinity preferred (the image's entrypoint)");
  }
}

function checkNoLlmFlags(o: z.output<typeof DeployOptionsObject>, issue: Issue): void {
  const llmOnly = {
    port: o.port,
    readinessPath: o.readinessPath,
    maxModelLen: o.maxModelLen,
    dtype: o.dtype,
    servedModelName: o.servedModelName,
    command: o.command,
    arg: o.arg.length > 0 ? o.arg : undefined,
  };
  for (const [key, value] of Object.entries(llmOnly)) {
    if (value !== undefined) issue(key, 'only for --runtime vllm|tgi|custom');
  }
}

/** True for the runtimes that serve a warmed hf:// model themselves (no init container). */
export function isLlmRuntime(runtime: Runtime): runtime is LlmRuntime {
  return runtime === 'vllm' || runtime === 'tgi' || runtime === 'custom';
}

/** The runtime of parsed options: `--runtime`, else modelctl (MLflow URIs; hf:// ones are refused without it). */
export function runtimeOf(options: Pick<DeployOptions, 'runtime'>): Runtime {
  return options.runtime ?? 'modelctl';
}
export type DeployOptionsInput = z.input<typeof DeployOptions>;

/**
 * The Revision name for an artifact version: `<serveName>-<version>`, lower case, `.` and `_` as `-`
 * (Knative requires a Service's Revision names to start with `<serviceName>-`).
 */
export function revisionName(serveName: string, artifactVersion: string): string {
  return `${serveName}-${artifactVersion.toLowerCase().replace(/[._]/g, '-')}`;
}
