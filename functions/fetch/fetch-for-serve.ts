import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseEnv, withoutEmpty } from '../../shared/config/parse-env.js';
import { createLogger, redactSecrets } from '../../shared/log/create-logger.js';
import { FetchEnv, fetchSettingsOf } from './fetch-config.js';
import { fetchModel } from './fetch-model.js';
import { createProgress } from './progress.js';

/**
 * `serve` given only `MLFLOW_MODEL_URI` (the replaced runtime's contract: `MODEL_LOCAL_PATH` is optional) with a
 * remote URI: downloads `MLFLOW_MODEL_URI` for the serve role with fetch's own code and settings (`MLFLOW_TRACKING_URI`,
 * `MLFLOW_TRACKING_USERNAME`/`PASSWORD`/`TOKEN`, `STORAGE_STRATEGY`/`CACHE_PATH`, `MAX_RETRIES`, …) into
 * `OUTPUT_PATH` (default: `<tmp>/modelctl-model`, writable under a read-only root filesystem with /tmp mounted).
 * @returns the model folder to serve (`OUTPUT_PATH/model`)
 * @throws Error with one line (credentials redacted) when the configuration is bad or the download fails
 */
export async function fetchForServe(env: Readonly<Record<string, string | undefined>>): Promise<string> {
  const fetchEnv = withoutEmpty({
    OUTPUT_PATH: path.join(tmpdir(), 'modelctl-model'),
    PROGRESS: 'json',
    ...env,
    MODEL_URI: env.MLFLOW_MODEL_URI,
  });
  const config = parseEnv(FetchEnv, fetchEnv);
  const log = createLogger({ name: 'serve', level: config.LOG_LEVEL });
  const progress = createProgress({ mode: config.PROGRESS, log, intervalSeconds: config.PROGRESS_INTERVAL_SECONDS });
  log.info({ uri: redactSecrets(config.MODEL_URI), outputPath: config.OUTPUT_PATH }, 'downloading the model first');
  try {
    const result = await fetchModel({ settings: fetchSettingsOf(config), log, progress });
    log.info({ source: result.source, files: result.files, bytes: result.bytes }, 'model downloaded');
    return result.modelPath;
  } catch (err) {
    throw new Error(redactSecrets(`MLFLOW_MODEL_URI ${config.MODEL_URI}: ${(err as Error).message}`), { cause: err });
  }
}
