import { setTimeout as delay } from 'node:timers/promises';
import { parseModelsConfigMapData } from '../../shared/config/models-config.js';
import { createHttpApp } from '../../shared/http/create-http-app.js';
import { startHttpServer } from '../../shared/http/start-http-server.js';
import type { HubAccess } from '../../shared/hub/hub-fetch.js';
import type { ConfigMapRecord } from '../../shared/k8s/config-map-record.js';
import { createRestEventRecorder } from '../../shared/k8s/kube-rest-events.js';
import type { InClusterEnv } from '../../shared/k8s/kube-rest-access.js';
import { loadKubeRest, type KubeRest } from '../../shared/k8s/kube-rest.js';
import { createNodeLabels } from '../../shared/k8s/node-labels.js';
import { readConfigMap, watchConfigMap } from '../../shared/k8s/watch-config-map.js';
import type { Logger } from '../../shared/log/create-logger.js';
import { createMetricsRegistry } from '../../shared/metrics/registry.js';
import { PLAN_KEY, parsePlan } from '../../shared/plan/plan.js';
import { createAgentMetrics } from './agent-metrics.js';
import { NodeAgent, type AgentInputs } from './node-agent.js';
import { readConfigFile } from './run-once.js';
import { gpuTypesFromLabels } from './select-models.js';
import { listServingSnapshots } from './list-serving-pods.js';

/** The DaemonSet mode's settings, mapped from the agent's env in index.ts (names in the comments). */
export interface AgentLoopSettings {
  /** NODE_NAME (downward API spec.nodeName); required */
  nodeName: string | undefined;
  /** KUBECONFIG; else the in-cluster ServiceAccount at `inCluster` */
  kubeconfigPath: string | undefined;
  inCluster: InClusterEnv;
  /** GPU_TYPE: instead of the Node's labels; GPU_TYPE_LABEL: an extra label to read first */
  gpuType: string | undefined;
  gpuTypeLabel: string | undefined;
  /** HF_HUB_CACHE, AGENT_STATE_DIR: overrides of the plan's folders */
  cacheDir: string | undefined;
  stateDir: string | undefined;
  /** AGENT_CONCURRENCY, AGENT_EVICTION_GRACE_SECONDS, READY_LABEL_PREFIX */
  concurrency: number;
  evictionGraceSeconds: number;
  readyLabelPrefix: string;
  /** POD_NAMESPACE: where the plan and models ConfigMaps are, and the Events go */
  namespace: string;
  /** PLAN_CONFIG_MAP, MODELS_CONFIG_MAP */
  planConfigMap: string;
  modelsConfigMap: string;
  /** MODELS_CONFIG: the fallback config file */
  modelsConfigFile: string | undefined;
  /** METRICS_PORT (0: none), AGENT_START_JITTER_SECONDS */
  metricsPort: number;
  startJitterSeconds: number;
}

/**
 * The DaemonSet mode: reads this Node's GPU labels, watches the plan ConfigMap (falling back to the raw models
 * ConfigMap, then to `MODELS_CONFIG`), serves metrics, and runs the {@link NodeAgent} until `signal` aborts.
 * An input that cannot be read or parsed keeps the last good one and is read again every
 * `configReadRetryDelaySeconds`.
 */
export async function runAgentLoop(params: {
  settings: AgentLoopSettings;
  access: HubAccess;
  signal: AbortSignal;
  log: Logger;
}): Promise<void> {
  const { settings, log, signal } = params;
  if (!settings.nodeName)
    throw new Error('NODE_NAME: required in a cluster (downward API spec.nodeName); use --once without one');
  const { nodeName } = settings;
  // a small REST client, not client-node: its generated API alone would be ~60 MB of the agent's RSS
  const rest = await loadKubeRest({ kubeconfigPath: settings.kubeconfigPath, env: settings.inCluster });
  const nodes = createNodeLabels(rest);
  const node = await nodes.read(nodeName);
  const gpuTypes = settings.gpuType ? [settings.gpuType] : gpuTypesFromLabels(node.labels, settings.gpuTypeLabel);
  log.info(
    { node: nodeName, gpuTypes },
    gpuTypes.length > 0 ? 'GPU types from the node' : 'no GPU label on the node: only ["ALL"] models',
  );
  const registry = createMetricsRegistry('agent');
  const metrics = createAgentMetrics(registry);
  const agent = new NodeAgent({
    nodeName,
    gpuTypes,
    access: params.access,
    cacheDirOverride: settings.cacheDir,
    stateDirOverride: settings.stateDir,
    concurrency: settings.concurrency,
    evictionGraceSeconds: settings.evictionGraceSeconds,
    labelPrefix: settings.readyLabelPrefix,
    nodes,
    recordEvent: createRestEventRecorder({ rest, component: 'modelctl-agent', instance: nodeName }),
    eventNamespace: settings.namespace,
    metrics,
    // a model Ready pods on this node serve is never evicted (dropped from the plan, or under disk pressure)
    listServing: () => listServingSnapshots(rest, nodeName),
    log,
  });
  const server = settings.metricsPort > 0 ? await startMetricsServer(settings.metricsPort, registry, log) : undefined;
  if (settings.modelsConfigFile) {
    const file = await readConfigFile(settings.modelsConfigFile).catch((err: unknown) => {
      log.error({ err }, 'models config file unreadable');
      return null;
    });
    agent.setInput('file', file);
  }
  const stopWatches = watchInputs({ settings, rest, agent, log });
  try {
    // spread a fleet's first Hub requests (a DaemonSet rollout starts every agent at once)
    await delay(Math.random() * settings.startJitterSeconds * 1000, undefined, { signal }).catch(() => undefined);
    await agent.run(signal);
  } finally {
    await stopWatches();
    await server?.close();
    await rest.close();
  }
}

/** Watches the plan and the models ConfigMaps and feeds the agent; a bad one keeps the last good input. */
function watchInputs(params: {
  settings: AgentLoopSettings;
  rest: KubeRest;
  agent: NodeAgent;
  log: Logger;
}): () => Promise<void> {
  const { settings, rest, agent, log } = params;
  const retryMs = (): number => (agent.settings()?.configReadRetryDelaySeconds ?? 60) * 1000;
  const timers = new Set<NodeJS.Timeout>();
  const feed = <K extends 'plan' | 'configMap'>(
    key: K,
    name: string,
    parse: (cm: ConfigMapRecord) => AgentInputs[K],
  ) => {
    const apply = (cm: ConfigMapRecord | null): void => {
      if (cm === null) {
        log.info({ configMap: name }, 'input removed');
        agent.setInput(key, null);
        return;
      }
      try {
        agent.setInput(key, parse(cm));
        log.info({ configMap: name, resourceVersion: cm.resourceVersion }, 'input applied');
      } catch (err) {
        log.error({ configMap: name, err }, 'input unreadable: keeping the last good one, reading again later');
        const timer = setTimeout(() => {
          timers.delete(timer);
          readConfigMap(rest, settings.namespace, name).then(apply, (e: unknown) =>
            log.error({ err: e }, 'input read failed'),
          );
        }, retryMs());
        timers.add(timer);
      }
    };
    return watchConfigMap({
      rest,
      namespace: settings.namespace,
      name,
      onChange: apply,
      onError: (err) => log.warn({ configMap: name, err }, 'watch broken: restarting'),
      retryDelayMs: 5000,
    });
  };
  const watches = [
    feed('plan', settings.planConfigMap, (cm) => parsePlan(cm.data[PLAN_KEY] ?? '')),
    feed('configMap', settings.modelsConfigMap, (cm) => parseModelsConfigMapData(cm.data)),
  ];
  return async () => {
    for (const t of timers) clearTimeout(t);
    await Promise.all(watches.map((w) => w.stop()));
  };
}

async function startMetricsServer(port: number, registry: ReturnType<typeof createMetricsRegistry>, log: Logger) {
  const app = createHttpApp({ log, registry, role: 'agent', state: { isReady: () => true, isDraining: () => false } });
  return startHttpServer({ handler: app, port, log, drainTimeoutMs: 1000 });
}
