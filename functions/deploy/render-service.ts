import { DEFAULT_CACHE_PATH, DEFAULT_NODE_HOST_PATH } from '../../shared/config/models-config.js';
import { MODELCTL_VERSION } from '../../shared/config/version.js';
import { AppError } from '../../shared/errors/app-error.js';
import { modelReadyLabelKey } from '../../shared/k8s/node-labels.js';
import { type DeployOptions, isLlmRuntime, type LlmRuntime, revisionName, runtimeOf } from './deploy-options.js';
import { modelSourceOf, type ModelSource } from './model-source-of.js';
import { RUNTIME_PRESETS, renderRuntimeContainer, renderRuntimeVolumes } from './render-runtime.js';
import { requiredFeatures } from './required-features.js';

/** A Kubernetes object as plain data (what goes to the API server and into `--dry-run` output). */
export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

type Obj = Record<string, unknown>;
type EnvVar = { name: string; value: string } | { name: string; valueFrom: Obj };

/** Where the containers see things. The fetch role's defaults (DESIGN.md env contracts). */
const MOUNTS = { models: '/models', modelCache: '/model-cache', hfCache: '/hf-cache', tmp: '/tmp' } as const;
/** The uid/gid of the image's non-root user (Dockerfile `USER 1000:1000`, node images' `node`). */
const IMAGE_UID = 1000;
/** Annotation on the Service listing the `config-features` flags its pod spec needs. */
const REQUIRED_FEATURES_ANNOTATION = 'modelctl.dev/required-features';
/** Label on the Revision template carrying `--artifact-version`. */
const ARTIFACT_VERSION_LABEL = 'modelctl.dev/artifact-version';
/** Knative's default progress deadline; ours never goes below it. */
const KNATIVE_DEFAULT_PROGRESS_DEADLINE_S = 600;
/** Budget per GiB of model for download + load (≈17 MiB/s worst case, e.g. a busy MLflow artifact proxy). */
const SECONDS_PER_GIB = 60;
/** Deadline when the model size is unknown. */
const UNKNOWN_SIZE_PROGRESS_DEADLINE_S = 1200;

const MLFLOW_SECRET_KEYS = ['MLFLOW_TRACKING_USERNAME', 'MLFLOW_TRACKING_PASSWORD', 'MLFLOW_TRACKING_TOKEN'];
/** Names of the serving pod's containers, the replaced runtime's (`kubectl logs <pod> -c model-downloader`). */
const CONTAINER_NAMES = { init: 'model-downloader', main: 'model-server' } as const;
/** Template annotations naming the warmed model a pod serves (the agent keeps it while such a pod is ready). */
const HF_REPO_ANNOTATION = 'modelctl.dev/hf-repo';
const HF_COMMIT_ANNOTATION = 'modelctl.dev/hf-commit';
/** Template label naming the runtime; the agent lists ready pods on its node by it. */
const RUNTIME_LABEL = 'modelctl.dev/runtime';

/**
 * What `modelctl deploy` learnt from the cluster (or the URI) before rendering, so rendering stays pure:
 * the warm plan's commit and cache settings, the recorded tracking URI.
 */
export interface DeployFacts {
  /** hf://: the 40-hex commit the plan resolved (or the URI pinned) */
  commit?: string | undefined;
  /** hf://: the revision name whose refs/ file the agent writes (the plan's) */
  revision?: string | undefined;
  /** the models config's nodeHostPath / cachePath (from the plan), unless the flags say otherwise */
  nodeHostPath?: string | undefined;
  cachePath?: string | undefined;
  /** the models config's imageProxy: registry prefix of the default images */
  imageProxy?: string | undefined;
  /** MLFLOW_TRACKING_URI of the pods when `--mlflow-tracking-uri` is absent (env, cluster record) */
  mlflowTrackingUri?: string | undefined;
}

/** The image of a runtime: `--image`, else its default behind the models config's imageProxy. */
function defaultImage(options: Pick<DeployOptions, 'image' | 'runtime'>, imageProxy?: string): string {
  if (options.image !== undefined) return options.image;
  const runtime = runtimeOf(options);
  const image =
    runtime === 'modelctl'
      ? `modelctl:${MODELCTL_VERSION}`
      : runtime === 'pyfunc'
        ? `modelctl:${MODELCTL_VERSION}-python`
        : RUNTIME_PRESETS[runtime].image;
  // custom has no default: the options refuse it without --image
  if (image === null) throw new AppError({ code: 'INVALID_OPTIONS', statusCode: 400, message: '--image: required' });
  if (imageProxy === undefined) return image;
  return `${imageProxy.replace(/\/+$/, '')}/${image.replace(/^docker\.io\//, '')}`;
}

/**
 * Renders the Knative Service of one model: init container `modelctl fetch` puts the model on local disk,
 * container `modelctl serve` reads it in place. Pure: same options, same object (golden-tested).
 *
 * - volumes by strategy: `emptydir` (the model in a pod-local emptyDir), `pvc` (the shared cache PVC at
 *   /model-cache, mounted in both containers so serve can follow fetch's links into it), and for `hf://` the
 *   node's warm cache (hostPath, read-only) plus node affinity to nodes whose agent reports the model ready;
 * - MLflow credentials only as `secretKeyRef`s to `--mlflow-secret` (optional keys), never values;
 * - autoscaling and progress-deadline annotations on the Revision template, not on the Service;
 * - `--artifact-version` names the Revision (`<name>-<version>`) and labels it, so traffic can be split later.
 */
export function renderService(options: DeployOptions, facts: DeployFacts = {}): RenderedObject {
  const source = modelSourceOf(options.modelUri);
  const runtime = runtimeOf(options);
  const withFacts = { ...options, mlflowTrackingUri: options.mlflowTrackingUri ?? facts.mlflowTrackingUri };
  const podSpec =
    isLlmRuntime(runtime) && source.kind === 'hf'
      ? renderRuntimePodSpec(withFacts, source, runtime, facts)
      : renderPodSpec(withFacts, source, defaultImage(options, facts.imageProxy));
  const labels = { 'app.kubernetes.io/name': options.serveName, ...COMMON_LABELS };
  const metadata = renderTemplateMetadata(options, labels);
  (metadata.labels as Record<string, string>)[RUNTIME_LABEL] = runtime;
  if (source.kind === 'hf' && isLlmRuntime(runtime)) {
    Object.assign(metadata.annotations as Record<string, string>, {
      [HF_REPO_ANNOTATION]: source.repo,
      [HF_COMMIT_ANNOTATION]: requireCommit(source, facts),
    });
  }
  const template: Obj = { metadata, spec: podSpec };
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: {
      name: options.serveName,
      namespace: options.namespace,
      labels,
      annotations: {
        'modelctl.dev/model-uri': options.modelUri,
        [REQUIRED_FEATURES_ANNOTATION]: requiredFeatures(podSpec).join(','),
      },
    },
    spec: { template },
  };
}

const COMMON_LABELS = { 'app.kubernetes.io/part-of': 'modelctl', 'app.kubernetes.io/managed-by': 'modelctl' };

function renderTemplateMetadata(options: DeployOptions, labels: Record<string, string>): Obj {
  const annotations: Record<string, string> = {
    'autoscaling.knative.dev/min-scale': String(options.minScale),
  };
  if (options.maxScale !== undefined) annotations['autoscaling.knative.dev/max-scale'] = String(options.maxScale);
  if (options.initialScale !== undefined) {
    annotations['autoscaling.knative.dev/initial-scale'] = String(options.initialScale);
  }
  if (options.scaleToZeroRetention !== undefined) {
    annotations['autoscaling.knative.dev/scale-to-zero-pod-retention-period'] = options.scaleToZeroRetention;
  }
  annotations['serving.knative.dev/progress-deadline'] = progressDeadline(options);
  if (options.artifactVersion === undefined) return { labels: { ...labels }, annotations };
  return {
    name: revisionName(options.serveName, options.artifactVersion),
    labels: { ...labels, [ARTIFACT_VERSION_LABEL]: options.artifactVersion },
    annotations,
  };
}

/**
 * `serving.knative.dev/progress-deadline`: `--progress-deadline` when given, else Knative's 600 s plus a
 * minute per GiB of `--model-size`, else 1200 s.
 */
export function progressDeadline(options: Pick<DeployOptions, 'progressDeadline' | 'modelSize'>): string {
  if (options.progressDeadline !== undefined) return options.progressDeadline;
  if (options.modelSize === undefined) return `${UNKNOWN_SIZE_PROGRESS_DEADLINE_S}s`;
  return `${KNATIVE_DEFAULT_PROGRESS_DEADLINE_S + SECONDS_PER_GIB * Math.ceil(options.modelSize)}s`;
}

/** The commit an LLM runtime is pinned to. */
function requireCommit(source: Extract<ModelSource, { kind: 'hf' }>, facts: DeployFacts): string {
  const commit = facts.commit ?? (/^[0-9a-f]{40}$/.test(source.revision) ? source.revision : null);
  if (commit !== null) return commit;
  throw new AppError({
    code: 'MODEL_NOT_PINNED',
    statusCode: 400,
    message: `--model-uri ${source.uri}: no commit to pin: the model is not in the warm plan; add it to the models config or pass hf://${source.repo}@<40-hex commit>`,
  });
}

/** Pod spec of an LLM runtime: one container reading the node cache, GPUs, placement on nodes with the model. */
function renderRuntimePodSpec(
  options: DeployOptions,
  source: Extract<ModelSource, { kind: 'hf' }>,
  runtime: LlmRuntime,
  facts: DeployFacts,
): Obj {
  const spec: Obj = {};
  if (options.serviceAccount !== undefined) spec.serviceAccountName = options.serviceAccount;
  if (options.concurrency !== undefined) spec.containerConcurrency = options.concurrency;
  if (options.timeout !== undefined) spec.timeoutSeconds = options.timeout;
  const deadline = Number.parseInt(progressDeadline(options), 10);
  spec.containers = [
    renderRuntimeContainer({
      options,
      runtime,
      model: {
        repo: source.repo,
        commit: requireCommit(source, facts),
        servedModelName: options.servedModelName ?? source.repo,
      },
      revision: facts.revision ?? source.revision,
      image: defaultImage(options, facts.imageProxy),
      startupSeconds: Number.isNaN(deadline) ? UNKNOWN_SIZE_PROGRESS_DEADLINE_S : deadline,
    }),
  ];
  spec.volumes = renderRuntimeVolumes(options, nodeCacheDir(options, facts));
  Object.assign(spec, renderPlacement(options, source));
  return spec;
}

/** `<nodeHostPath>/<cachePath>`: flags, else the plan's settings, else the models config's defaults. */
function nodeCacheDir(options: Pick<DeployOptions, 'nodeHostPath' | 'nodeCachePath'>, facts: DeployFacts): string {
  const hostPath = options.nodeHostPath ?? facts.nodeHostPath ?? DEFAULT_NODE_HOST_PATH;
  const cachePath = options.nodeCachePath ?? facts.cachePath ?? DEFAULT_CACHE_PATH;
  return `${hostPath.replace(/\/+$/, '')}/${cachePath.replace(/^\/+/, '')}`;
}

function renderPodSpec(options: DeployOptions, source: ModelSource, image: string): Obj {
  const spec: Obj = {};
  if (options.serviceAccount !== undefined) spec.serviceAccountName = options.serviceAccount;
  if (options.concurrency !== undefined) spec.containerConcurrency = options.concurrency;
  if (options.timeout !== undefined) spec.timeoutSeconds = options.timeout;
  // a PVC is created owned by root: the group lets the non-root fetch write the shared cache
  if (options.storage === 'pvc') spec.securityContext = { fsGroup: IMAGE_UID };
  spec.initContainers = [renderFetchContainer(options, source, image)];
  spec.containers = [renderServeContainer(options, source, image)];
  spec.volumes = renderVolumes(options, source);
  Object.assign(spec, renderPlacement(options, source));
  return spec;
}

function renderFetchContainer(options: DeployOptions, source: ModelSource, image: string): Obj {
  const env: EnvVar[] = [
    { name: 'MODEL_URI', value: options.modelUri },
    { name: 'OUTPUT_PATH', value: MOUNTS.models },
    { name: 'STORAGE_STRATEGY', value: options.storage },
  ];
  if (options.storage === 'pvc') env.push({ name: 'CACHE_PATH', value: MOUNTS.modelCache });
  env.push(...credentialEnv(options, source, 'fetch'), ...userEnv(options));
  return {
    name: CONTAINER_NAMES.init,
    image,
    args: ['fetch'],
    env,
    resources: renderResources(options, 0),
    securityContext: CONTAINER_SECURITY,
    volumeMounts: renderMounts(options, source, 'fetch'),
  };
}

function renderServeContainer(options: DeployOptions, source: ModelSource, image: string): Obj {
  const env: EnvVar[] = [
    // fetch's contract: exit 0 means the model is at OUTPUT_PATH/model (a folder, or a link into a cache)
    { name: 'MODEL_LOCAL_PATH', value: `${MOUNTS.models}/model` },
    { name: 'MLFLOW_MODEL_URI', value: options.modelUri },
  ];
  if (options.concurrency !== undefined && options.concurrency > 0) {
    env.push({ name: 'SERVE_MAX_CONCURRENCY', value: String(options.concurrency) });
  }
  if (options.timeout !== undefined) {
    env.push({ name: 'MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT', value: String(options.timeout) });
  }
  env.push(...credentialEnv(options, source, 'serve'), ...userEnv(options));
  return {
    name: CONTAINER_NAMES.main,
    image,
    args: ['serve'],
    // Knative sets PORT to this port; http1 names the protocol for the queue-proxy
    ports: [{ name: 'http1', containerPort: 8080 }],
    env,
    resources: renderResources(options, options.gpu),
    // Knative probes the serving container through the queue-proxy on its own port: no port here; no periodSeconds,
    // so the queue-proxy probes every 50 ms until ready instead of adding up to a period to every cold start
    readinessProbe: { httpGet: { path: '/health/readiness' } },
    livenessProbe: { httpGet: { path: '/health/liveness' }, periodSeconds: 10, failureThreshold: 3 },
    securityContext: CONTAINER_SECURITY,
    volumeMounts: renderMounts(options, source, 'serve'),
  };
}

/** Works with a read-only root filesystem: writes go to the mounted volumes and the /tmp emptyDir. */
const CONTAINER_SECURITY = {
  runAsNonRoot: true,
  runAsUser: IMAGE_UID,
  runAsGroup: IMAGE_UID,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** MLflow tracking coordinates (URI as a value, credentials as optional Secret keys), HF token, cache dirs. */
function credentialEnv(options: DeployOptions, source: ModelSource, container: 'fetch' | 'serve'): EnvVar[] {
  const env: EnvVar[] = [];
  if (options.mlflowTrackingUri !== undefined)
    env.push({ name: 'MLFLOW_TRACKING_URI', value: options.mlflowTrackingUri });
  if (options.mlflowSecret !== undefined) {
    for (const key of MLFLOW_SECRET_KEYS) env.push(secretEnv(key, options.mlflowSecret, key));
  }
  if (source.kind === 'hf') {
    env.push({ name: 'HF_HUB_CACHE', value: MOUNTS.hfCache });
    // serve only reads what fetch linked; fetch itself falls back to downloading when the node lacks the model
    if (container === 'serve') env.push({ name: 'HF_HUB_OFFLINE', value: '1' });
    if (options.hfTokenSecret !== undefined) env.push(secretEnv('HF_TOKEN', options.hfTokenSecret, 'HF_TOKEN'));
  }
  return env;
}

function secretEnv(name: string, secret: string, key: string): EnvVar {
  // optional: a Secret holding only a token (or only user+password) is complete
  return { name, valueFrom: { secretKeyRef: { name: secret, key, optional: true } } };
}

function userEnv(options: DeployOptions): EnvVar[] {
  return Object.entries(options.env)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => ({ name, value }));
}

function renderResources(options: DeployOptions, gpu: number): Obj {
  const amounts: Record<string, string> = { cpu: cpuQuantity(options.cores), memory: memoryQuantity(options.memory) };
  const limits: Record<string, string> = { ...amounts };
  if (gpu > 0) limits[options.gpuResource] = String(gpu);
  return { requests: amounts, limits };
}

/** 4 → "4", 0.5 → "500m". */
export function cpuQuantity(cores: number): string {
  return Number.isInteger(cores) ? String(cores) : `${Math.ceil(cores * 1000)}m`;
}

/** GiB → "8Gi", 0.5 → "512Mi". */
export function memoryQuantity(gib: number): string {
  return Number.isInteger(gib) ? `${gib}Gi` : `${Math.ceil(gib * 1024)}Mi`;
}

function renderMounts(options: DeployOptions, source: ModelSource, container: 'fetch' | 'serve'): Obj[] {
  // serve only reads; fetch writes the model (and the shared cache)
  const readOnly = container === 'serve';
  const mounts: Obj[] = [
    { name: 'model', mountPath: MOUNTS.models, readOnly },
    { name: 'tmp', mountPath: MOUNTS.tmp },
  ];
  if (options.storage === 'pvc') mounts.push({ name: 'model-cache', mountPath: MOUNTS.modelCache, readOnly });
  // hostPath mounts must be read-only (Knative kubernetes.podspec-volumes-hostpath)
  if (source.kind === 'hf') mounts.push({ name: 'hf-cache', mountPath: MOUNTS.hfCache, readOnly: true });
  return mounts;
}

function renderVolumes(options: DeployOptions, source: ModelSource): Obj[] {
  const modelDir: Obj = {};
  // the model itself lives in the emptyDir only with the emptydir strategy (else it holds links)
  if (options.modelSize !== undefined && options.storage === 'emptydir' && source.kind === 'mlflow') {
    modelDir.sizeLimit = `${Math.ceil(options.modelSize * 1.2)}Gi`;
  }
  const volumes: Obj[] = [
    { name: 'model', emptyDir: modelDir },
    { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
  ];
  if (options.storage === 'pvc') {
    volumes.push({ name: 'model-cache', persistentVolumeClaim: { claimName: options.cachePvc } });
  }
  if (source.kind === 'hf') {
    const hostPath = nodeCacheDir(options, {});
    // required affinity: the agent made the folder; preferred: the node may not have it yet
    const type = options.nodeAffinity === 'required' ? 'Directory' : 'DirectoryOrCreate';
    volumes.push({ name: 'hf-cache', hostPath: { path: hostPath, type } });
  }
  return volumes;
}

/** GPU node selection and toleration; for `hf://`, affinity to nodes whose agent has the model ready. */
function renderPlacement(options: DeployOptions, source: ModelSource): Obj {
  const placement: Obj = {};
  if (options.gpuType !== undefined) placement.nodeSelector = { [options.gpuTypeLabel]: options.gpuType };
  if (source.kind === 'hf')
    placement.affinity = { nodeAffinity: modelReadyAffinity(source.repo, options.nodeAffinity) };
  if (options.gpu > 0) {
    placement.tolerations = [{ key: options.gpuResource, operator: 'Exists', effect: 'NoSchedule' }];
  }
  return placement;
}

function modelReadyAffinity(repo: string, mode: DeployOptions['nodeAffinity']): Obj {
  const term = { matchExpressions: [{ key: modelReadyLabelKey(repo), operator: 'Exists' }] };
  if (mode === 'required') return { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [term] } };
  return { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, preference: term }] };
}
