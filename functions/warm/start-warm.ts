import {
  startCloudEventFunction,
  type FunctionServerOptions,
} from '../../shared/cloudevents/start-cloud-event-function.js';
import type { RunningServer } from '../../shared/http/start-http-server.js';
import { handleWarmEvent } from './handle-warm-event.js';
import type { WarmDeps } from './warm-deps.js';

/**
 * Serves the warm function: `POST /` takes CloudEvents, `/health/liveness`, `/health/readiness`, `/metrics`.
 * Events are handled one at a time (an update and a ping arriving together must not race on the plan;
 * across replicas the plan's resourceVersion precondition does that job).
 */
export async function startWarm(params: FunctionServerOptions & { deps: WarmDeps }): Promise<RunningServer> {
  const { deps, ...server } = params;
  return startCloudEventFunction({
    ...server,
    role: 'warm',
    handle: async (event, eventLog) => {
      const stop = deps.metrics.duration.startTimer({ type: event.type });
      try {
        const outcome = await handleWarmEvent(deps, event, eventLog);
        const action = 'reply' in outcome ? String((outcome.reply.data as { action?: unknown }).action) : 'none';
        deps.metrics.events.inc({ type: event.type, outcome: action });
        return outcome;
      } catch (err) {
        deps.metrics.events.inc({ type: event.type, outcome: 'refused' });
        throw err;
      } finally {
        stop();
      }
    },
  });
}
