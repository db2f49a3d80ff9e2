import {
  startCloudEventFunction,
  type FunctionServerOptions,
} from '../../shared/cloudevents/start-cloud-event-function.js';
import { AppError } from '../../shared/errors/app-error.js';
import type { RunningServer } from '../../shared/http/start-http-server.js';
import type { ListPods } from '../../shared/k8s/list-pods.js';
import type { Logger } from '../../shared/log/create-logger.js';
import { observeCleanup, type CleanupMetrics } from './cleanup-metrics.js';
import { runCleanup, type CleanupSettings } from './run-cleanup.js';

/** The CloudEvent type cleanup runs on. */
const PING_TYPE = 'dev.knative.sources.ping';
/** The type of the summary it replies with. */
const CLEANUP_COMPLETED_TYPE = 'dev.modelctl.cleanup.completed';

/**
 * Serves the cleanup function: `POST /` takes a PingSource CloudEvent, runs one pass and replies with the
 * summary CloudEvent; other types get 400. Passes never overlap in one process (entry locks guard across pods).
 */
export async function startCleanup(
  params: FunctionServerOptions & { settings: CleanupSettings; listPods: ListPods; metrics: CleanupMetrics },
): Promise<RunningServer> {
  const { settings, listPods, metrics, ...server } = params;
  const pass = { settings, listPods, metrics };
  return startCloudEventFunction({
    ...server,
    role: 'cleanup',
    handle: async (event, eventLog) => {
      if (event.type !== PING_TYPE) {
        throw new AppError({
          code: 'UNSUPPORTED_EVENT_TYPE',
          statusCode: 400,
          message: `event type ${JSON.stringify(event.type)} is not handled: cleanup runs on ${PING_TYPE} (a PingSource)`,
        });
      }
      const summary = await runPass({ ...pass, log: eventLog });
      return {
        reply: {
          type: CLEANUP_COMPLETED_TYPE,
          source: '/modelctl/cleanup',
          subject: settings.cachePath,
          data: summary,
        },
      };
    },
  });
}

/** One pass with its metrics and its summary log line. */
export async function runPass(params: {
  settings: CleanupSettings;
  listPods: ListPods;
  metrics: CleanupMetrics;
  log: Logger;
}): Promise<Awaited<ReturnType<typeof runCleanup>>> {
  const { settings, listPods, metrics, log } = params;
  try {
    const summary = await runCleanup({ settings, listPods, log });
    observeCleanup(metrics, summary);
    log.info({ summary }, summary.dryRun ? 'cleanup dry run' : 'cleanup done');
    return summary;
  } catch (err) {
    metrics.runs.inc({ outcome: 'failed', dry_run: String(settings.dryRun) });
    throw err;
  }
}
