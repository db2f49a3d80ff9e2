import { existsSync, readFileSync } from 'node:fs';
import { isAppError } from '../errors/app-error.js';
import type { Logger } from '../log/create-logger.js';
import { redactSecrets } from '../log/create-logger.js';
import { firstSignal } from './first-signal.js';

/**
 * What every role's index.ts does at its edges, in one place: refuse to start with clear lines, drain on a
 * signal, find the pod's namespace. Only index.ts files call these (STYLE.md: they own env, signals, exit);
 * `proc` is injectable for tests.
 */

/** Prints `modelctl <role>: <line>` for each line of the error's message (secrets scrubbed) and exits 1. */
export function exitWithError(role: string, err: unknown, proc: NodeJS.Process = process): never {
  const message = isAppError(err) || err instanceof Error ? err.message : String(err);
  for (const line of redactSecrets(message).split('\n')) proc.stderr.write(`modelctl ${role}: ${line}\n`);
  return proc.exit(1);
}

/**
 * On the first SIGTERM or SIGINT: log it, await `close()` (a graceful drain), exit 0. `signal`: the first signal
 * when the role listened for it earlier (firstSignal); one received before this call drains now.
 */
export function exitOnSignals(params: {
  close: () => Promise<void>;
  log: Logger;
  proc?: NodeJS.Process;
  signal?: Promise<NodeJS.Signals>;
}): void {
  const proc = params.proc ?? process;
  const shutdown = async (signal: string): Promise<void> => {
    params.log.info({ signal }, 'shutting down');
    await params.close();
    proc.exit(0);
  };
  void (params.signal ?? firstSignal(proc)).then(shutdown);
}

/** Where a pod finds its own namespace (the service account mount). */
const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * The pod's own namespace.
 * @throws Error naming `variable` when running outside a pod, where it must be set
 */
export function podNamespace(variable: string, what: string): string {
  if (existsSync(SERVICE_ACCOUNT_NAMESPACE)) return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
  throw new Error(`${variable}: required outside a pod (${what})`);
}
