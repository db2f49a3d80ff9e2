import { setTimeout as delay } from 'node:timers/promises';
import { parseModelsConfigMapData } from '../../shared/config/models-config.js';
import { createHttpApp } from '../../shared/http/create-http-app.js';
import { startHttpServer } from '../../shared/http/start-http-server.js';
import type { HubAccess } from '../../shared/hub/hub-fetch.js';
import { createConfigMaps, type ConfigMapRecord } from '../../shared/k8s/config-maps.js';
import { loadKubeConfig } from '../../shared/k8s/load-kube-config.js';
import { createNodeLabels } from '../../shared/k8s/node-labels.js';
import { createEventRecorder } from '../../shared/k8s/record-event.js';
import { watchConfigMap } from '../../shared/k8s/watch-config-map.js';
import type { Logger } from '../../shared/log/create-logger.js';
import { createMetricsRegistry } from '../../shared/metrics/registry.js';
import { PLAN_KEY, parsePlan } from '../../shared/plan/plan.js';
import type { AgentEnv } from './agent-env.js';
import { createAgentMetrics } from './agent-metrics.js';
import { NodeAgent, type AgentInputs } from './node-agent.js';
import { readConfigFile } from './run-once.js';
import { gpuTypesFromLabels } from './select-models.js';

/**
 * The DaemonSet mode: reads this Node's GPU labels, watches the plan ConfigMap (falling back to the raw models
 * ConfigMap, then to `MODELS_CONFIG`), serves metrics, and runs the {@link NodeAgent} until `signal` aborts.
 * An input that cannot be read or parsed keeps the last good one and is read again every
 * `configReadRetryDelaySeconds`.
 */
export async function runAgentLoop(params: {
  config: AgentEnv;
  access: HubAccess;
  signal: AbortSignal;
  log: Logger;
}): Promise<void> {
  const { config, log, signal } = params;
  if (!config.NODE_NAME)
    throw new Error('NODE_NAME: required in a cluster (downward API spec.nodeName); use --once without one');
  const nodeName = config.NODE_NAME;
  const kc = loadKubeConfig({ kubeconfigPath: config.KUBECONFIG });
  const nodes = createNodeLabels(kc);
  const node = await nodes.read(nodeName);
  const gpuTypes = config.GPU_TYPE ? [config.GPU_TYPE] : gpuTypesFromLabels(node.labels, config.GPU_TYPE_LABEL);
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
    cacheDirOverride: config.HF_HUB_CACHE,
    stateDirOverride: config.AGENT_STATE_DIR,
    concurrency: config.AGENT_CONCURRENCY,
    evictionGraceSeconds: config.AGENT_EVICTION_GRACE_SECONDS,
    labelPrefix: config.READY_LABEL_PREFIX,
    nodes,
    recordEvent: createEventRecorder({ kc, component: 'modelctl-agent', instance: nodeName }),
    eventNamespace: config.POD_NAMESPACE,
    metrics,
    log,
  });
  const server = config.METRICS_PORT > 0 ? await startMetricsServer(config.METRICS_PORT, registry, log) : undefined;
  if (config.MODELS_CONFIG) {
    const file = await readConfigFile(config.MODELS_CONFIG).catch((err: unknown) => {
      log.error({ err }, 'models config file unreadable');
      return null;
    });
    agent.setInput('file', file);
  }
  const stopWatches = watchInputs({ config, kc, agent, log });
  try {
    // spread a fleet's first Hub requests (a DaemonSet rollout starts every agent at once)
    await delay(Math.random() * config.AGENT_START_JITTER_SECONDS * 1000, undefined, { signal }).catch(() => undefined);
    await agent.run(signal);
  } finally {
    await stopWatches();
    await server?.close();
  }
}

/** Watches the plan and the models ConfigMaps and feeds the agent; a bad one keeps the last good input. */
function watchInputs(params: {
  config: AgentEnv;
  kc: ReturnType<typeof loadKubeConfig>;
  agent: NodeAgent;
  log: Logger;
}): () => Promise<void> {
  const { config, kc, agent, log } = params;
  const configMaps = createConfigMaps(kc);
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
          configMaps
            .get(config.POD_NAMESPACE, name)
            .then(apply, (e: unknown) => log.error({ err: e }, 'input read failed'));
        }, retryMs());
        timers.add(timer);
      }
    };
    return watchConfigMap({
      kc,
      namespace: config.POD_NAMESPACE,
      name,
      onChange: apply,
      onError: (err) => log.warn({ configMap: name, err }, 'watch broken: restarting'),
      retryDelayMs: 5000,
    });
  };
  const watches = [
    feed('plan', config.PLAN_CONFIG_MAP, (cm) => parsePlan(cm.data[PLAN_KEY] ?? '')),
    feed('configMap', config.MODELS_CONFIG_MAP, (cm) => parseModelsConfigMapData(cm.data)),
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
