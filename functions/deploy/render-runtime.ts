import { repoFolderName } from '../../shared/hf-cache/cache-paths.js';
import type { DeployOptions, LlmRuntime } from './deploy-options.js';

/**
 * The LLM runtimes a warmed `hf://` model can be served by: the server reads the model straight from the node's
 * Hugging Face cache (hostPath, read-only, offline), no init container. What each preset renders, with the
 * documentation it follows:
 *
 * - vLLM's OpenAI server (image `vllm/vllm-openai`, whose arguments are `vllm serve`'s engine arguments:
 *   https://docs.vllm.ai/en/stable/deployment/docker/ and https://docs.vllm.ai/en/v0.8.5/serving/engine_args.html):
 *   `--model <repo> --revision <commit> --port <port> [--tensor-parallel-size <gpus>] [--max-model-len n]
 *   [--dtype d] --served-model-name <name>`; health at `GET /health`; the image reads the cache at
 *   `/root/.cache/huggingface/hub`.
 * - Hugging Face TGI (`ghcr.io/huggingface/text-generation-inference`, `text-generation-launcher`:
 *   https://huggingface.co/docs/text-generation-inference/reference/launcher): `--model-id <repo>
 *   --revision <commit> --port <port> [--num-shard <gpus>] [--max-total-tokens n] [--dtype float16|bfloat16]`,
 *   the cache through `HUGGINGFACE_HUB_CACHE` (the env of `--huggingface-hub-cache`); health at `GET /health`;
 *   the image's volume is `/data`.
 * - custom: the image's own command with `--arg`s; it gets the model through the environment (MODEL_ID,
 *   MODEL_REVISION, SERVED_MODEL_NAME, HF_HUB_CACHE, HF_HUB_OFFLINE, MAX_MODEL_LEN, DTYPE) and listens on PORT.
 */
export interface RuntimePreset {
  /** @default image when `--image` is not given */
  image: string | null;
  /** where the image expects the Hugging Face hub cache */
  cacheMountPath: string;
  /** health path answering 200 once the model is loaded */
  readinessPath: string;
  /** the image's entrypoint, run by the cache-choosing wrapper under `--node-affinity preferred` */
  entrypoint: string[] | null;
  /** the runtime's own arguments for the model and the first-class flags */
  args: (model: ServedModel, options: DeployOptions) => string[];
}

/** What a runtime is told about the model. */
export interface ServedModel {
  repo: string;
  /** 40-hex commit the plan resolved (or the URI named): never a branch */
  commit: string;
  servedModelName: string;
  port: number;
  /** mount path of the node cache in the container: HF_HUB_CACHE */
  cacheDir: string;
}

/** The pinned default images (a version, never `latest`: a new pod must run what was tested). */
const VLLM_IMAGE = 'vllm/vllm-openai:v0.11.0';
const TGI_IMAGE = 'ghcr.io/huggingface/text-generation-inference:3.3.0';

export const RUNTIME_PRESETS: Record<LlmRuntime, RuntimePreset> = {
  vllm: {
    image: VLLM_IMAGE,
    cacheMountPath: '/root/.cache/huggingface/hub',
    readinessPath: '/health',
    entrypoint: ['vllm', 'serve'],
    args: (model, o) => [
      '--model',
      model.repo,
      '--revision',
      model.commit,
      '--port',
      String(model.port),
      ...(o.gpu > 0 ? ['--tensor-parallel-size', String(o.gpu)] : []),
      ...(o.maxModelLen !== undefined ? ['--max-model-len', String(o.maxModelLen)] : []),
      ...(o.dtype !== undefined ? ['--dtype', o.dtype] : []),
      '--served-model-name',
      model.servedModelName,
    ],
  },
  tgi: {
    image: TGI_IMAGE,
    cacheMountPath: '/data/hub',
    readinessPath: '/health',
    entrypoint: ['text-generation-launcher'],
    args: (model, o) => [
      '--model-id',
      model.repo,
      '--revision',
      model.commit,
      '--port',
      String(model.port),
      ...(o.gpu > 0 ? ['--num-shard', String(o.gpu)] : []),
      ...(o.maxModelLen !== undefined ? ['--max-total-tokens', String(o.maxModelLen)] : []),
      ...(o.dtype !== undefined ? ['--dtype', o.dtype] : []),
    ],
  },
  custom: {
    image: null,
    cacheMountPath: '/hf-cache',
    readinessPath: '/health',
    entrypoint: null,
    args: () => [],
  },
};

type Obj = Record<string, unknown>;
type EnvVar = { name: string; value: string } | { name: string; valueFrom: Obj };

/** Where a pod downloads a model that is not warm on its node (`--node-affinity preferred`). */
const DOWNLOAD_CACHE_DIR = '/hf-download';

/**
 * The serving container of an LLM runtime: the model from the node cache (read-only), offline, at the commit
 * the plan resolved; startup probe sized for model load; one port. Pure.
 */
export function renderRuntimeContainer(params: {
  options: DeployOptions;
  runtime: LlmRuntime;
  model: Omit<ServedModel, 'cacheDir' | 'port'>;
  /** the plan's revision name whose `refs/` file the agent writes last (the "complete" marker) */
  revision: string;
  image: string;
  /** seconds the model may take to load before the pod is restarted */
  startupSeconds: number;
}): Obj {
  const { options, runtime } = params;
  const preset = RUNTIME_PRESETS[runtime];
  const port = options.port ?? 8080;
  const model: ServedModel = { ...params.model, port, cacheDir: preset.cacheMountPath };
  const probePath = options.readinessPath ?? preset.readinessPath;
  const args = [...preset.args(model, options), ...options.arg];
  const container: Obj = { name: 'model-server', image: params.image };
  if (options.nodeAffinity === 'preferred') {
    const entrypoint = options.command ?? preset.entrypoint ?? [];
    container.command = ['/bin/sh', '-c', chooseCacheScript(model, params.revision), 'modelctl-choose-cache'];
    container.args = [...entrypoint, ...args];
  } else if (args.length > 0) {
    container.args = args;
  }
  return {
    ...container,
    ports: [{ name: 'http1', containerPort: port }],
    env: runtimeEnv(options, model),
    resources: runtimeResources(options),
    // the readiness probe runs in the queue-proxy, which knows the port; the startup probe stays the kubelet's and
    // Knative fills in no port for it (only for liveness): without one the Deployment is invalid (port 0)
    // checked every second, so a cold start is not rounded up to the next check (at 10 s, every hf:// start of
    // bench-e2e waited ~9.5 s between the server being ready and the first 200); the same time limit overall
    startupProbe: {
      httpGet: { path: probePath, port },
      periodSeconds: 1,
      failureThreshold: Math.max(1, Math.ceil(params.startupSeconds)),
    },
    // no periodSeconds: Knative's queue-proxy then probes every 50 ms until the server is ready (a period would
    // add up to that period to every cold start); failureThreshold is refused without a period
    readinessProbe: { httpGet: { path: probePath } },
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: 'hf-cache', mountPath: preset.cacheMountPath, readOnly: true },
      ...(options.nodeAffinity === 'preferred' ? [{ name: 'hf-download', mountPath: DOWNLOAD_CACHE_DIR }] : []),
      // PyTorch shares tensors between worker processes through /dev/shm (vLLM and TGI docs: --shm-size)
      { name: 'dshm', mountPath: '/dev/shm' },
    ],
  };
}

function runtimeEnv(options: DeployOptions, model: ServedModel): EnvVar[] {
  const env: EnvVar[] = [
    { name: 'HF_HUB_CACHE', value: model.cacheDir },
    // TGI's launcher reads this older name (--huggingface-hub-cache [env: HUGGINGFACE_HUB_CACHE])
    { name: 'HUGGINGFACE_HUB_CACHE', value: model.cacheDir },
  ];
  // offline: the pod never reaches the Hub; with `preferred`, the wrapper decides per node
  if (options.nodeAffinity === 'required') {
    env.push({ name: 'HF_HUB_OFFLINE', value: '1' }, { name: 'TRANSFORMERS_OFFLINE', value: '1' });
  }
  env.push(
    { name: 'MODEL_ID', value: model.repo },
    { name: 'MODEL_REVISION', value: model.commit },
    { name: 'SERVED_MODEL_NAME', value: model.servedModelName },
  );
  if (options.maxModelLen !== undefined) env.push({ name: 'MAX_MODEL_LEN', value: String(options.maxModelLen) });
  if (options.dtype !== undefined) env.push({ name: 'DTYPE', value: options.dtype });
  if (options.hfTokenSecret !== undefined) {
    env.push({
      name: 'HF_TOKEN',
      valueFrom: { secretKeyRef: { name: options.hfTokenSecret, key: 'HF_TOKEN', optional: true } },
    });
  }
  for (const [name, value] of Object.entries(options.env).sort(([a], [b]) => a.localeCompare(b))) {
    env.push({ name, value });
  }
  return env;
}

function runtimeResources(options: DeployOptions): Obj {
  const amounts: Record<string, string> = {
    cpu: Number.isInteger(options.cores) ? String(options.cores) : `${Math.ceil(options.cores * 1000)}m`,
    memory: Number.isInteger(options.memory) ? `${options.memory}Gi` : `${Math.ceil(options.memory * 1024)}Mi`,
  };
  const limits: Record<string, string> = { ...amounts };
  if (options.gpu > 0) limits[options.gpuResource] = String(options.gpu);
  return { requests: amounts, limits };
}

/**
 * `--node-affinity preferred`: the pod may land on a node without the model. Before the runtime starts, this
 * picks the node's warm cache when `refs/<revision>` there names the pinned commit (the agent writes it last,
 * after every file), offline; else a pod-local cache the runtime downloads into from the Hub.
 */
export function chooseCacheScript(model: Pick<ServedModel, 'repo' | 'commit' | 'cacheDir'>, revision: string): string {
  const repoDir = `${model.cacheDir}/${repoFolderName(model.repo)}`;
  // a URI pinned to a commit names no ref: its snapshot folder is what huggingface_hub reads offline
  const warm =
    revision === model.commit
      ? `[ -d '${repoDir}/snapshots/${model.commit}' ]`
      : `[ "$(cat '${repoDir}/refs/${revision}' 2>/dev/null)" = '${model.commit}' ]`;
  return [
    `if ${warm}; then`,
    `  export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1`,
    `else`,
    `  echo 'modelctl: ${model.repo}@${model.commit} is not warm on this node: downloading it into the pod' >&2`,
    `  export HF_HUB_CACHE=${DOWNLOAD_CACHE_DIR} HUGGINGFACE_HUB_CACHE=${DOWNLOAD_CACHE_DIR}`,
    `fi`,
    `exec "$@"`,
  ].join('\n');
}

/** The pod volumes of an LLM runtime: the node cache (hostPath), shared memory, and under `preferred` a download dir. */
export function renderRuntimeVolumes(options: DeployOptions, hostPath: string): Obj[] {
  // required: the agent made the folder (the ready label says so); preferred: the node may not have it yet
  const type = options.nodeAffinity === 'required' ? 'Directory' : 'DirectoryOrCreate';
  const volumes: Obj[] = [
    { name: 'hf-cache', hostPath: { path: hostPath, type } },
    { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: `${Math.max(1, Math.ceil(options.memory / 4))}Gi` } },
  ];
  if (options.nodeAffinity === 'preferred') {
    const size = options.modelSize === undefined ? {} : { sizeLimit: `${Math.ceil(options.modelSize * 1.2)}Gi` };
    volumes.push({ name: 'hf-download', emptyDir: size });
  }
  return volumes;
}
