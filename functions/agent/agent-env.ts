import { z } from 'zod';
import { HubEnv } from '../../shared/hub/hub-env.js';
import { LogEnv } from '../../shared/config/env-fragments.js';

const Bool = z.stringbool().default(false);

/**
 * The agent's settings. The models config's values (nodeHostPath, cachePath, checkIntervalSeconds,
 * configReadRetryDelaySeconds, minFreeSpaceGB) come from the plan or the config file, not from here;
 * `HF_HUB_CACHE` overrides `<nodeHostPath>/<cachePath>` (it is what `--cache-dir` sets).
 */
export const AgentEnv = z.object({
  /** one pass over the config file, then exit (no cluster) */
  AGENT_ONCE: Bool,
  /** the models config (yaml): the input of `--once`, the fallback in a cluster when no plan exists */
  MODELS_CONFIG: z.string().min(1).optional(),
  HF_HUB_CACHE: z.string().min(1).optional(),
  ...HubEnv,
  /** filter models for this GPU type instead of reading the Node's labels */
  GPU_TYPE: z.string().min(1).optional(),
  /** an extra Node label holding the GPU type, read before the NVIDIA and GKE ones */
  GPU_TYPE_LABEL: z.string().min(1).optional(),
  NODE_NAME: z.string().min(1).optional(),
  POD_NAMESPACE: z.string().min(1).default('default'),
  KUBECONFIG: z.string().min(1).optional(),
  /** set by the kubelet in every container: the in-cluster API server when there is no kubeconfig */
  KUBERNETES_SERVICE_HOST: z.string().min(1).optional(),
  KUBERNETES_SERVICE_PORT: z.string().min(1).optional(),
  PLAN_CONFIG_MAP: z.string().min(1).default('modelctl-plan'),
  MODELS_CONFIG_MAP: z.string().min(1).default('modelctl-models'),
  /** resume records and the ownership ledger; outside HF_HUB_CACHE @default <parent of the cache>/.modelctl-agent */
  AGENT_STATE_DIR: z.string().min(1).optional(),
  AGENT_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  /** how long a model removed from the plan stays before it is deleted */
  AGENT_EVICTION_GRACE_SECONDS: z.coerce.number().int().min(0).default(3600),
  /** spread a fleet's first Hub requests over this many seconds */
  AGENT_START_JITTER_SECONDS: z.coerce.number().min(0).default(30),
  /** prefix of the per-model ready labels on the Node */
  READY_LABEL_PREFIX: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS subdomain')
    .max(200)
    .default('models.modelctl.dev'),
  /** metrics and health port (0 disables) */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9090),
  ...LogEnv,
});
export type AgentEnv = z.output<typeof AgentEnv>;
