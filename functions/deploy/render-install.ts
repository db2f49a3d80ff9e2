import path from 'node:path';
import { isMap, parseDocument } from 'yaml';
import { ConfigError } from '../../shared/errors/app-error.js';
import { MODELS_CONFIG_KEY, MODELS_CONFIG_MAP_NAME, parseModelsConfig } from '../../shared/config/models-config.js';
import type { ModelsConfig } from '../../shared/config/models-config.js';
import { CLUSTER_SETTINGS_CONFIG_MAP, TRACKING_URI_KEY } from './resolve-deploy-facts.js';

/** A Kubernetes object of the rendered install (kustomize output), as plain data. */
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The node-warmer chart's `--set` overrides, as `make render|deploy ENV=… NAME=value` takes them. Each lands in
 * the models config first (the one place), and everything else is derived from that config.
 */
export interface InstallOverrides {
  /** → imageProxy */
  IMAGE_PROXY?: string | undefined;
  /** → checkIntervalSeconds */
  CHECK_INTERVAL_SECONDS?: string | undefined;
  /** → configReadRetryDelaySeconds */
  CONFIG_READ_RETRY_DELAY_SECONDS?: string | undefined;
  /** recorded in ConfigMap modelctl-settings for `modelctl deploy` */
  MLFLOW_TRACKING_URI?: string | undefined;
  /** never rendered: install.sh makes the Secret from it through stdin */
  HF_TOKEN?: string | undefined;
}

const NAMESPACE = 'modelctl-system';
const AGENT = 'modelctl-agent';
const WARM_PING = 'modelctl-warm-hourly';
/** Node labels carrying a GPU type, whose excluded values keep the agent off a node. */
const GPU_LABELS = ['nvidia.com/gpu.product', 'cloud.google.com/gke-accelerator'];

/**
 * Turns kustomize's output of `config/<env>` into what is installed, with the models config as the one place of
 * every warmer setting:
 * 1. the overrides are written into the models ConfigMap's yaml (comments kept) and the result is validated by
 *    the same schema warm and the agents use (a bad value stops the render, naming the variable);
 * 2. from that config: the agent DaemonSet's hostPath, mount, HF_HUB_CACHE and state dir (`nodeHostPath`,
 *    `cachePath`), the GPU types it stays off (`excludeGpuTypes`), every modelctl image's registry prefix
 *    (`imageProxy`), the warm PingSource's schedule (`checkIntervalSeconds`);
 * 3. `MLFLOW_TRACKING_URI` becomes ConfigMap modelctl-settings (read by `modelctl deploy`);
 * 4. `warmerOnly`: only the namespace, the models ConfigMap and the agent (no Knative object): `make deploy-warmer`.
 * @throws ConfigError naming the bad override or config field
 */
export function renderInstall(params: {
  objects: readonly Obj[];
  overrides: InstallOverrides;
  /** @default false */
  warmerOnly?: boolean;
}): { objects: Obj[]; notes: string[] } {
  const objects = structuredClone(params.objects) as Obj[];
  // 1.
  const config = overrideModelsConfig(objects, params.overrides);
  // 2.
  for (const o of objects) applyConfig(o, config);
  // 3.
  const uri = params.overrides.MLFLOW_TRACKING_URI?.trim();
  if (uri) objects.push(settingsConfigMap(uri));
  const notes: string[] = [];
  if (params.overrides.HF_TOKEN) {
    notes.push(`HF_TOKEN is set: make deploy creates Secret ${NAMESPACE}/modelctl-hf-token from it (never printed)`);
  }
  // 4.
  return { objects: params.warmerOnly ? objects.filter(isWarmerObject) : objects, notes };
}

/** Writes the overrides into the models ConfigMap among `objects` and returns the config it now holds. */
function overrideModelsConfig(objects: Obj[], overrides: InstallOverrides): ModelsConfig {
  const modelsMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === MODELS_CONFIG_MAP_NAME);
  if (!modelsMap) throw new ConfigError(`no ConfigMap ${MODELS_CONFIG_MAP_NAME} in the rendered overlay`);
  const yamlText = applyOverrides(String(modelsMap.data?.[MODELS_CONFIG_KEY] ?? ''), overrides);
  modelsMap.data = { ...modelsMap.data, [MODELS_CONFIG_KEY]: yamlText };
  return parseModelsConfig(yamlText);
}

/** The config's settings on one object: image prefix on all, cache paths on the agent, schedule on warm's ping. */
function applyConfig(o: Obj, config: ModelsConfig): void {
  setImages(o, config.imageProxy);
  if (o.kind === 'DaemonSet' && o.metadata?.name === AGENT) setAgentFromConfig(o, config);
  if (o.kind === 'PingSource' && o.metadata?.name === WARM_PING)
    o.spec.schedule = cronEvery(config.checkIntervalSeconds);
}

/** Writes the overrides into the models yaml, keeping its comments and key order. */
function applyOverrides(yamlText: string, overrides: InstallOverrides): string {
  const doc = parseDocument(yamlText);
  if (!isMap(doc.contents) && doc.contents !== null) throw new ConfigError(`${MODELS_CONFIG_KEY}: not a mapping`);
  const set = (key: string, value: unknown): void => {
    doc.set(key, value);
  };
  if (overrides.IMAGE_PROXY?.trim()) set('imageProxy', overrides.IMAGE_PROXY.trim().replace(/\/+$/, ''));
  if (overrides.CHECK_INTERVAL_SECONDS !== undefined && overrides.CHECK_INTERVAL_SECONDS !== '') {
    set('checkIntervalSeconds', seconds('CHECK_INTERVAL_SECONDS', overrides.CHECK_INTERVAL_SECONDS));
  }
  if (overrides.CONFIG_READ_RETRY_DELAY_SECONDS !== undefined && overrides.CONFIG_READ_RETRY_DELAY_SECONDS !== '') {
    set(
      'configReadRetryDelaySeconds',
      seconds('CONFIG_READ_RETRY_DELAY_SECONDS', overrides.CONFIG_READ_RETRY_DELAY_SECONDS),
    );
  }
  return doc.toString();
}

function seconds(name: string, value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) <= 0) {
    throw new ConfigError(`${name}=${value}: must be a whole number of seconds above 0`);
  }
  return Number(value);
}

/** `modelctl` images (the base's name, any tag) pulled through `imageProxy` when set. */
function setImages(o: Obj, imageProxy: string | undefined): void {
  const spec = podSpecOf(o);
  if (!spec || imageProxy === undefined) return;
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])] as Obj[]) {
    if (typeof c.image === 'string' && /^modelctl(:|@|$)/.test(c.image)) c.image = `${imageProxy}/${c.image}`;
  }
}

/** The pod spec of a workload object (a CronJob's is one level deeper), if it has one. */
function podSpecOf(o: Obj): Obj | undefined {
  return o.kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template?.spec : o.spec?.template?.spec;
}

/** The agent reads and writes `<nodeHostPath>/<cachePath>` on the node, mounted at the same path. */
function setAgentFromConfig(daemonSet: Obj, config: ModelsConfig): void {
  const spec = daemonSet.spec.template.spec as Obj;
  const cacheDir = path.posix.join(config.nodeHostPath, config.cachePath);
  const volume = (spec.volumes as Obj[]).find((v) => v.name === 'node-cache');
  if (!volume) throw new ConfigError('DaemonSet modelctl-agent: no node-cache volume');
  volume.hostPath = { ...volume.hostPath, path: config.nodeHostPath };
  const container = (spec.containers as Obj[])[0]!;
  for (const m of container.volumeMounts as Obj[]) if (m.name === 'node-cache') m.mountPath = config.nodeHostPath;
  setEnv(container, 'HF_HUB_CACHE', cacheDir);
  // resume state and the ownership ledger live beside the cache, never in it
  setEnv(container, 'AGENT_STATE_DIR', path.posix.join(path.posix.dirname(cacheDir), '.modelctl-agent'));
  spec.affinity = { nodeAffinity: gpuNodeAffinity(config.excludeGpuTypes) };
}

function setEnv(container: Obj, name: string, value: string): void {
  const env = (container.env ??= []) as Obj[];
  const found = env.find((e) => e.name === name);
  if (found) found.value = value;
  else env.push({ name, value });
}

/** GPU nodes only (either label), minus the GPU types the config excludes. Terms are ORed. */
function gpuNodeAffinity(excluded: readonly string[]): Obj {
  const terms = GPU_LABELS.map((key) => ({
    matchExpressions: [
      { key, operator: 'Exists' },
      ...(excluded.length > 0 ? [{ key, operator: 'NotIn', values: [...excluded] }] : []),
    ],
  }));
  return { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } };
}

/** A cron schedule firing about every `seconds` (PingSource takes cron; its finest step is a minute). */
export function cronEvery(seconds: number): string {
  const minutes = Math.max(1, Math.round(seconds / 60));
  if (minutes < 60) return minutes === 1 ? '* * * * *' : `*/${minutes} * * * *`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return hours === 1 ? '7 * * * *' : `7 */${hours} * * *`;
  return '7 0 * * *';
}

function settingsConfigMap(uri: string): Obj {
  if (!/^https?:\/\//.test(uri) || /^[a-z]+:\/\/[^/@]*@/i.test(uri)) {
    throw new ConfigError(
      'MLFLOW_TRACKING_URI: must be an http(s) URL without user:password@ (credentials go in a Secret)',
    );
  }
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: CLUSTER_SETTINGS_CONFIG_MAP,
      namespace: NAMESPACE,
      labels: { 'app.kubernetes.io/part-of': 'modelctl', 'app.kubernetes.io/component': 'config' },
    },
    data: { [TRACKING_URI_KEY]: uri },
  };
}

/** What the warmer alone needs: its namespace, the models ConfigMap, the agent and its RBAC. */
function isWarmerObject(o: Obj): boolean {
  if (o.kind === 'Namespace') return true;
  if (o.kind === 'ConfigMap' && o.metadata?.name === MODELS_CONFIG_MAP_NAME) return true;
  return o.metadata?.labels?.['app.kubernetes.io/component'] === 'agent';
}
