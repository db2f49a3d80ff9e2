import { parseEnv } from '../../shared/config/parse-env.js';
import { isAppError } from '../../shared/errors/app-error.js';
import { createLogger, redactSecrets } from '../../shared/log/create-logger.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { FetchEnv, fetchSettingsOf } from './fetch-config.js';
import { fetchModel } from './fetch-model.js';
import { createProgress } from './progress.js';

/**
 * Entry of `modelctl fetch` (the serving pod's init container): parse env (flags laid over it), put the
 * model at OUTPUT_PATH/model, log one result line, and set the exit code (see exit-codes.ts).
 * SIGTERM/SIGINT stop the download; staging folders are left for the next run to remove, never published.
 */
export async function runFetch(overrides: Record<string, string> = {}): Promise<void> {
  const started = Date.now();
  let config: FetchEnv;
  try {
    config = parseEnv(FetchEnv, { ...process.env, ...overrides });
  } catch (err) {
    process.stderr.write(`modelctl fetch: invalid configuration\n${(err as Error).message}\n`);
    process.exitCode = EXIT.config;
    return;
  }
  const log = createLogger({ name: 'fetch', level: config.LOG_LEVEL });
  const progress = createProgress({ mode: config.PROGRESS, log, intervalSeconds: config.PROGRESS_INTERVAL_SECONDS });
  const onSignal = (signal: NodeJS.Signals): void => {
    log.warn({ signal }, 'fetch interrupted');
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const result = await fetchModel({ settings: fetchSettingsOf(config), log, progress });
    log.info(
      { uri: redactSecrets(config.MODEL_URI), strategy: config.STORAGE_STRATEGY, ...result, ms: Date.now() - started },
      'model ready',
    );
    process.exitCode = EXIT.ok;
  } catch (err) {
    const code = exitCodeFor(err);
    const message = err instanceof Error ? err.message : String(err);
    log.error(
      { uri: redactSecrets(config.MODEL_URI), code: isAppError(err) ? err.code : undefined, exitCode: code, err },
      'fetch failed',
    );
    process.stderr.write(`modelctl fetch: ${redactSecrets(message)}\n`);
    process.exitCode = code;
  }
}
