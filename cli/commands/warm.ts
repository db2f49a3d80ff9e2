import type { Command } from 'commander';
import { addEnvOptions, envFromOptions, type EnvOption } from '../env-options.js';

const OPTIONS: readonly EnvOption[] = [
  {
    flag: '-p, --port <port>',
    env: 'PORT',
    description: 'HTTP port (Knative sets PORT; FUNC_PORT wins)',
    defaultText: '8080',
  },
  { flag: '--host <host>', env: 'HOST', description: 'listen address', defaultText: '0.0.0.0' },
  {
    flag: '--namespace <ns>',
    env: 'POD_NAMESPACE',
    description: 'namespace of the models ConfigMap and the plan',
    defaultText: "the pod's",
  },
  {
    flag: '--models-config-map <name>',
    env: 'MODELS_CONFIG_MAP',
    description: 'ConfigMap holding models.yaml',
    defaultText: 'modelctl-models',
  },
  {
    flag: '--plan-config-map <name>',
    env: 'PLAN_CONFIG_MAP',
    description: 'ConfigMap the plan is published in (plan.json)',
    defaultText: 'modelctl-plan',
  },
  {
    flag: '--hub <url>',
    env: 'HF_ENDPOINT',
    description: 'Hugging Face Hub endpoint',
    defaultText: 'https://huggingface.co',
  },
  {
    flag: '--kubeconfig <file>',
    env: 'KUBECONFIG',
    description: 'kubeconfig file',
    defaultText: 'in-cluster / ~/.kube/config',
  },
  { flag: '--concurrency <n>', env: 'WARM_CONCURRENCY', description: 'models resolved at once', defaultText: '4' },
  {
    flag: '--hub-max-retries <n>',
    env: 'HUB_MAX_RETRIES',
    description: 'retries of a 429/5xx Hub answer',
    defaultText: '3',
  },
  {
    flag: '--drain-seconds <s>',
    env: 'DRAIN_TIMEOUT_SECONDS',
    description: 'on SIGTERM, time to finish in-flight events',
    defaultText: '30',
  },
  { flag: '--log-level <level>', env: 'LOG_LEVEL', description: 'pino level', defaultText: 'info' },
];

/** `modelctl warm`: the Knative function that turns the models ConfigMap into the plan the agents download. */
export function registerWarmCommand(program: Command): void {
  // `func deploy` sets no container args: MODELCTL_ROLE=warm (func.yaml) makes warm the default command
  const cmd = program
    .command('warm', { isDefault: process.env.MODELCTL_ROLE === 'warm' })
    .description(
      'serve the warm function: CloudEvents from an ApiServerSource (models ConfigMap, mode Resource) and a PingSource; ' +
        'validates models.yaml, pins each revision to a commit once, publishes the plan ConfigMap',
    )
    .addHelpText(
      'after',
      '\nAlso read: HF_TOKEN (from a Secret; sent to the Hub only, never logged).\n' +
        'Replies with a dev.modelctl.warm.planned CloudEvent; invalid config → Warning Event on the ConfigMap, 200, plan kept.\n' +
        'Exit codes: 0 after a graceful drain on SIGTERM/SIGINT, 1 on a bad setting (one line says which).',
    );
  addEnvOptions(cmd, OPTIONS).action(async (opts: Record<string, unknown>) => {
    // imported when the command runs: `modelctl --help` and the other roles stay light
    const { runWarm } = await import('../../functions/warm/index.js');
    await runWarm(envFromOptions(opts, OPTIONS));
  });
}
