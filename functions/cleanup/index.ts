import path from 'node:path';
import { z } from 'zod';
import { parseEnv } from '../../shared/config/parse-env.js';
import { exitOnSignals, exitWithError, podNamespace } from '../../shared/process/role-process.js';
import { createPodLister } from '../../shared/k8s/list-pods.js';
import { loadKubeConfig } from '../../shared/k8s/load-kube-config.js';
import { createLogger } from '../../shared/log/create-logger.js';
import { createMetricsRegistry } from '../../shared/metrics/registry.js';
import { createCleanupMetrics } from './cleanup-metrics.js';
import { runPass, startCleanup } from './start-cleanup.js';
import { DrainEnv, FunctionListenEnv, LogEnv } from '../../shared/config/env-fragments.js';

/** The cleanup role's settings: the seed's names (CACHE_PATH, NAMESPACE, TTL_DAYS, MAX_SIZE_GB, DRY_RUN). */
const CleanupEnv = z.object({
  CACHE_PATH: z.string().min(1).default('/model-cache'),
  /** where the pods that use the cache run @default the pod's own namespace */
  NAMESPACE: z.string().min(1).optional(),
  TTL_DAYS: z.coerce.number().min(0).default(7),
  /** 0 = unlimited */
  MAX_SIZE_GB: z.coerce.number().min(0).default(0),
  DRY_RUN: z.stringbool().default(false),
  /** one pass, print the summary, exit (Kubernetes CronJob) */
  CLEANUP_ONCE: z.stringbool().default(false),
  ...FunctionListenEnv,
  KUBECONFIG: z.string().min(1).optional(),
  ...DrainEnv,
  ...LogEnv,
});
export type CleanupEnv = z.output<typeof CleanupEnv>;

/** The pod's namespace; in dry run, '' when there is none (the pass then says pods were not checked). */
function podNamespaceUnlessDryRun(dryRun: boolean): string {
  try {
    return podNamespace('NAMESPACE', 'the namespace of the pods that use the cache');
  } catch (err) {
    if (dryRun) return '';
    throw err;
  }
}

/**
 * Entry of `modelctl cleanup`: with `--once` (CLEANUP_ONCE) one pass whose summary is printed as JSON on
 * stdout (exit 0, or 1 when the pass fails); else the Knative function fired by a PingSource.
 */
export async function runCleanupCommand(overrides: Record<string, string> = {}): Promise<void> {
  let env: CleanupEnv;
  let namespace: string;
  try {
    env = parseEnv(CleanupEnv, { ...process.env, ...overrides });
    namespace = env.NAMESPACE ?? podNamespaceUnlessDryRun(env.DRY_RUN);
  } catch (err) {
    exitWithError('cleanup', err);
  }
  const log = createLogger({ name: 'cleanup', level: env.LOG_LEVEL, destination: process.stderr });
  const registry = createMetricsRegistry('cleanup');
  const metrics = createCleanupMetrics(registry);
  const settings = {
    cachePath: path.resolve(env.CACHE_PATH),
    namespace,
    ttlDays: env.TTL_DAYS,
    maxSizeGiB: env.MAX_SIZE_GB,
    dryRun: env.DRY_RUN,
  };
  const listPods = createPodLister(loadKubeConfig({ kubeconfigPath: env.KUBECONFIG }));
  if (env.CLEANUP_ONCE) {
    try {
      const summary = await runPass({ settings, listPods, metrics, log });
      process.stdout.write(`${JSON.stringify(summary)}\n`);
      process.exit(0);
    } catch (err) {
      log.error({ err }, 'cleanup failed');
      exitWithError('cleanup', err);
    }
  }
  const server = await startCleanup({
    settings,
    listPods,
    metrics,
    registry,
    log,
    port: env.FUNC_PORT ?? env.PORT,
    host: env.HOST,
    drainTimeoutMs: env.DRAIN_TIMEOUT_SECONDS * 1000,
  });
  log.info({ port: server.port, ...settings }, 'cleanup listening');
  exitOnSignals({ close: server.close, log });
}
