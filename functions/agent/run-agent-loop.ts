import { setTimeout as delay } from 'node:timers/promises';
import { parseModelsConfigMapData } from '../../shared/config/models-config.js';
import { createHttpApp } from '../../shared/http/create-http-app.js';
import { startHttpServer } from '../../shared/http/start-http-server.js';
import type { HubAccess } from '../../shared/hub/hub-fetch.js';
import type { ConfigMapRecord } from '../../shared/k8s/config-map-record.js';
import { createRestEventRecorder } from '../../shared/k8s/kube-rest-events.js';
import { loadKubeRest, type KubeRest } from '../../shared/k8s/kube-rest.js';
import { createNodeLabels } from '../../shared/k8s/node-labels.js';
import { readConfigMap, watchConfigMap } from '../../shared/k8s/watch-config-map.js';
import type { Logger } from '../../shared/log/create-logger.js';
import { createMetricsRegistry } from '../../shared/metrics/registry.js';
import { PLAN_KEY, parsePlan } from '../../shared/plan/plan.js';
import type { AgentEnv } from './agent-env.js';
import { createAgentMetrics } from './agent-metrics.js';
import { NodeAgent, type AgentInputs } from './node-agent.js';
import { readConfigFile } from './run-once.js';
import { gpuTypesFromLabels } from './select-models.js';
import { listServingSnapshots } from './list-serving-pods.js';

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
  // a small REST client, not client-node: its generated API alone would be ~60 MB of the agent's RSS
  const rest = await loadKubeRest({ kubeconfigPath: config.KUBECONFIG, env: config });
  const nodes = createNodeLabels(rest);
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
    recordEvent: createRestEventRecorder({ rest, component: 'modelctl-agent', instance: nodeName }),
    eventNamespace: config.POD_NAMESPACE,
    metrics,
    // a model Ready pods on this node serve is never evicted (dropped from the plan, or under disk pressure)
    listServing: () => listServingSnapshots(rest, nodeName),
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
  const stopWatches = watchInputs({ config, rest, agent, log });
  try {
    // spread a fleet's first Hub requests (a DaemonSet rollout starts every agent at once)
    await delay(Math.random() * config.AGENT_START_JITTER_SECONDS * 1000, undefined, { signal }).catch(() => undefined);
    await agent.run(signal);
  } finally {
    await stopWatches();
    await server?.close();
    await rest.close();
  }
}

/** Watches the plan and the models ConfigMaps and feeds the agent; a bad one keeps the last good input. */
function watchInputs(params: { config: AgentEnv; rest: KubeRest; agent: NodeAgent; log: Logger }): () => Promise<void> {
  const { config, rest, agent, log } = params;
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
          readConfigMap(rest, config.POD_NAMESPACE, name).then(apply, (e: unknown) =>
            log.error({ err: e }, 'input read failed'),
          );
        }, retryMs());
        timers.add(timer);
      }
    };
    return watchConfigMap({
      rest,
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
