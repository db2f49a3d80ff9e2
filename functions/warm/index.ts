import { z } from 'zod';
import { MODELS_CONFIG_MAP_NAME } from '../../shared/config/models-config.js';
import { parseEnv } from '../../shared/config/parse-env.js';
import { exitOnSignals, exitWithError, podNamespace } from '../../shared/process/role-process.js';
import { HubEnv } from '../../shared/hub/hub-env.js';
import { createConfigMaps } from '../../shared/k8s/config-maps.js';
import { loadKubeConfig } from '../../shared/k8s/load-kube-config.js';
import { createEventRecorder } from '../../shared/k8s/record-event.js';
import { createLogger } from '../../shared/log/create-logger.js';
import { createMetricsRegistry } from '../../shared/metrics/registry.js';
import { PLAN_CONFIG_MAP_NAME } from '../../shared/plan/plan.js';
import { startWarm } from './start-warm.js';
import { createWarmMetrics } from './warm-metrics.js';
import { DrainEnv, FunctionListenEnv, LogEnv } from '../../shared/config/env-fragments.js';

/** The warm function's settings (names shared with the agent: POD_NAMESPACE, HF_ENDPOINT, HF_TOKEN, …). */
const WarmEnv = z.object({
  ...FunctionListenEnv,
  /** namespace of the models ConfigMap and of the plan @default the pod's own namespace */
  POD_NAMESPACE: z.string().min(1).optional(),
  MODELS_CONFIG_MAP: z.string().min(1).default(MODELS_CONFIG_MAP_NAME),
  PLAN_CONFIG_MAP: z.string().min(1).default(PLAN_CONFIG_MAP_NAME),
  ...HubEnv,
  KUBECONFIG: z.string().min(1).optional(),
  /** models resolved at once */
  WARM_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /** retries of a transient Hub failure (429, 5xx) per request */
  HUB_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(3),
  ...DrainEnv,
  ...LogEnv,
});
export type WarmEnv = z.output<typeof WarmEnv>;

/**
 * Entry of `modelctl warm`: parse env (flags laid over it), connect to the API server, serve CloudEvents,
 * drain on SIGTERM/SIGINT and exit 0. A bad setting exits 1 with one line per variable.
 */
export async function runWarm(overrides: Record<string, string> = {}): Promise<void> {
  let env: WarmEnv;
  let namespace: string;
  try {
    env = parseEnv(WarmEnv, { ...process.env, ...overrides });
    namespace =
      env.POD_NAMESPACE ?? podNamespace('POD_NAMESPACE', 'the namespace of the models ConfigMap and the plan');
  } catch (err) {
    exitWithError('warm', err);
  }
  const log = createLogger({ name: 'warm', level: env.LOG_LEVEL });
  const registry = createMetricsRegistry('warm');
  const kc = loadKubeConfig({ kubeconfigPath: env.KUBECONFIG });
  const server = await startWarm({
    deps: {
      configMaps: createConfigMaps(kc),
      recordEvent: createEventRecorder({
        kc,
        component: 'modelctl-warm',
        instance: process.env.HOSTNAME ?? 'modelctl-warm',
      }),
      hub: { hubUrl: env.HF_ENDPOINT, token: env.HF_TOKEN, userAgent: 'modelctl-warm' },
      metrics: createWarmMetrics(registry),
      namespace,
      modelsConfigMap: env.MODELS_CONFIG_MAP,
      planConfigMap: env.PLAN_CONFIG_MAP,
      concurrency: env.WARM_CONCURRENCY,
      retry: { maxRetries: env.HUB_MAX_RETRIES },
    },
    registry,
    log,
    port: env.FUNC_PORT ?? env.PORT,
    host: env.HOST,
    drainTimeoutMs: env.DRAIN_TIMEOUT_SECONDS * 1000,
  });
  log.info(
    {
      port: server.port,
      namespace,
      modelsConfigMap: env.MODELS_CONFIG_MAP,
      planConfigMap: env.PLAN_CONFIG_MAP,
      hub: env.HF_ENDPOINT,
    },
    'warm listening',
  );
  exitOnSignals({ close: server.close, log });
}
