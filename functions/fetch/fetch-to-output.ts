import { rm } from 'node:fs/promises';
import { resolveModelUri } from '../../shared/mlflow/resolve-model-uri.js';
import type { ModelUri } from '../../shared/mlflow/parse-model-uri.js';
import { downloadPlanned, planMlflowDownload } from './download-mlflow-model.js';
import { sum, type FetchContext, type FetchResult } from './fetch-model.js';
import { publishDirectory, stagingName } from './place-output.js';
import { BYTES_PER_GIB } from '../../shared/disk/byte-units.js';

/**
 * `emptydir`: resolves the model, downloads it into a staging folder beside `OUTPUT_PATH/model`, then renames
 * it into place, so `OUTPUT_PATH/model` is never a partial model. A failure removes the staging folder.
 */
export async function fetchToOutput(
  ctx: FetchContext,
  uri: Exclude<ModelUri, { kind: 'local' | 'hf' }>,
): Promise<FetchResult> {
  const client = await ctx.mlflow();
  const resolved = await resolveModelUri(client, uri);
  ctx.log.info({ what: resolved.what, artifactUri: resolved.artifactUri }, 'model resolved');
  const plan = await planMlflowDownload({
    client,
    resolved,
    concurrency: ctx.config.FETCH_CONCURRENCY,
    fileRoots: ctx.config.FETCH_FILE_ARTIFACT_ROOTS,
  });
  const staged = stagingName(ctx.target, 'staging');
  try {
    const files = await downloadPlanned({
      client,
      plan,
      destDir: staged,
      spaceDir: ctx.config.OUTPUT_PATH,
      concurrency: ctx.config.FETCH_CONCURRENCY,
      progress: ctx.progress,
      maxBytes: ctx.config.FETCH_MAX_MODEL_GB * BYTES_PER_GIB,
    });
    await publishDirectory(staged, ctx.target);
    return {
      modelPath: ctx.target,
      realPath: ctx.target,
      source: 'downloaded',
      files: files.length,
      bytes: sum(files),
    };
  } finally {
    await rm(staged, { recursive: true, force: true });
  }
}
