import type { Command } from 'commander';
import { addEnvOptions, envFromOptions, type EnvOption } from '../env-options.js';

const OPTIONS: readonly EnvOption[] = [
  { flag: '--once', env: 'CLEANUP_ONCE', description: 'one pass, print the summary as JSON, exit (for a CronJob)' },
  { flag: '--cache-path <dir>', env: 'CACHE_PATH', description: 'the shared PVC cache', defaultText: '/model-cache' },
  {
    flag: '--namespace <ns>',
    env: 'NAMESPACE',
    description: 'namespace of the pods that use the cache',
    defaultText: "the pod's",
  },
  { flag: '--ttl-days <days>', env: 'TTL_DAYS', description: 'remove entries unused for longer', defaultText: '7' },
  {
    flag: '--max-size-gb <gb>',
    env: 'MAX_SIZE_GB',
    description: 'then remove least recently used entries down to this size in GiB (0 = unlimited)',
    defaultText: '0',
  },
  { flag: '--dry-run', env: 'DRY_RUN', description: 'report what would be removed, remove nothing' },
  {
    flag: '-p, --port <port>',
    env: 'PORT',
    description: 'HTTP port of the function (Knative sets PORT)',
    defaultText: '8080',
  },
  { flag: '--host <host>', env: 'HOST', description: 'listen address', defaultText: '0.0.0.0' },
  {
    flag: '--kubeconfig <file>',
    env: 'KUBECONFIG',
    description: 'kubeconfig file',
    defaultText: 'in-cluster / ~/.kube/config',
  },
  { flag: '--log-level <level>', env: 'LOG_LEVEL', description: 'pino level', defaultText: 'info' },
];

/** `modelctl cleanup`: evict shared-cache entries by TTL and size, never one in use or being written. */
export function registerCleanupCommand(program: Command): void {
  // `func deploy` sets no container args: MODELCTL_ROLE=cleanup (func.yaml) makes cleanup the default command
  const cmd = program
    .command('cleanup', { isDefault: process.env.MODELCTL_ROLE === 'cleanup' })
    .description(
      'evict shared PVC cache entries unused for TTL_DAYS, then the least recently used down to MAX_SIZE_GB; never one used by ' +
        'an active pod in NAMESPACE or locked by a running fetch. Serves a PingSource function, or runs once with --once',
    )
    .addHelpText(
      'after',
      '\nReplies (function) or prints (--once) a summary: entries and bytes removed/kept and why.\n' +
        'Exit codes (--once): 0 after a pass, 1 when it failed or a setting is bad (one line says which).',
    );
  addEnvOptions(cmd, OPTIONS).action(async (opts: Record<string, unknown>) => {
    // imported when the command runs: `modelctl --help` and the other roles stay light
    const { runCleanupCommand } = await import('../../functions/cleanup/index.js');
    await runCleanupCommand(envFromOptions(opts, OPTIONS));
  });
}
