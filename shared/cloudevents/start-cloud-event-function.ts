import pLimit from 'p-limit';
import type { Registry } from 'prom-client';
import { createHttpApp } from '../http/create-http-app.js';
import { startHttpServer, type RunningServer } from '../http/start-http-server.js';
import type { Logger } from '../log/create-logger.js';
import { mountCloudEventRoute, type CloudEventHandler } from './mount-cloud-event-route.js';

/** Where and how a function's server listens: what warm's and cleanup's callers pass through. */
export interface FunctionServerOptions {
  registry: Registry;
  log: Logger;
  port: number;
  /** @default '0.0.0.0' */
  host?: string | undefined;
  /** @default 30000 */
  drainTimeoutMs?: number | undefined;
}

/**
 * A Knative function's HTTP server: `POST /` takes CloudEvents (one at a time: events of one function never
 * race on what they write), plus `/health/liveness`, `/health/readiness` (503 once draining) and `/metrics`.
 * `close()` on the result drains in-flight events.
 */
export async function startCloudEventFunction(
  params: FunctionServerOptions & {
    /** names the metrics (`modelctl_<role>_http_…`) */
    role: string;
    handle: CloudEventHandler;
  },
): Promise<RunningServer> {
  const { log } = params;
  let draining = false;
  const app = createHttpApp({
    log,
    registry: params.registry,
    role: params.role,
    state: { isReady: () => !draining, isDraining: () => draining },
  });
  const one = pLimit(1);
  mountCloudEventRoute({ app, log, handle: (event, eventLog) => one(() => params.handle(event, eventLog)) });
  return startHttpServer({
    handler: app,
    port: params.port,
    host: params.host ?? '0.0.0.0',
    drainTimeoutMs: params.drainTimeoutMs ?? 30_000,
    onDrainStart: () => {
      draining = true;
    },
    log,
  });
}
