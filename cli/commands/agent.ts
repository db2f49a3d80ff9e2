import type { Command } from 'commander';
import { addEnvOptions, envFromOptions, type EnvOption } from '../env-options.js';

const OPTIONS: readonly EnvOption[] = [
  { flag: '--once', env: 'AGENT_ONCE', description: 'one pass over --config, then exit (no cluster)' },
  {
    flag: '--config <file>',
    env: 'MODELS_CONFIG',
    description: 'models config yaml (input of --once; fallback in a cluster when no plan exists)',
  },
  {
    flag: '--cache-dir <dir>',
    env: 'HF_HUB_CACHE',
    description: 'the Hugging Face cache to fill',
    defaultText: '<nodeHostPath>/<cachePath> of the config',
  },
  {
    flag: '--gpu-type <type>',
    env: 'GPU_TYPE',
    description: 'take the models for this GPU type (case-insensitive); --once without it takes all',
    defaultText: "the Node's GPU labels",
  },
  {
    flag: '--gpu-type-label <key>',
    env: 'GPU_TYPE_LABEL',
    description:
      'extra Node label holding the GPU type, read before nvidia.com/gpu.product and cloud.google.com/gke-accelerator',
  },
  { flag: '--node-name <name>', env: 'NODE_NAME', description: 'this Node (downward API in the DaemonSet)' },
  {
    flag: '--namespace <ns>',
    env: 'POD_NAMESPACE',
    description: 'namespace of the plan and models ConfigMaps',
    defaultText: 'default',
  },
  {
    flag: '--kubeconfig <file>',
    env: 'KUBECONFIG',
    description: 'cluster credentials',
    defaultText: 'in-cluster service account',
  },
  {
    flag: '--plan-config-map <name>',
    env: 'PLAN_CONFIG_MAP',
    description: 'ConfigMap holding the plan',
    defaultText: 'modelctl-plan',
  },
  {
    flag: '--models-config-map <name>',
    env: 'MODELS_CONFIG_MAP',
    description: 'raw models ConfigMap, used when no plan exists',
    defaultText: 'modelctl-models',
  },
  {
    flag: '--state-dir <dir>',
    env: 'AGENT_STATE_DIR',
    description: 'resume records and what the agent wrote (outside the cache)',
    defaultText: '<cache parent>/.modelctl-agent',
  },
  { flag: '--concurrency <n>', env: 'AGENT_CONCURRENCY', description: 'files downloaded at once', defaultText: '8' },
  {
    flag: '--eviction-grace <seconds>',
    env: 'AGENT_EVICTION_GRACE_SECONDS',
    description: 'keep a model removed from the plan this long',
    defaultText: '3600',
  },
  {
    flag: '--start-jitter <seconds>',
    env: 'AGENT_START_JITTER_SECONDS',
    description: "spread a fleet's first Hub requests",
    defaultText: '30',
  },
  {
    flag: '--ready-label-prefix <prefix>',
    env: 'READY_LABEL_PREFIX',
    description: 'prefix of the per-model ready Node labels',
    defaultText: 'models.modelctl.dev',
  },
  {
    flag: '--metrics-port <port>',
    env: 'METRICS_PORT',
    description: 'metrics and health port (0: none)',
    defaultText: '9090',
  },
  { flag: '--log-level <level>', env: 'LOG_LEVEL', description: 'pino level', defaultText: 'info' },
];

/** `modelctl agent`: keep this node's Hugging Face cache warm (DaemonSet), or one pass with --once. */
export function registerAgentCommand(program: Command): void {
  const cmd = program
    .command('agent')
    .description(
      "keep the node's Hugging Face cache warm: download the plan's models for this GPU type, guard disk, evict, report",
    )
    .addHelpText(
      'after',
      '\nAlso read: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (from a Secret; never logged, never sent to the CDN).\n' +
        'Exit codes (--once): 0 when every model is ready, 1 when one failed or the config is bad (one line says why).',
    );
  addEnvOptions(cmd, OPTIONS).action(async (opts: Record<string, unknown>) => {
    // imported when the command runs: `modelctl --help` and the other roles stay light
    const { runAgent } = await import('../../functions/agent/index.js');
    await runAgent(envFromOptions(opts, OPTIONS));
  });
}
