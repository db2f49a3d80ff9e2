import { parseEnv } from '../../shared/config/parse-env.js';
import { exitWithError } from '../../shared/process/role-process.js';
import { addSecretValues, createLogger } from '../../shared/log/create-logger.js';
import { AgentEnv, type AgentEnv as AgentConfig } from './agent-env.js';
import type { AgentLoopSettings } from './run-agent-loop.js';
import { runOnce } from './run-once.js';

/**
 * Entry of `modelctl agent`: `--once` runs one pass over a config file and exits (0 when every model is
 * ready, 1 otherwise); without it, the DaemonSet loop (plan watch, interval checks, node status).
 */
export async function runAgent(overrides: Record<string, string> = {}): Promise<void> {
  let config: AgentConfig;
  try {
    config = parseEnv(AgentEnv, { ...process.env, ...overrides });
  } catch (err) {
    exitWithError('agent', err);
  }
  // the token is scrubbed by value from every line, whatever a Hub echoes back and whatever its prefix
  addSecretValues([config.HF_TOKEN]);
  const log = createLogger({ name: 'agent', level: config.LOG_LEVEL });
  const access = { hubUrl: config.HF_ENDPOINT, token: config.HF_TOKEN, userAgent: 'modelctl-agent' };
  const controller = new AbortController();
  process.once('SIGTERM', () => controller.abort(new Error('SIGTERM')));
  process.once('SIGINT', () => controller.abort(new Error('SIGINT')));
  if (config.AGENT_ONCE) {
    if (!config.MODELS_CONFIG)
      exitWithError('agent', new Error('MODELS_CONFIG: required with --once (the models yaml: --config FILE)'));
    try {
      const { states } = await runOnce({
        configFile: config.MODELS_CONFIG,
        cacheDir: config.HF_HUB_CACHE,
        stateDir: config.AGENT_STATE_DIR,
        gpuType: config.GPU_TYPE ?? null,
        access,
        concurrency: config.AGENT_CONCURRENCY,
        signal: controller.signal,
        log,
      });
      const failed = states.filter((s) => s.state !== 'ready');
      log.info(
        { ready: states.length - failed.length, failed: failed.map((s) => ({ repo: s.repo, code: s.errorCode })) },
        'warm pass done',
      );
      process.exit(failed.length === 0 ? 0 : 1);
    } catch (err) {
      exitWithError('agent', err);
    }
  }
  const { runAgentLoop } = await import('./run-agent-loop.js');
  try {
    await runAgentLoop({ settings: loopSettings(config), access, signal: controller.signal, log });
    process.exit(0);
  } catch (err) {
    exitWithError('agent', err);
  }
}

/** The env, mapped once onto the loop's camelCase settings. */
function loopSettings(config: AgentConfig): AgentLoopSettings {
  return {
    nodeName: config.NODE_NAME,
    kubeconfigPath: config.KUBECONFIG,
    inCluster: {
      KUBERNETES_SERVICE_HOST: config.KUBERNETES_SERVICE_HOST,
      KUBERNETES_SERVICE_PORT: config.KUBERNETES_SERVICE_PORT,
    },
    gpuType: config.GPU_TYPE,
    gpuTypeLabel: config.GPU_TYPE_LABEL,
    cacheDir: config.HF_HUB_CACHE,
    stateDir: config.AGENT_STATE_DIR,
    concurrency: config.AGENT_CONCURRENCY,
    evictionGraceSeconds: config.AGENT_EVICTION_GRACE_SECONDS,
    readyLabelPrefix: config.READY_LABEL_PREFIX,
    namespace: config.POD_NAMESPACE,
    planConfigMap: config.PLAN_CONFIG_MAP,
    modelsConfigMap: config.MODELS_CONFIG_MAP,
    modelsConfigFile: config.MODELS_CONFIG,
    metricsPort: config.METRICS_PORT,
    startJitterSeconds: config.AGENT_START_JITTER_SECONDS,
  };
}
