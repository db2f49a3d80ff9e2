import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { parseModelsConfig, type ModelsConfig } from '../../shared/config/models-config.js';
import { ConfigError } from '../../shared/errors/app-error.js';
import { BYTES_PER_GB } from '../../shared/disk/byte-units.js';
import { DiskGuard, type FreeBytes } from '../../shared/disk/disk-guard.js';
import type { HubAccess } from '../../shared/hub/hub-fetch.js';
import type { HubRetryPolicy } from '../../shared/hub/with-hub-retry.js';
import type { Logger } from '../../shared/log/create-logger.js';
import type { AgentMetrics } from './agent-metrics.js';
import type { ModelState } from './model-state.js';
import { runFillPass } from './run-fill-pass.js';
import { targetsFromConfig } from './fill-target.js';

/**
 * `modelctl agent --once`: reads the models config file, takes the models for `gpuType` (all of them when
 * null), downloads them into the cache and returns their states. No cluster involved.
 */
export async function runOnce(params: {
  configFile: string;
  /** `HF_HUB_CACHE`; else `<nodeHostPath>/<cachePath>` of the config */
  cacheDir?: string | undefined;
  stateDir?: string | undefined;
  gpuType: string | null;
  access: HubAccess;
  concurrency: number;
  retry?: HubRetryPolicy | undefined;
  freeBytes?: FreeBytes | undefined;
  metrics?: AgentMetrics | undefined;
  signal?: AbortSignal | undefined;
  log: Logger;
}): Promise<{ cacheDir: string; states: ModelState[] }> {
  const config = await readConfigFile(params.configFile);
  const cacheDir = path.resolve(params.cacheDir ?? path.join(config.nodeHostPath, config.cachePath));
  const stateDir = params.stateDir ?? path.join(path.dirname(cacheDir), '.modelctl-agent');
  const targets = targetsFromConfig(config, params.gpuType === null ? null : [params.gpuType]);
  params.log.info({ cacheDir, gpuType: params.gpuType, models: targets.map((t) => t.repo) }, 'warm pass starting');
  const diskGuard = new DiskGuard({
    dir: cacheDir,
    minFreeBytes: config.minFreeSpaceGB * BYTES_PER_GB,
    ...(params.freeBytes ? { freeBytes: params.freeBytes } : {}),
  });
  await mkdir(cacheDir, { recursive: true });
  const states = await runFillPass(
    {
      access: params.access,
      cacheDir,
      stateDir,
      diskGuard,
      limit: pLimit(params.concurrency),
      retry: params.retry,
      metrics: params.metrics,
      signal: params.signal,
      log: params.log,
    },
    targets,
  );
  return { cacheDir, states };
}

/**
 * Reads and validates a models config file.
 * @throws ConfigError naming the file and each bad field
 */
export async function readConfigFile(file: string): Promise<ModelsConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `${file}: cannot read the models config (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      err,
    );
  }
  try {
    return parseModelsConfig(text);
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`, err);
  }
}
